package audit

import (
	"bytes"
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
	if len(c.access) != 3 || c.access[podRef{"shop", "pod-j"}] == nil || c.access[podRef{"shop", "pod-a"}] != nil {
		t.Errorf("kept %v", c.access)
	}
}
