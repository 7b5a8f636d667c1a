package profiler

import (
	"context"
	"testing"

	"github.com/sysward/sysward/internal/testutil"
	"github.com/sysward/sysward/profiles"
)

func requireBPF(t testing.TB) {
	t.Helper()
	testutil.Require(t, testutil.Root, testutil.BTF, testutil.Cgroup2)
}

func names(p *profiles.Profile) map[string]bool {
	m := map[string]bool{}
	for _, n := range p.Names() {
		m[n] = true
	}
	return m
}

func learnCmd(t *testing.T, args ...string) *Result {
	t.Helper()
	res, err := Learn(context.Background(), Target{Command: args}, nil)
	if err != nil {
		t.Fatalf("Learn %v: %v", args, err)
	}
	return res
}

func TestLearnLs(t *testing.T) {
	requireBPF(t)
	res := learnCmd(t, "ls", "/")
	got := names(res.Profile)
	for _, want := range []string{"getdents64", "execve", "exit_group"} {
		if !got[want] {
			t.Errorf("profile lacks %s; has %v", want, res.Profile.Names())
		}
	}
	t.Logf("%d syscalls: %v", len(got), res.Profile.Names())
}
