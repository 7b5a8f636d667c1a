package e2e

import (
	"bufio"
	"crypto/x509/pkix"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sysward/sysward/internal/kubetest"
	"github.com/sysward/sysward/internal/testutil"
)

// TestAgentAuditCorrelation runs the node agent (sysward watch
// --all-containers) on a real node whose kube-apiserver sends its audit
// records (deploy/audit's policy) to the agent's webhook (--audit-listen,
// mutual TLS). `kubectl exec` into a pod under a Localhost profile runs a
// command the profile refuses: the agent raises exactly one correlated
// alert naming the Kubernetes user, the pod, the exec'd command and the
// system call. A pod making the same refused call without any exec into it
// raises its "denied" alerts but no correlated one.
func TestAgentAuditCorrelation(t *testing.T) {
	testutil.Require(t, nodeRequirements()...)
	dir := t.TempDir()
	bin := filepath.Join(dir, "sysward")
	build := exec.Command("go", "build", "-o", bin, "./cmd/sysward")
	build.Dir = repo
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building sysward: %v\n%s", err, out)
	}

	// The webhook's PKI and kubeconfig, made before the apiserver starts.
	ca, err := kubetest.NewTestCA(filepath.Join(dir, "pki"))
	if err != nil {
		t.Fatal(err)
	}
	srvCert, srvKey, err := ca.Issue("audit-webhook", pkix.Name{CommonName: "sysward-audit"}, true)
	if err != nil {
		t.Fatal(err)
	}
	cliCert, cliKey, err := ca.Issue("audit-client", pkix.Name{CommonName: "kube-apiserver-audit"}, false)
	if err != nil {
		t.Fatal(err)
	}
	port, err := kubetest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	listen := fmt.Sprintf("127.0.0.1:%d", port)
	kc := filepath.Join(dir, "audit-webhook.kubeconfig")
	if err := os.WriteFile(kc, []byte(fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: sysward, cluster: {server: "https://%s/k8s-audit", certificate-authority: %q}}]
