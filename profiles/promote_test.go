package profiles

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

func at(d time.Duration) time.Time { return t0.Add(d) }

func TestAbsorb(t *testing.T) {
	p := learnedSample("read", "write", "execve")
	eacces := uint(13)
	p.AddRule(ActErrno, &eacces, "unlink")
	ev := []Evidence{
		{Name: "day1.jsonl", Started: at(0), Ended: at(time.Hour), Seen: []Observed{
			{Syscall: "writev", First: at(5 * time.Minute), Where: "day1.jsonl:7", Count: 3},
			{Syscall: "fsync", First: at(20 * time.Minute), Where: "day1.jsonl:9", Count: 1},
			{Syscall: "ptrace", First: at(30 * time.Minute), Where: "day1.jsonl:12", Count: 1},
			{Syscall: "unlink", First: at(31 * time.Minute), Where: "day1.jsonl:13", Count: 1},
		}},
		{Name: "day2.jsonl", Started: at(24 * time.Hour), Ended: at(25 * time.Hour), Seen: []Observed{
			{Syscall: "fsync", First: at(24*time.Hour + time.Minute), Where: "day2.jsonl:2", Count: 4},
			{Syscall: "read", First: at(24*time.Hour + 2*time.Minute), Where: "day2.jsonl:3", Count: 1},
		}},
	}
	out, r := Absorb(p, ev, "sysward test", true)
	want := &AbsorbResult{Added: []string{"fsync", "writev"}, Family: []string{"fdatasync", "pwrite64", "pwritev", "pwritev2", "sendfile"},
		Already: []string{"read"}, Dangerous: []string{"ptrace"}, Refused: []string{"unlink"}}
	if !reflect.DeepEqual(r, want) {
		t.Errorf("absorb result %+v, want %+v", r, want)
	}
	st := out.Sysward.Stats["fsync"]
	if !reflect.DeepEqual(st.Sources, []string{SourceComplain}) || !st.FirstSeen.Equal(at(20*time.Minute)) {
		t.Errorf("fsync stats %+v: want source complain, first seen at its earliest occurrence", st)
	}
	if st := out.Sysward.Stats["fdatasync"]; !reflect.DeepEqual(st.Sources, []string{"family:fsync"}) {
		t.Errorf("fdatasync sources %v", st.Sources)
	}
	// learnedSample is not widened: writev is absorbed, and widens in turn.
	if st := out.Sysward.Stats["writev"]; !reflect.DeepEqual(st.Sources, []string{SourceComplain}) {
		t.Errorf("writev sources %v", st.Sources)
	}
	if d := out.Decide(ArchX86_64, "ptrace"); d.Allowed() {
		t.Error("ptrace absorbed")
	}
	if d := out.Decide(ArchX86_64, "unlink"); d.Action != ActErrno || *d.ErrnoRet != 13 {
		t.Errorf("unlink %+v: the explicit rule must stay", d)
	}
	prov := out.Sysward.Provenance
	if n := len(prov); n != 1 || prov[0].Target != "complain" || !prov[0].Started.Equal(at(0)) || !prov[0].Ended.Equal(at(25*time.Hour)) ||
		!strings.Contains(prov[0].Workload, "day1.jsonl, day2.jsonl") {
		t.Errorf("provenance %+v", prov)
	}
	if p.Decide(ArchX86_64, "fsync").Allowed() {
		t.Error("Absorb changed its input")
	}
	data, err := Marshal(out)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Parse("absorbed.json", data); err != nil {
		t.Fatalf("absorbed profile does not load: %v", err)
	}
	if out2, r2 := Absorb(p, ev, "sysward test", false); len(r2.Family) != 0 || out2.Decide(ArchX86_64, "fdatasync").Allowed() {
		t.Errorf("generalize false widened: %+v", r2)
	}
}

