package watch

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/sysward/sysward/audit"
	"github.com/sysward/sysward/detector"
	"github.com/sysward/sysward/detector/metrics"
	"github.com/sysward/sysward/detector/output"
	"github.com/sysward/sysward/enforcer"
	"github.com/sysward/sysward/internal/testutil"
)

// podOf is the pod of one container, as internal/kube's resolver would
// say (the resolver against a real API is in test/e2e).
type podOf struct{ id, ns, pod string }

func (p podOf) Enrich(id string, ev *detector.Event) bool {
	if id != p.id {
		return false
	}
	ev.K8s.Namespace, ev.K8s.Pod = p.ns, p.pod
	return true
}

// microTime is metav1.MicroTime's format.
const microTime = "2006-01-02T15:04:05.000000Z07:00"

// execRecord is the apiserver's ResponseStarted record of `kubectl exec`
// into ns/pod, requested at at.
func execRecord(id, ns, pod string, at time.Time) string {
	uri := fmt.Sprintf("/api/v1/namespaces/%s/pods/%s/exec?command=sh&command=-c&command=sync&container=app&stdout=true", ns, pod)
	return fmt.Sprintf(`{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"%s","stage":"ResponseStarted","requestURI":%q,"verb":"create","user":{"username":"alice","groups":["system:authenticated"]},"sourceIPs":["10.0.3.7"],"objectRef":{"resource":"pods","namespace":%q,"name":%q,"apiVersion":"v1","subresource":"exec"},"responseStatus":{"metadata":{},"code":101},"requestReceivedTimestamp":%q,"stageTimestamp":%q}`+"\n",
		id, uri, ns, pod, at.UTC().Format(microTime), at.Add(10*time.Millisecond).UTC().Format(microTime))
}

