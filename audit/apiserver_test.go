package audit

import (
	"context"
	"crypto/x509/pkix"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sysward/sysward/detector"
	"github.com/sysward/sysward/internal/kubetest"
)

// collector runs the rules on every event it is given and keeps the alerts
// and the (auditID, stage) of each record.
type collector struct {
	mu     sync.Mutex
	eng    *detector.Engine
	alerts []*detector.Alert
	seen   map[string]int  // (auditID/stage) of kubernetes-admin's records: the test's kubectl
	names  map[string]bool // objects named in a record
}

func newCollector(t testing.TB) *collector {
	t.Helper()
	c := &collector{seen: map[string]int{}, names: map[string]bool{}}
	rs, err := detector.LoadRules(falcoRules)
	if err != nil {
		t.Fatal(err)
	}
	c.eng, err = detector.NewEngine(rs, &detector.EngineOptions{Matching: detector.MatchAll, Sink: detector.AlertFunc(func(a *detector.Alert) {
		c.alerts = append(c.alerts, a)
	})})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (c *collector) process(ev *detector.Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := ev.Audit.Event
	if r.User.Username == "kubernetes-admin" {
		c.seen[string(r.AuditID)+"/"+string(r.Stage)]++
	}
	if r.ObjectRef != nil {
		c.names[r.ObjectRef.Name] = true
	}
	c.eng.Process(ev)
}

// alert returns the first alert of rule whose output contains want.
func (c *collector) alert(rule, want string) *detector.Alert {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, a := range c.alerts {
		if a.Rule == rule && strings.Contains(a.Output, want) {
			return a
		}
	}
	return nil
}

func (c *collector) keys() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := make(map[string]int, len(c.seen))
	for k, v := range c.seen {
		m[k] = v
	}
	return m
}

