package audit

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sysward/sysward/detector"
)

var update = flag.Bool("update", false, "rewrite testdata/replay.golden")

// replay runs Falco's k8saudit rules on every record of the files and
// returns, per record ("file:line"), the alerts as "rule [priority] output".
func replay(t *testing.T, files ...string) map[string][]string {
	t.Helper()
	rs, err := detector.LoadRules(falcoRules)
	if err != nil {
		t.Fatal(err)
	}
	var cur string
	out := map[string][]string{}
	eng, err := detector.NewEngine(rs, &detector.EngineOptions{Matching: detector.MatchAll, Hostname: "test", Sink: detector.AlertFunc(func(a *detector.Alert) {
		out[cur] = append(out[cur], fmt.Sprintf("%s [%s] %s", a.Rule, a.Priority, a.Output))
	})})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(bytes.NewReader(data))
		sc.Buffer(nil, 1<<20)
		for n := 1; sc.Scan(); n++ {
			cur = fmt.Sprintf("%s:%d", filepath.Base(f), n)
			ev, err := DecodeEvent(bytes.Clone(sc.Bytes()))
			if err != nil {
				t.Fatalf("%s: %v", cur, err)
			}
			out[cur] = out[cur][:0:0]
			eng.Process(&ev)
		}
	}
	return out
}

// TestReplay replays real records (kubectl against a real apiserver:
// kubectl_real.jsonl) and records written as the apiserver writes them
// (crafted.jsonl: exec, attach, port-forward, kubectl debug, a host
// namespaces pod with a sensitive mount, a NodePort service, a binding to
// cluster-admin, an anonymous request, a secret read) through Falco's
// rules: each raises the alert Falco documents for it, with its fields;
// benign.jsonl raises nothing. The whole output is kept in
// testdata/replay.golden (go test -run TestReplay -update).
func TestReplay(t *testing.T) {
	files, _ := filepath.Glob("testdata/replay/*.jsonl")
	got := replay(t, files...)
	for _, c := range []struct{ rec, rule, output string }{
		{"kubectl_real.jsonl:1", "Create Privileged Pod", "user=kubernetes-admin pod=priv-real resource=pods ns=default images=docker.io/library/busybox:1.36 "},
		{"kubectl_real.jsonl:2", "Create/Modify Configmap With Private Credentials", "(user=kubernetes-admin verb=create resource=configmaps configmap=creds-real)"},
		{"kubectl_real.jsonl:3", "ClusterRole With Wildcard Created", `(user=kubernetes-admin role=wild-real resource=clusterroles rules={"apiGroups":[""],"resources":["*"],"verbs":["get"]})`},
		{"crafted.jsonl:1", "Attach/Exec Pod", "(user=alice pod=web-7d4b9 resource=pods ns=shop action=exec command=sh)"},
		{"crafted.jsonl:3", "Attach/Exec Pod", "(user=alice pod=web-7d4b9 resource=pods ns=shop action=attach command=<NA>)"},
		{"crafted.jsonl:4", "port-forward", "(user=alice pod=db-0 ns=shop action=portforward )"},
		{"crafted.jsonl:5", "EphemeralContainers Created", "ephemeral_container_name=debugger-x2k ephemeral_container_image=docker.io/library/busybox:1.36)"},
		{"crafted.jsonl:6", "Create Sensitive Mount Pod", `pod=sniffer ns=shop resource=pods images=docker.io/nicolaka/netshoot:v0.13 volumes=[{"hostPath":{"path":"/etc","type":""},"name":"etc"},{"emptyDir":{},"name":"tmp"}])`},
		{"crafted.jsonl:6", "Create HostNetwork Pod", "(user=alice pod=sniffer resource=pods ns=shop images=docker.io/nicolaka/netshoot:v0.13)"},
		{"crafted.jsonl:6", "Create HostPid Pod", "(user=alice pod=sniffer resource=pods ns=shop images=docker.io/nicolaka/netshoot:v0.13)"},
		{"crafted.jsonl:7", "Create NodePort Service", `ports=[{"nodePort":30080,"port":80,"targetPort":8080}])`},
		{"crafted.jsonl:8", "Attach to cluster-admin Role", `(user=alice subject={"apiGroup":"rbac.authorization.k8s.io","kind":"User","name":"alice"})`},
		{"crafted.jsonl:9", "Anonymous Request Allowed", "(user=system:anonymous verb=list uri=/api/v1/namespaces/kube-system/configmaps reason=RBAC: allowed by ClusterRoleBinding"},
		{"crafted.jsonl:10", "K8s Secret Get Successfully", "(user=alice secret=db-password ns=shop"},
	} {
		found := false
		for _, a := range got[c.rec] {
			if strings.HasPrefix(a, c.rule+" [") && strings.Contains(a, c.output) {
				found = true
			}
		}
		if !found {
			t.Errorf("%s: no %q alert with %q; got:\n  %s", c.rec, c.rule, c.output, strings.Join(got[c.rec], "\n  "))
		}
	}
	// The exec's ResponseComplete record is not a second exec alert
	// (Falco's rule reads the ResponseStarted stage only).
	for _, a := range got["crafted.jsonl:2"] {
		if strings.HasPrefix(a, "Attach/Exec Pod") {
			t.Errorf("exec alerted twice: %s", a)
		}
	}
	for rec, as := range got {
		if strings.HasPrefix(rec, "benign.jsonl") && len(as) > 0 {
			t.Errorf("%s raised %q", rec, as)
		}
	}

	var b strings.Builder
	keys := make([]string, 0, len(got))
	for k := range got {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		for _, a := range got[k] {
			fmt.Fprintf(&b, "%s: %s\n", k, a)
		}
	}
	const golden = "testdata/replay.golden"
	if *update {
		if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if string(want) != b.String() {
		t.Errorf("alerts differ from %s (go test -run TestReplay -update, then review the diff):\n%s", golden, b.String())
	}
}
