package profiler

import (
	"context"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sysward/sysward/profiles"
)

// TestCoverageSaturation: a session cut while new syscalls still appeared
// warns; one quiet for long enough, or a command that ran to its end, does
// not. The counts come from the profile's sources.
func TestCoverageSaturation(t *testing.T) {
	start := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	prof := func(lastNew time.Duration) *profiles.Profile {
		p := profiles.New(profiles.ActErrno, profiles.ArchX86_64)
		p.Allow("read", "write")
		p.Sysward = &profiles.Metadata{Stats: map[string]profiles.SyscallStats{
			"read":  {FirstSeen: start.Add(time.Second), Sessions: 1, Sources: []string{profiles.SourceTraced}},
			"write": {FirstSeen: start.Add(lastNew), Sessions: 1, Sources: []string{profiles.SourceTraced}},
		}}
		profiles.WidenFamilies(p, []string{"read", "write"})
		return p
	}
	prov := profiles.Provenance{Started: start, Ended: start.Add(10 * time.Minute)}
	for _, tc := range []struct {
		name      string
		lastNew   time.Duration
		stop      StopReason
		saturated bool
	}{
		{"new call 1m before the end of 10m", 9 * time.Minute, StopDuration, false},
		{"quiet for 5m of 10m", 5 * time.Minute, StopDuration, true},
		{"interrupted right after a new call", 10 * time.Minute, StopInterrupted, false},
		{"command ran to its end", 10 * time.Minute, StopCommandExited, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := coverage(&Result{Profile: prof(tc.lastNew), Stop: tc.stop}, prov)
			if c.Saturated != tc.saturated || (c.Warning != "") == tc.saturated {
				t.Errorf("saturated %v warning %q, want saturated %v", c.Saturated, c.Warning, tc.saturated)
			}
			if c.SinceLastNew != 10*time.Minute-tc.lastNew || c.Session != 10*time.Minute {
				t.Errorf("since last new %s of %s", c.SinceLastNew, c.Session)
			}
			if c.BySource[profiles.KindTraced] != 2 || c.BySource[profiles.KindFamily] < 8 {
				t.Errorf("by source %v", c.BySource)
			}
		})
	}
}

// TestLearnGeneralize learns ls with the real profiler: by default the
// traced calls' families and the baseline are added, each with its source;
// with --generalize none --baseline none the profile is exactly the trace.
func TestLearnGeneralize(t *testing.T) {
	requireBPF(t)
	res := learnCmd(t, "ls", "/")
	st := res.Profile.Sysward.Stats
	if !reflect.DeepEqual(st["write"].Sources, []string{profiles.SourceTraced}) {
		t.Errorf("write sources %v", st["write"].Sources)
	}
	if src := st["writev"].Sources; !containsStr(src, "family:write") {
		t.Errorf("writev sources %v, want family:write", src)
	}
	if src := st["gettid"].Sources; !reflect.DeepEqual(src, []string{profiles.SourceBaseline}) {
		t.Errorf("gettid sources %v, want baseline", src)
	}
	if len(res.FamilyAdded) == 0 || len(res.BaselineAdded) == 0 {
		t.Errorf("family added %v, baseline added %v", res.FamilyAdded, res.BaselineAdded)
	}
	c := res.Coverage
	if !c.Saturated || c.BySource[profiles.KindTraced] == 0 || c.BySource[profiles.KindFamily] != len(res.FamilyAdded) || c.BySource[profiles.KindBaseline] != len(res.BaselineAdded) {
		t.Errorf("coverage %+v (family added %d, baseline added %d)", c, len(res.FamilyAdded), len(res.BaselineAdded))
	}
	for n, s := range st {
		if len(s.Sources) == 0 {
			t.Errorf("%s has no source", n)
		}
	}

	res, err := Learn(context.Background(), Target{Command: []string{"ls", "/"}}, &LearnOptions{Generalize: profiles.GeneralizeNone, Baseline: profiles.BaselineNone})
	if err != nil {
		t.Fatal(err)
	}
	want := res.Seen.Names(profiles.ArchX86_64)
	if got := res.Profile.Names(); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("ungeneralized profile %v, want the trace %v", got, want)
	}
	if _, err := Learn(context.Background(), Target{Command: []string{"true"}}, &LearnOptions{Generalize: "siblings"}); err == nil {
		t.Error("Generalize \"siblings\" accepted")
	}
}