// TestNodeAuditLogCorrelation is `watch --all-containers --audit-log`
// through the package API: a real runc container held to an installed
// profile makes a call the profile refuses; the exec's audit record is
// appended to the followed log afterwards (as the apiserver's batching
// delivers it). One correlated alert names alice, the pod, the command and
// the call; the same record again, and an exec into another pod, raise
// nothing more; the record also went through the k8s_audit rules. The log
// then replaced by a FIFO stops the follower with an internal alert.
func TestNodeAuditLogCorrelation(t *testing.T) {
	requireWatch(t)
	testutil.Require(t, testutil.Runc)
	root, profDir := t.TempDir(), t.TempDir()
	p := allowAllBut("sync")
	inst, err := enforcer.Install(p, enforcer.InstallOptions{Root: profDir, Namespace: "shop", Name: "web"})
	if err != nil {
		t.Fatal(err)
	}
	sc, err := enforcer.OCISeccomp(p)
	if err != nil {
		t.Fatal(err)
	}
	a := startRunc(t, root, gatedScript("sync"), func(s *specs.Spec) { s.Linux.Seccomp = sc })

	logPath := filepath.Join(t.TempDir(), "audit.log")
	if err := os.WriteFile(logPath, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	comm := filepath.Base(os.Args[0])
	if len(comm) > 15 {
		comm = comm[:15]
	}
	local := filepath.Join(t.TempDir(), "test_rules.yaml")
	if err := writeFile(local, fmt.Sprintf("- list: sysward_entrypoint_parents\n  items: [%q]\n  append: true\n", comm)); err != nil {
		t.Fatal(err)
	}
	// sysward's rules, Falco's k8s_audit rules: what --rules gives the agent.
	base, err := LoadRules(false, local, "../../audit/testdata/falco/k8s_audit_rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	out := &lines{}
	var sum strings.Builder
	met := metrics.New(&metrics.Options{NoRuntimeCollectors: true})
	cfg := Config{Rules: base, Format: output.FormatJSON, Stdout: out, Stderr: &sum, DedupWindow: -1, Pods: podOf{a.id, "shop", "web-7d4b9"}, Metrics: met}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	nodes := make(chan *Node, 1)
	done := make(chan error, 1)
	go func() {
		_, err := NodeSession(ctx, cfg, NodeOptions{Roots: []string{root}, ProfilesDir: profDir,
			Audit: &AuditInput{LogPath: logPath, Window: time.Minute}}, func(n *Node) { nodes <- n })
		done <- err
	}()
	var node *Node
	select {
	case node = <-nodes:
	case err := <-done:
		t.Fatalf("node session: %v", err)
	}
	if c := nodeContainer(node, a.id); c == nil || c.Profile != inst.Path {
		t.Fatalf("container %+v, want it held to %s", c, inst.Path)
	}
	execAt := time.Now()
	a.trigger(t)
	const denied, corr = "Syscall outside profile denied", "Syscall outside profile after interactive access to pod"
	if !waitFor(10*time.Second, func() bool { return len(detailed(out.alerts(t), denied)) > 0 }) {
		t.Fatalf("no denied alert: %+v", out.alerts(t))
	}
	f, err := os.OpenFile(logPath, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rec := execRecord("6a1d3c2e-0000-4000-8000-000000000001", "shop", "web-7d4b9", execAt)
	f.WriteString(rec)
	if !waitFor(10*time.Second, func() bool { return len(detailed(out.alerts(t), corr)) > 0 }) {
		cancel()
		<-done
		t.Fatalf("no correlated alert: %+v\nsummary: %s", out.alerts(t), sum.String())
	}
	f.WriteString(rec) // again
	f.WriteString(execRecord("6a1d3c2e-0000-4000-8000-000000000002", "shop", "db-0", execAt))
	if !waitFor(10*time.Second, func() bool { return len(detailed(out.alerts(t), "Attach/Exec Pod")) >= 3 }) {
		t.Fatalf("the records did not all go through the k8s_audit rules: %+v", out.alerts(t))
	}
	for name, want := range map[string]float64{"sysward_audit_correlated_alerts_total": 1, "sysward_audit_log_records_total": 3, "sysward_audit_log_bad_lines_total": 0} {
		if got := counter(t, met, name); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	// The log replaced by a FIFO (what someone able to write there
	// could do): the follower refuses it, stops, and says so in an
	// internal alert; the agent keeps running and stops cleanly.
	f.Close()
	if err := os.Rename(logPath, logPath+".1"); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(logPath, 0o600); err != nil {
		t.Fatal(err)
	}
	if !waitFor(10*time.Second, func() bool { return len(detailed(out.alerts(t), AuditStoppedRule)) > 0 }) {
		t.Fatalf("no %q alert: %+v", AuditStoppedRule, out.alerts(t))
	}
	if st := detailed(out.alerts(t), AuditStoppedRule)[0]; !strings.Contains(st.Output, "Audit input log "+logPath+" stopped") || !strings.Contains(st.Output, "not a regular file") {
		t.Errorf("stopped alert %s", st.Output)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("node session: %v", err)
	}
	cs := detailed(out.alerts(t), corr)
	if len(cs) != 1 {
		t.Fatalf("correlated alerts %+v, want exactly one", cs)
	}
	c := cs[0]
	if c.Priority != "Critical" || c.field("ka.user.name") != "alice" || c.field("k8s.ns.name") != "shop" || c.field("k8s.pod.name") != "web-7d4b9" ||
		c.field("ka.uri.param[command]") != "sh -c sync" || c.field("evt.type") != "sync" || c.field("sysward.denied") != "true" ||
		c.field("container.id") != a.id || c.field("sysward.profile") != inst.Path {
		t.Errorf("correlated alert %s", c.Output)
	}
	if !strings.Contains(sum.String(), "1 correlated") || !strings.Contains(sum.String(), "log 3 records, 0 not audit records") {
		t.Errorf("summary:\n%s", sum.String())
	}
	t.Logf("%s\nsummary: %s", c.Output, sum.String())
}

func counter(t *testing.T, met *metrics.Metrics, name string) float64 {
	t.Helper()
	mfs, err := met.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatalf("no counter %s", name)
	return 0
}

// BenchmarkCorrelate is what the node agent's audit correlation adds to
// each event outside a profile: the engine with sysward's rules alone (the
// baseline), then engine + Correlator.Syscall over 1000 pods, without any
// access recorded (the normal run) and with an access into every pod (each
// call correlated once, then found already raised).
func BenchmarkCorrelate(b *testing.B) {
	rs, err := LoadRules(false)
	if err != nil {
		b.Fatal(err)
	}
	eng, err := detector.NewEngine(rs, &detector.EngineOptions{Sink: detector.AlertFunc(func(*detector.Alert) {})})
	if err != nil {
		b.Fatal(err)
	}
	const pods = 1000
	evs := make([]detector.Event, pods)
	for i := range evs {
		evs[i] = detector.Event{Type: "ptrace", Time: time.Now(), Workload: "shop/deployment/web", Profile: "web.json", Mode: ModeEnforce, Denied: true,
			Proc: detector.ProcInfo{Name: "cat", Cmdline: "cat /etc/shadow"}, K8s: detector.K8sInfo{Namespace: "shop", Pod: fmt.Sprintf("web-%d", i)}}
		evs[i].Normalize()
	}
	var base float64
	b.Run("engine", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			eng.Process(&evs[i%pods])
		}
		base = float64(b.Elapsed().Nanoseconds()) / float64(b.N)
	})
	for _, withAccess := range []bool{false, true} {
		name := "engine+correlator/no-access"
		if withAccess {
			name = "engine+correlator/access-every-pod"
		}
		b.Run(name, func(b *testing.B) {
			c := &audit.Correlator{Window: time.Hour, Sink: detector.AlertFunc(func(*detector.Alert) {})}
			if withAccess {
				for i := range pods {
					ev, err := audit.DecodeEvent([]byte(execRecord(fmt.Sprintf("id-%d", i), "shop", fmt.Sprintf("web-%d", i), time.Now().Add(-time.Minute))))
					if err != nil {
						b.Fatal(err)
					}
					c.Audit(&ev)
				}
			}
			for i := 0; b.Loop(); i++ {
				ev := &evs[i%pods]
				eng.Process(ev)
				c.Syscall(ev)
			}
			if ns := float64(b.Elapsed().Nanoseconds()) / float64(b.N); base > 0 {
				b.ReportMetric(ns/base, "x_engine")
			}
		})
	}
}