func waitUntil(t *testing.T, what string, timeout time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

const testObjects = `apiVersion: v1
kind: Pod
metadata: {name: priv-%[1]s, namespace: default}
spec:
  containers:
  - name: c
    image: docker.io/library/busybox:1.36
    securityContext: {privileged: true}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: creds-%[1]s, namespace: default}
data:
  config: |
    [default]
    aws_access_key_id = AKIAIOSFODNN7EXAMPLE
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: wild-%[1]s}
rules:
- apiGroups: [""]
  resources: ["*"]
  verbs: ["get"]
`

// TestAPIServerWebhookAndLog runs a real kube-apiserver + etcd with
// deploy/audit/audit-policy.yaml, its webhook backend pointed at sysward's
// Webhook (mutual TLS) and its log backend at a file that Follow reads.
// kubectl creates a privileged pod, a configmap holding an AWS key and a
// ClusterRole with a wildcard: Falco's rules raise their alerts with the
// right fields from the webhook's records. Then the log is rotated both
// ways (the apiserver's own rename + create at --audit-log-maxsize, and a
// copytruncate) while more records are written: the follower sees every
// record of the webhook exactly once.
func TestAPIServerWebhookAndLog(t *testing.T) {
	api := kubetest.NewAPIServer(t)
	srvCert, srvKey, err := api.Issue("audit-webhook", pkix.Name{CommonName: "sysward-audit"}, true)
	if err != nil {
		t.Fatal(err)
	}
	cliCert, cliKey, err := api.Issue("audit-client", pkix.Name{CommonName: "kube-apiserver-audit"}, false)
	if err != nil {
		t.Fatal(err)
	}
	wh, err := NewWebhook(WebhookOptions{CertFile: srvCert, KeyFile: srvKey, ClientCAFile: api.CA})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go wh.Serve(ctx, ln)
	web := newCollector(t)
	go func() {
		for {
			b, ok := wh.Next(ctx)
			if !ok {
				return
			}
			for i := range b {
				web.process(&b[i])
			}
		}
	}()

	kc := filepath.Join(api.Dir, "audit-webhook.kubeconfig")
	if err := os.WriteFile(kc, []byte(fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: sysward, cluster: {server: "https://%s/k8s-audit", certificate-authority: %q}}]
users: [{name: apiserver, user: {client-certificate: %q, client-key: %q}}]
contexts: [{name: sysward, context: {cluster: sysward, user: apiserver}}]
current-context: sysward
`, ln.Addr(), api.CA, cliCert, cliKey)), 0o600); err != nil {
		t.Fatal(err)
	}
	policy, err := filepath.Abs("../deploy/audit/audit-policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(api.Dir, "log", "audit.log")
	api.Start(
		"--audit-policy-file="+policy,
		"--audit-webhook-config-file="+kc,
		"--audit-webhook-batch-max-wait=100ms",
		"--audit-log-path="+logPath,
		"--audit-log-maxsize=1", // MB: the apiserver renames the file and creates a new one
		"--audit-log-maxbackup=10",
	)

	file := newCollector(t)
	var fst FollowStats
	followDone := make(chan error, 1)
	go func() {
		followDone <- Follow(ctx, logPath, &FollowOptions{FromStart: true, Poll: 50 * time.Millisecond}, &fst, func(line []byte) {
			ev, err := DecodeEvent(append([]byte(nil), line...))
			if err != nil {
				t.Errorf("audit log line: %v: %.200s", err, line)
				return
			}
			file.process(&ev)
		})
	}()

	id := fmt.Sprintf("%d", time.Now().UnixNano()%1e9)
	if out, err := api.Kubectl(fmt.Sprintf(testObjects, id), "create", "-f", "-"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, w := range []struct{ rule, want string }{
		{"Create Privileged Pod", "pod=priv-" + id + " "},
		{"Create/Modify Configmap With Private Credentials", "configmap=creds-" + id},
		{"ClusterRole With Wildcard Created", "role=wild-" + id + " "},
	} {
		waitUntil(t, "alert "+w.rule, 30*time.Second, func() bool { return web.alert(w.rule, w.want) != nil })
		a := web.alert(w.rule, w.want)
		t.Logf("%s: %s", a.Rule, a.Output)
		if a.Source != detector.SourceK8sAudit || a.OutputFields["ka.user.name"] != "kubernetes-admin" {
			t.Errorf("%s: source %q user %v", a.Rule, a.Source, a.OutputFields["ka.user.name"])
		}
	}
	a := web.alert("Create Privileged Pod", "pod=priv-"+id)
	if got := a.OutputFields["ka.req.pod.containers.image"]; fmt.Sprint(got) != "[docker.io/library/busybox:1.36]" {
		t.Errorf("images %v", got)
	}
	if a.OutputFields["ka.target.namespace"] != "default" || a.OutputFields["ka.resp.name"] != "priv-"+id {
		t.Errorf("privileged pod alert fields %v", a.OutputFields)
	}
	a = web.alert("ClusterRole With Wildcard Created", "role=wild-"+id)
	if rules := fmt.Sprint(a.OutputFields["ka.req.role.rules"]); !strings.Contains(rules, `"resources":["*"]`) {
		t.Errorf("rules %s", rules)
	}
	// kubectl's three objects raise these and nothing else: Falco's
	// activity rules (consider_activity_events is true by default) report
	// the configmap and the ClusterRole too.
	want := map[string]bool{
		"Create Privileged Pod priv-" + id:                             true,
		"Create/Modify Configmap With Private Credentials creds-" + id: true,
		"K8s ConfigMap Created creds-" + id:                            true,
		"ClusterRole With Wildcard Created wild-" + id:                 true,
		"K8s ClusterRole Created wild-" + id:                           true,
	}
	time.Sleep(300 * time.Millisecond) // a batch still on its way would show below
	web.mu.Lock()
	got := map[string]bool{}
	for _, a := range web.alerts {
		if a.OutputFields["ka.user.name"] != "kubernetes-admin" {
			continue // the apiserver's own bootstrap: its RBAC roles and bindings (activity rules)
		}
		var name string
		for _, f := range []string{"ka.resp.name", "ka.req.configmap.name", "ka.target.name"} {
			if n, ok := a.OutputFields[f].(string); ok {
				name = n
			}
		}
		k := a.Rule + " " + name
		if got[k] {
			t.Errorf("alert twice: %s", k)
		}
		got[k] = true
		if !want[k] {
			t.Errorf("unexpected alert %s: %s", a.Rule, a.Output)
		}
	}
	web.mu.Unlock()
	for k := range want {
		if !got[k] {
			t.Errorf("missing alert %s", k)
		}
	}

	// The log backend: the apiserver rotates at 1 MB; make ~1.5 MB of
	// records (configmaps are logged at Request level), with a
	// copytruncate in the middle.
	big := strings.Repeat("x", 250<<10)
	mk := func(i int) {
		cm := fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: big-%s-%d, namespace: default}\ndata: {blob: %s}\n", id, i, big)
		if out, err := api.Kubectl(cm, "create", "-f", "-"); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
	}
	for i := range 3 {
		mk(i)
	}
	waitUntil(t, "the follower to read the first configmaps", 30*time.Second, func() bool { return file.has(fmt.Sprintf("big-%s-2", id)) })
	if err := copyTruncate(logPath); err != nil {
		t.Fatal(err)
	}
	for i := 3; i < 8; i++ {
		mk(i)
	}
	waitUntil(t, "both backends to see the last configmap", 30*time.Second, func() bool {
		return file.has(fmt.Sprintf("big-%s-7", id)) && web.has(fmt.Sprintf("big-%s-7", id))
	})
	time.Sleep(500 * time.Millisecond) // records after the last one: compared below only if both saw them
	cancel()
	if err := <-followDone; err != nil {
		t.Fatal(err)
	}
	t.Logf("follower: %d lines, %d rotations, %d truncations", fst.Lines.Load(), fst.Rotations.Load(), fst.Truncated.Load())
	if fst.Rotations.Load() == 0 || fst.Truncated.Load() == 0 {
		t.Errorf("rotations %d, truncations %d: want both", fst.Rotations.Load(), fst.Truncated.Load())
	}
	wk, fk := web.keys(), file.keys()
	for k, n := range fk {
		if n != 1 {
			t.Errorf("log record %s read %d times", k, n)
		}
	}
	missing := 0
	for k := range wk {
		if _, ok := fk[k]; !ok {
			missing++
			if missing < 5 {
				t.Errorf("record %s reached the webhook but was not read from the log", k)
			}
		}
	}
	t.Logf("webhook %d records, log %d records, %d missing from the log; webhook stats %+v", len(wk), len(fk), missing, wh.Stats())
}

// has reports a record about object name.
func (c *collector) has(name string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.names[name]
}

// copyTruncate does what logrotate's copytruncate does.
func copyTruncate(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := os.WriteFile(path+".copy", b, 0o600); err != nil {
		return err
	}
	return os.Truncate(path, 0)
}
