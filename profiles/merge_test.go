package profiles

import (
	"bytes"
	"errors"
	"math/rand"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// randomProfile builds a valid profile from r: a few arches, entries with
// random actions, errnoRets and argument conditions (no conflicting
// unconditional duplicates), provenance and stats. All share the default
// action so they can be merged.
func randomProfile(r *rand.Rand) *Profile {
	p := New(ActErrno)
	arches := KnownArches()
	for _, a := range arches {
		if r.Intn(3) == 0 {
			p.AddArch(a)
		}
	}
	// Names from a small pool so that profiles overlap and conflict.
	pool := []string{"read", "write", "openat", "close", "ptrace", "mount", "clone", "personality", "socket", "kill", "futex", "execve", "getpid", "exit_group"}
	actions := []Action{ActAllow, ActAllow, ActAllow, ActLog, ActErrno, ActKillProcess, ActTrap}
	decided := map[string]bool{}
	n := r.Intn(6)
	for i := 0; i < n; i++ {
		s := specs.LinuxSyscall{Action: actions[r.Intn(len(actions))]}
		if s.Action == ActErrno && r.Intn(2) == 0 {
			e := uint(r.Intn(3) + 1)
			s.ErrnoRet = &e
		}
		if r.Intn(4) == 0 {
			s.Args = []specs.LinuxSeccompArg{{Index: uint(r.Intn(2)), Value: uint64(r.Intn(3)), Op: specs.OpEqualTo}}
		}
		for k := r.Intn(4) + 1; k > 0; k-- {
			name := pool[r.Intn(len(pool))]
			key := name + "\x00" + argsKey(s.Args)
			if decided[key] {
				continue
			}
			decided[key] = true
			s.Names = append(s.Names, name)
		}
		if len(s.Names) > 0 {
			p.Syscalls = append(p.Syscalls, s)
		}
	}
	if r.Intn(3) > 0 {
		m := &Metadata{Stats: map[string]SyscallStats{}}
		base := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
		for k := r.Intn(3); k >= 0; k-- {
			m.Provenance = append(m.Provenance, Provenance{Tool: "sysward test", Host: []string{"a", "b", "c"}[r.Intn(3)],
				Target: "command", Workload: "w", Started: base.Add(time.Duration(r.Intn(4)) * time.Hour)})
		}
		for _, name := range p.Names() {
			if r.Intn(2) == 0 {
				m.Stats[name] = SyscallStats{FirstSeen: base.Add(time.Duration(r.Intn(100)) * time.Second),
					Arches: []Arch{arches[r.Intn(len(arches))]}, Sessions: r.Intn(3) + 1}
			}
		}
		p.Sysward = m
	}
	return p
}

func mustMarshal(t *testing.T, p *Profile) []byte {
	t.Helper()
	b, err := Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestMergeProperties checks, over random profiles from a fixed seed, that
// Merge is commutative and idempotent, that its result is valid and allows
// at least everything each input allows, and that it round-trips.
func TestMergeProperties(t *testing.T) {
	r := rand.New(rand.NewSource(20261125))
	for i := 0; i < 500; i++ {
		a, b := randomProfile(r), randomProfile(r)
		if err := a.Validate(); err != nil {
			t.Fatalf("generator made an invalid profile: %v", err)
		}
		ab, err := Merge(a, b)
		if err != nil {
			t.Fatal(err)
		}
		ba, err := Merge(b, a)
		if err != nil {
			t.Fatal(err)
		}
		if x, y := mustMarshal(t, ab), mustMarshal(t, ba); !bytes.Equal(x, y) {
			t.Fatalf("case %d: Merge(a,b) != Merge(b,a)\na: %s\nb: %s\nab: %s\nba: %s", i, mustMarshal(t, a), mustMarshal(t, b), x, y)
		}
		aa, err := Merge(a, a)
		if err != nil {
			t.Fatal(err)
		}
		if x, y := mustMarshal(t, aa), mustMarshal(t, a); !bytes.Equal(x, y) {
			t.Fatalf("case %d: Merge(a,a) != a\na: %s\naa: %s", i, y, x)
		}
		if err := ab.Validate(); err != nil {
			t.Fatalf("case %d: merged profile invalid: %v\n%s", i, err, mustMarshal(t, ab))
		}
		for _, arch := range []Arch{ArchX86_64, ArchAARCH64} {
			got := map[string]bool{}
			for _, n := range ab.AllowedSyscalls(arch) {
				got[n] = true
			}
			for _, in := range []*Profile{a, b} {
				for _, n := range in.AllowedSyscalls(arch) {
					if !got[n] {
						t.Fatalf("case %d: %s allowed by an input on %s but not by the merge", i, n, arch)
					}
				}
			}
		}
		// Merging with the merge adds nothing (absorption).
		if x, y := mustMarshal(t, mustMerge(t, ab, a)), mustMarshal(t, ab); !bytes.Equal(x, y) {
			t.Fatalf("case %d: Merge(Merge(a,b), a) != Merge(a,b)", i)
		}
		if _, err := Parse("merged.json", mustMarshal(t, ab)); err != nil {
			t.Fatalf("case %d: merged profile does not load: %v", i, err)
		}
	}
}

func mustMerge(t *testing.T, ps ...*Profile) *Profile {
	t.Helper()
	m, err := Merge(ps...)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestMergeStats(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	mk := func(host string, first time.Time, arch Arch) *Profile {
		p := New(ActErrno, arch)
		p.Allow("read")
		p.Sysward = &Metadata{Provenance: []Provenance{{Host: host, Started: t0}},
			Stats: map[string]SyscallStats{"read": {FirstSeen: first, Arches: []Arch{arch}, Sessions: 1}}}
		return p
	}
	a := mk("a", t0.Add(time.Minute), ArchX86_64)
	b := mk("b", t0, ArchAARCH64)
	m := mustMerge(t, a, b)
	st := m.Sysward.Stats["read"]
	if st.Sessions != 2 || !st.FirstSeen.Equal(t0) || len(st.Arches) != 2 || len(m.Sysward.Provenance) != 2 {
		t.Errorf("disjoint sessions: %+v, provenance %d", st, len(m.Sysward.Provenance))
	}
	// Re-merging a replica already included does not count it twice.
	if st := mustMerge(t, m, b).Sysward.Stats["read"]; st.Sessions != 2 {
		t.Errorf("re-merge counted a session twice: %d", st.Sessions)
	}
}

func TestMergeIncompatible(t *testing.T) {
	_, err := Merge(New(ActErrno), New(ActKillProcess))
	if !errors.Is(err, ErrIncompatible) {
		t.Fatalf("err = %v", err)
	}
}

func TestMergeMostPermissiveWins(t *testing.T) {
	a, b := New(ActErrno), New(ActErrno)
	a.AddRule(ActKillProcess, nil, "ptrace")
	b.Allow("ptrace")
	m := mustMerge(t, a, b)
	if d := m.Decide(ArchX86_64, "ptrace"); d.Action != ActAllow {
		t.Errorf("ptrace: %s, want ALLOW", d.Action)
	}
}
