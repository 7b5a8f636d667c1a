package profiler

import (
	"testing"

	"github.com/sysward/sysward/profiles"
)

// TestExpectedSet: a call the profile answers ENOSYS (clone3, so that glibc
// falls back to clone) is expected, not a deviation; one refused with
// another errno, killed, or answered ENOSYS only under a condition is not.
func TestExpectedSet(t *testing.T) {
	p := profiles.New(profiles.ActErrno, profiles.ArchX86_64)
	p.Allow("read", "clone")
	enosys, eperm := uint(38), uint(1)
	p.AddRule(profiles.ActErrno, &enosys, "clone3")
	p.AddRule(profiles.ActErrno, &eperm, "mkdir")
	p.AddRule(profiles.ActKillProcess, nil, "ptrace")
	s, err := ExpectedSet(p)
	if err != nil {
		t.Fatal(err)
	}
	allowed, err := AllowedSet(p)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]bool{"read": true, "clone": true, "clone3": true, "mkdir": false, "ptrace": false, "write": false} {
		nr, _ := profiles.SyscallNumber(profiles.ArchX86_64, name)
		if got := s.Has(profiles.ArchX86_64, nr); got != want {
			t.Errorf("ExpectedSet has %s = %v, want %v", name, got, want)
		}
		if name == "clone3" && allowed.Has(profiles.ArchX86_64, nr) {
			t.Error("AllowedSet has clone3: an ENOSYS answer does not let it run")
		}
	}
}
