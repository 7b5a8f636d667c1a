package audit

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/sysward/sysward/detector"
)

// TestCorrelator (pure logic: the audit record is the exec record of the
// replay data, the syscall events are built as watch builds them): an exec
// into shop/web-7d4b9 followed by a ptrace outside the profile in that pod
// raises one alert naming alice, the pod, the full command and ptrace; the
// same call again, a call in the profile, a call in another pod, a call
// before the exec or after the window raise nothing.
func TestCorrelator(t *testing.T) {
	data, err := os.ReadFile("testdata/replay/crafted.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	var alerts []*detector.Alert
	c := &Correlator{Window: time.Minute, Hostname: "node-1", Sink: detector.AlertFunc(func(a *detector.Alert) { alerts = append(alerts, a) })}
	lines := bytes.Split(data, []byte("\n"))
	for _, l := range lines[:2] { // the exec: ResponseStarted, ResponseComplete
		ev, err := DecodeEvent(bytes.Clone(l))
		if err != nil {
			t.Fatal(err)
		}
		c.Audit(&ev)
	}
	execAt := time.Date(2026, 12, 2, 10, 0, 0, 10_000_000, time.UTC)
	sys := func(pod, call string, after time.Duration, inProfile bool) *detector.Event {
		ev := &detector.Event{Type: call, Time: execAt.Add(after), InProfile: inProfile, Profile: "web.json",
			Proc: detector.ProcInfo{Name: "cat", Cmdline: "cat /etc/shadow"}, K8s: detector.K8sInfo{Namespace: "shop", Pod: pod},
			Container: detector.ContainerInfo{ID: "3f2a9c"}}
		ev.Normalize()
		return ev
	}
	c.Syscall(sys("web-7d4b9", "ptrace", -time.Second, false)) // before the exec
	c.Syscall(sys("web-7d4b9", "read", 2*time.Second, true))   // in the profile
	c.Syscall(sys("db-0", "ptrace", 2*time.Second, false))     // another pod
	c.Syscall(sys("web-7d4b9", "ptrace", 3*time.Second, false))
	c.Syscall(sys("web-7d4b9", "ptrace", 4*time.Second, false)) // the same call again
	c.Syscall(sys("web-7d4b9", "mount", 2*time.Minute, false))  // after the window
	if len(alerts) != 1 {
		t.Fatalf("%d alerts: %v", len(alerts), alerts)
	}
	a := alerts[0]
	want := "Syscall outside profile after exec into pod (user=alice pod=shop/web-7d4b9 action=exec command=sh -c cat /etc/shadow syscall=ptrace allowed (not enforced) process=cat cmdline=cat /etc/shadow container_id=3f2a9c seconds_after_access=3.0)"
	if a.Output != want || a.Rule != CorrelationRule || a.Priority != detector.PriorityCritical {
		t.Errorf("alert %s [%s] %s\nwant %s", a.Rule, a.Priority, a.Output, want)
	}
	if a.OutputFields["ka.user.name"] != "alice" || a.OutputFields["evt.type"] != "ptrace" || a.OutputFields["ka.uri.param[container]"] != "web" {
		t.Errorf("fields %v", a.OutputFields)
	}
	if j := string(a.AppendJSON(nil)); !strings.Contains(j, `"rule":"Syscall outside profile after interactive access to pod"`) {
		t.Errorf("json %s", j)
	}
}

// TestCorrelatorBounded: at most MaxPods accesses are kept, the oldest go.
func TestCorrelatorBounded(t *testing.T) {
	c := &Correlator{MaxPods: 3, Sink: detector.AlertFunc(func(*detector.Alert) {})}
	data, _ := os.ReadFile("testdata/replay/crafted.jsonl")
	line := bytes.SplitN(data, []byte("\n"), 2)[0]
	for i := range 10 {
		ev, err := DecodeEvent(bytes.Replace(line, []byte("web-7d4b9"), []byte("pod-"+string(rune('a'+i))), -1))
		if err != nil {
			t.Fatal(err)
		}
		ev.Time = ev.Time.Add(time.Duration(i) * time.Second)
		c.Audit(&ev)
	}
	if len(c.pods) != 3 || c.pods[podRef{"shop", "pod-j"}] == nil || c.pods[podRef{"shop", "pod-a"}] != nil {
		t.Errorf("kept %v", c.pods)
	}
	// A pod's calls outside its profile are kept once per system call,
	// at most maxRecentPerPod.
	for i := range 1000 {
		ev := &detector.Event{Type: fmt.Sprintf("call%d", i%200), Time: time.Unix(int64(i), 0), K8s: detector.K8sInfo{Namespace: "shop", Pod: "pod-j"}}
		c.Syscall(ev)
	}
	if n := len(c.pods[podRef{"shop", "pod-j"}].recent); n != maxRecentPerPod {
		t.Errorf("%d calls kept for one pod, want %d", n, maxRecentPerPod)
	}
}

// TestCorrelatorAuditLate: the order the apiserver's webhook delivers in.
// The exec'd command's call outside the profile reaches the correlator
// before the exec's audit record (the webhook batches for up to 30 s, the
// kernel's event comes at once): the alert is raised when the record
// arrives, once (the same record delivered again raises nothing); a call
// made before the exec request and one in another pod are not.
func TestCorrelatorAuditLate(t *testing.T) {
	data, err := os.ReadFile("testdata/replay/crafted.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	var alerts []*detector.Alert
	c := &Correlator{Window: time.Minute, Sink: detector.AlertFunc(func(a *detector.Alert) { alerts = append(alerts, a) })}
	requestAt := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	sys := func(pod, call string, after time.Duration) *detector.Event {
		ev := &detector.Event{Type: call, Time: requestAt.Add(after), Profile: "web.json", Denied: true,
			Proc: detector.ProcInfo{Name: "cat"}, K8s: detector.K8sInfo{Namespace: "shop", Pod: pod}}
		ev.Normalize()
		return ev
	}
	c.Syscall(sys("web-7d4b9", "mount", -time.Second))        // before the exec request
	c.Syscall(sys("web-7d4b9", "ptrace", 5*time.Millisecond)) // by the exec'd command, before its stream was recorded
	c.Syscall(sys("db-0", "ptrace", 5*time.Millisecond))      // another pod
	for _, l := range bytes.Split(data, []byte("\n"))[:2] {   // the exec, delivered late
		ev, err := DecodeEvent(bytes.Clone(l))
		if err != nil {
			t.Fatal(err)
		}
		c.Audit(&ev)
	}
	if len(alerts) != 1 {
		t.Fatalf("%d alerts when the exec's record arrived, want 1: %v", len(alerts), alerts)
	}
	c.Syscall(sys("web-7d4b9", "ptrace", 2*time.Second))    // again
	for _, l := range bytes.Split(data, []byte("\n"))[:1] { // the same record again (log and webhook both given)
		ev, err := DecodeEvent(bytes.Clone(l))
		if err != nil {
			t.Fatal(err)
		}
		c.Audit(&ev)
	}
	if len(alerts) != 1 {
		t.Fatalf("%d alerts: %v", len(alerts), alerts)
	}
	a := alerts[0]
	if a.OutputFields["evt.type"] != "ptrace" || a.OutputFields["k8s.pod.name"] != "web-7d4b9" || a.OutputFields["ka.user.name"] != "alice" ||
		a.OutputFields["sysward.denied"] != true || !strings.Contains(a.Output, "denied by seccomp") || c.Raised() != 1 {
		t.Errorf("alert %s %v", a.Output, a.OutputFields)
	}
}