users: [{name: apiserver, user: {client-certificate: %q, client-key: %q}}]
contexts: [{name: sysward, context: {cluster: sysward, user: apiserver}}]
current-context: sysward
`, listen, ca.CA, cliCert, cliKey)), 0o600); err != nil {
		t.Fatal(err)
	}
	policy, err := filepath.Abs(filepath.Join(repo, "deploy/audit/audit-policy.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	c := kubetest.StartWith(t, kubetest.Node, kubetest.Options{APIServerArgs: []string{
		"--audit-policy-file=" + policy, "--audit-webhook-config-file=" + kc,
		// The default batching (30 s) is what the correlator is built
		// for; a short wait keeps the test short.
		"--audit-webhook-batch-max-wait=1s", "--audit-webhook-initial-backoff=1s",
	}})
	t.Cleanup(func() { os.RemoveAll(filepath.Join(kubetest.SeccompRoot, "sysward")) })

	// One profile refusing mkdir, installed the way users do.
	profile := filepath.Join(dir, "web.json")
	os.WriteFile(profile, []byte(`{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86_64"],"syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO","errnoRet":1}]}`), 0o644)
	out, err := exec.Command(bin, "profile", "install", "--root", kubetest.SeccompRoot, "--name", "e2e-corr/web", "--format", "json", profile).Output()
	if err != nil {
		t.Fatalf("profile install: %v", err)
	}
	var inst struct{ LocalhostProfile, Path string }
	if err := json.Unmarshal(out, &inst); err != nil {
		t.Fatalf("profile install output %q: %v", out, err)
	}

	// The agent, on the host, with Falco's k8s_audit rules.
	stdout, stderr := filepath.Join(dir, "agent.out"), filepath.Join(dir, "agent.err")
	so, _ := os.Create(stdout)
	se, _ := os.Create(stderr)
	agent := exec.Command(bin, "watch", "--all-containers", "--profiles-dir", kubetest.SeccompRoot,
		"--kubeconfig", c.Kubeconfig, "--node-name", c.NodeName, "--format", "json",
		"--rules", filepath.Join(repo, "audit/testdata/falco/k8s_audit_rules.yaml"),
		"--audit-listen", listen, "--audit-cert", srvCert, "--audit-key", srvKey, "--audit-client-ca", ca.CA)
	agent.Stdout, agent.Stderr = so, se
	agent.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := agent.Start(); err != nil {
		t.Fatal(err)
	}
	agentDone := make(chan error, 1)
	go func() { agentDone <- agent.Wait() }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		agent.Process.Signal(syscall.SIGTERM)
		select {
		case <-agentDone:
		case <-time.After(20 * time.Second):
			agent.Process.Kill()
			<-agentDone
			t.Errorf("agent did not stop on SIGTERM")
		}
	}
	t.Cleanup(stop)
	agentLog := func() string {
		b, _ := os.ReadFile(stderr)
		return string(b)
	}
	poll(t, "the agent's pod informer", 60*time.Second, func() bool { return strings.Contains(agentLog(), "pod informer synced") })

	if _, err := c.KubectlIn(fmt.Sprintf(corrWorkloads, kubetest.BusyboxImage, inst.LocalhostProfile, kubetest.BusyboxImage, inst.LocalhostProfile), "apply", "-f", "-"); err != nil {
		t.Fatal(err)
	}
	if out, err := c.Kubectl("-n", "e2e-corr", "wait", "--for=condition=Ready", "pod", "--all", "--timeout=120s"); err != nil {
		desc, _ := c.Kubectl("-n", "e2e-corr", "describe", "pods")
		t.Fatalf("%s %v\n%s", out, err, desc)
	}
	webID := containerID(t, c, "e2e-corr", "app=web")
	otherID := containerID(t, c, "e2e-corr", "app=other")
	poll(t, "the agent to track both pods under their profile", 30*time.Second, func() bool {
		l := agentLog()
		return strings.Contains(l, "container="+webID) && strings.Contains(l, "container="+otherID) && strings.Count(l, "profile="+inst.Path+" mode=enforce") >= 2
	})
	readAlerts := func() []alert {
		b, _ := os.ReadFile(stdout)
		var as []alert
		sc := bufio.NewScanner(strings.NewReader(string(b)))
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var a alert
			if err := json.Unmarshal(sc.Bytes(), &a); err != nil {
				t.Errorf("agent stdout line is not JSON: %q: %v", sc.Text(), err)
				continue
			}
			a.raw = sc.Text()
			as = append(as, a)
		}
		return as
	}
	// The other pod's refused calls are seen (and alerted on) without
	// any exec into it.
	poll(t, "the other pod's denied alert", 30*time.Second, func() bool {
		for _, a := range readAlerts() {
			if a.OutputFields["k8s.pod.name"] == "other" && a.Rule == "Syscall outside profile denied" {
				return true
			}
		}
		return false
	})

	if out, err := c.Kubectl("-n", "e2e-corr", "exec", "web", "-c", "web", "--", "mkdir", "/tmp/made"); err == nil || !strings.Contains(err.Error(), "Operation not permitted") {
		t.Errorf("exec mkdir in web: %q %v, want it refused", out, err)
	}
	const rule = "Syscall outside profile after interactive access to pod"
	correlated := func() (n []alert) {
		for _, a := range readAlerts() {
			if a.Rule == rule {
				n = append(n, a)
			}
		}
		return n
	}
	poll(t, "the correlated alert", 60*time.Second, func() bool { return len(correlated()) > 0 })
	// Another batch of audit records and a few more refused calls of the
	// other pod, then the agent stops (its outputs flushed).
	time.Sleep(3 * time.Second)
	stop()
	got := correlated()
	all := readAlerts()
	if len(got) != 1 {
		t.Fatalf("%d correlated alerts, want 1:\n%s\nagent stderr:\n%s", len(got), rawAlerts(all), agentLog())
	}
	a := got[0]
	f := a.OutputFields
	if a.Priority != "Critical" || f["ka.user.name"] != "kubernetes-admin" || f["k8s.ns.name"] != "e2e-corr" || f["k8s.pod.name"] != "web" ||
		f["ka.uri.param[command]"] != "mkdir /tmp/made" || f["ka.target.subresource"] != "exec" || f["ka.uri.param[container]"] != "web" ||
		!strings.HasPrefix(fmt.Sprint(f["evt.type"]), "mkdir") || f["sysward.denied"] != true ||
		f["container.id"] != webID[:12] || f["sysward.profile"] != inst.Path || f["ka.auditid"] == "" {
		t.Errorf("correlated alert %s", a.raw)
	}
	// The audit records went through the rules too: Falco's own alert
	// for the exec.
	execAlert := false
	for _, a := range all {
		execAlert = execAlert || a.Rule == "Attach/Exec Pod" && a.OutputFields["ka.target.name"] == "web" && a.OutputFields["ka.user.name"] == "kubernetes-admin"
	}
	if !execAlert {
		t.Errorf("no \"Attach/Exec Pod\" alert from Falco's k8s_audit rules for the exec:\n%s", rawAlerts(all))
	}
	if !strings.Contains(agentLog(), "1 correlated") {
		t.Errorf("agent summary does not count the correlated alert:\n%s", agentLog())
	}
	t.Logf("correlated alert: %s", a.raw)
	t.Logf("all alerts:\n%s", rawAlerts(all))
}

func rawAlerts(as []alert) string {
	var b strings.Builder
	for _, a := range as {
		b.WriteString(a.raw + "\n")
	}
	return b.String()
}

// corrWorkloads: web sleeps; other makes the refused call every second on
// its own. Both under the same Localhost profile.
const corrWorkloads = `apiVersion: v1
kind: Namespace
metadata: {name: e2e-corr}
---
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: e2e-corr, labels: {app: web}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: web
    image: %s
    imagePullPolicy: Never
    command: ["sleep", "3600"]
    securityContext:
      seccompProfile: {type: Localhost, localhostProfile: %s}
---
apiVersion: v1
kind: Pod
metadata: {name: other, namespace: e2e-corr, labels: {app: other}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: other
    image: %s
    imagePullPolicy: Never
    command: ["sh", "-c", "while :; do mkdir /tmp/x 2>/dev/null; sleep 1; done"]
    securityContext:
      seccompProfile: {type: Localhost, localhostProfile: %s}
`