func containsStr(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// TestLearnGenerations learns ls (glibc, dynamic) for real: with static
// hints reading it, openat widens to openat2 but not to the legacy open and
// creat, which glibc 2.36 never makes for it; without static hints (nothing
// says which libc the calls go through) to every member.
func TestLearnGenerations(t *testing.T) {
	requireBPF(t)
	res, err := Learn(context.Background(), Target{Command: []string{"ls", "/"}}, &LearnOptions{Static: StaticHints})
	if err != nil {
		t.Fatal(err)
	}
	if res.Static == nil || res.Static.LegacyLibc || len(res.Static.Binaries) == 0 {
		t.Fatalf("static report %+v: want ls read, a known libc", res.Static)
	}
	if !res.Seen.Has(profiles.ArchX86_64, 257) { // openat
		t.Fatalf("ls made no openat: %v", res.Seen.Names(profiles.ArchX86_64))
	}
	st := res.Profile.Sysward.Stats
	// Families widened, within their generation, the calls no import of
	// ls explains (the dynamic loader's), and the others only to what a
	// library static hints do not read can reach.
	for _, n := range res.FamilyAdded {
		for _, src := range st[n].Sources {
			seed, ok := strings.CutPrefix(src, profiles.SourceFamilyPrefix)
			if !ok {
				continue
			}
			_, explained := slices.BinarySearch(res.Static.Explained, seed)
			if _, lib := slices.BinarySearch(res.Static.LibraryReach, n); explained && !lib {
				t.Errorf("%s added from %s, which an import of ls explains, and no library of ls reaches it", n, seed)
			}
			if profiles.LegacyMember(n) != profiles.LegacyMember(seed) {
				t.Errorf("%s added from %s: across generations", n, seed)
			}
		}
	}
	for _, n := range []string{"open", "creat", "time"} {
		if _, ok := st[n]; ok || res.Profile.Decide(profiles.ArchX86_64, n).Action == profiles.ActAllow {
			t.Errorf("%s allowed (sources %v): a legacy form glibc never makes for ls", n, st[n].Sources)
		}
	}

	res, err = Learn(context.Background(), Target{Command: []string{"ls", "/"}}, &LearnOptions{Static: StaticOff})
	if err != nil {
		t.Fatal(err)
	}
	if !containsStr(res.FamilyAdded, "open") || !containsStr(res.FamilyAdded, "creat") {
		t.Errorf("static off: family added %v, want every member of open's family", res.FamilyAdded)
	}
}

// TestExplainedRule: with static hints over a known libc, a traced call an
// import explains widens only to siblings a library static hints do not
// read can reach; an unexplained call to every member; without static
// hints, or with an unknown libc, no rule.
func TestExplainedRule(t *testing.T) {
	traced := []string{"mmap", "pread64", "write"}
	st := &StaticReport{
		Binaries:     []StaticBinary{{Path: "/usr/bin/x"}},
		Explained:    []string{"close", "write", "writev"},
		LibraryReach: []string{"sendfile"},
	}
	gen := &profiles.WidenOptions{Generations: true}
	if explainedRule(st, &profiles.WidenOptions{}) != nil || explainedRule(nil, gen) != nil {
		t.Error("a rule without static hints or with an unknown libc")
	}
	p := profiles.New(profiles.ActErrno, profiles.ArchX86_64)
	p.Allow(traced...)
	seen := &SyscallSet{}
	for _, n := range traced {
		nr, _ := profiles.SyscallNumber(profiles.ArchX86_64, n)
		seen.Add(profiles.ArchX86_64, nr)
	}
	res := &Result{Profile: p, Seen: seen, Static: st}
	generalize(res, &LearnOptions{}, profiles.Provenance{})
	for _, w := range []string{"preadv", "readv", "mremap", "sendfile"} {
		if !containsStr(res.FamilyAdded, w) {
			t.Errorf("family added %v lacks %s", res.FamilyAdded, w)
		}
	}
	for _, n := range []string{"writev", "pwrite64", "pwritev"} {
		if containsStr(res.FamilyAdded, n) {
			t.Errorf("family added %s (%v): write is explained and no unread library reaches it", n, res.FamilyAdded)
		}
	}
}