func TestPromote(t *testing.T) {
	p := learnedSample("read", "write", "writev", "fsync")
	eperm := uint(1)
	p.AddRule(ActErrno, &eperm, "ptrace")
	rec := func(name string, from, to time.Duration, seen ...Observed) Evidence {
		return Evidence{Name: name, Started: at(from), Ended: at(to), Seen: seen}
	}
	obs := func(sc string, d time.Duration) Observed {
		return Observed{Syscall: sc, First: at(d), Where: "r:1", Count: 1}
	}
	for _, tc := range []struct {
		name   string
		ev     []Evidence
		window time.Duration
		ready  bool
		quiet  time.Duration
		reason string
	}{
		{"quiet record long enough", []Evidence{rec("a", 0, 2*time.Hour)}, time.Hour, true, 2 * time.Hour, "ready: no new syscall for 2h0m0s"},
		{"quiet record too short", []Evidence{rec("a", 0, 30*time.Minute)}, time.Hour, false, 30 * time.Minute, "watched the workload for only 30m0s"},
		{"new syscall late", []Evidence{rec("a", 0, 2*time.Hour, obs("writev", 90*time.Minute))}, time.Hour, false, 30 * time.Minute, "the last new syscall, writev"},
		{"new syscall early", []Evidence{rec("a", 0, 2*time.Hour, obs("writev", 10*time.Minute))}, time.Hour, true, 110 * time.Minute, "ready"},
		{"not in the profile", []Evidence{rec("a", 0, 48*time.Hour, obs("unlink", time.Minute))}, time.Hour, false, 48*time.Hour - time.Minute, "does not allow: unlink"},
		// ptrace is refused by an entry of its own: decided, not uncovered.
		{"refused on purpose", []Evidence{rec("a", 0, 48*time.Hour, obs("ptrace", time.Minute))}, time.Hour, true, 48*time.Hour - time.Minute, "ready"},
		// The gap between records is not watched time.
		{"gap does not count", []Evidence{rec("a", 0, time.Hour, obs("fsync", 50*time.Minute)), rec("b", 10*time.Hour, 10*time.Hour+40*time.Minute)}, time.Hour, false, 50 * time.Minute, "not ready"},
		{"second record completes the window", []Evidence{rec("b", 10*time.Hour, 11*time.Hour), rec("a", 0, time.Hour, obs("fsync", 50*time.Minute))}, time.Hour, true, 70 * time.Minute, "ready"},
		// Overlapping records (two replicas) count once.
		{"overlap counts once", []Evidence{rec("a", 0, time.Hour), rec("b", 30*time.Minute, 90*time.Minute)}, 2 * time.Hour, false, 90 * time.Minute, "only 1h30m0s"},
		// The first occurrence across records decides: fsync was new in a,
		// not again in b.
		{"first occurrence across records", []Evidence{rec("a", 0, time.Hour, obs("fsync", 5*time.Minute)), rec("b", time.Hour, 3*time.Hour, obs("fsync", 2*time.Hour))}, 2 * time.Hour, true, 175 * time.Minute, "ready"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Promote(p, tc.ev, tc.window)
			if err != nil {
				t.Fatal(err)
			}
			if r.Ready != tc.ready || r.Quiet != tc.quiet || !strings.Contains(r.Reason, tc.reason) {
				t.Errorf("ready %v quiet %s reason %q; want ready %v quiet %s reason containing %q", r.Ready, r.Quiet, r.Reason, tc.ready, tc.quiet, tc.reason)
			}
		})
	}
	if _, err := Promote(p, []Evidence{rec("a", 0, time.Hour)}, 0); !errors.Is(err, ErrNoWindow) {
		t.Errorf("zero window: %v", err)
	}
	if _, err := Promote(p, nil, time.Hour); err == nil {
		t.Error("no evidence accepted")
	}
	if _, err := Promote(p, []Evidence{rec("a", time.Hour, 0)}, time.Hour); err == nil || !strings.Contains(err.Error(), "a: ends") {
		t.Errorf("reversed span: %v", err)
	}
}
