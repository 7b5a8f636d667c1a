package profiler

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/sysward/sysward/internal/testutil"
)

// containerWork is the container's workload during learning and enforcement.
var containerWork = []string{"sh", "-c", "echo hello >/tmp/f && cat /tmp/f && ls / >/dev/null && echo done"}

func allowAll() *specs.LinuxSeccomp {
	return &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Architectures: []specs.Arch{specs.ArchX86_64}}
}

func withSeccomp(sc *specs.LinuxSeccomp) func(*specs.Spec) {
	return func(s *specs.Spec) { s.Linux.Seccomp = sc }
}

// learnContainer creates a runc container, learns it with --container from
// before `runc start` until it exits, and returns the session's result.
// opts, if given, edit the session's options.
func learnContainer(t *testing.T, bundle string, opts ...func(*LearnOptions)) *Result {
	t.Helper()
	id := testutil.ContainerID(t)
	logf, err := os.Create(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	create := exec.Command("runc", "create", "--bundle", bundle, id)
	create.Stdout, create.Stderr = logf, logf
	if err := create.Run(); err != nil {
		out, _ := os.ReadFile(logf.Name())
		t.Fatalf("runc create: %v: %s", err, out)
	}
	defer exec.Command("runc", "delete", "--force", id).Run() //nolint:errcheck

	type out struct {
		res *Result
		err error
	}
	done := make(chan out, 1)
	tracking := make(chan struct{})
	go func() {
		lo := &LearnOptions{
			Duration: 60 * time.Second,
			Tracking: func(uint64, string) { close(tracking) },
		}
		for _, o := range opts {
			o(lo)
		}
		res, err := Learn(context.Background(), Target{Container: id[:len(id)-2]}, lo) // a unique prefix
		done <- out{res, err}
	}()
	select {
	case <-tracking:
	case o := <-done:
		t.Fatalf("Learn ended before tracking: %v", o.err)
	}
	if b, err := exec.Command("runc", "start", id).CombinedOutput(); err != nil {
		t.Fatalf("runc start: %v: %s", err, b)
	}
	o := <-done
	if o.err != nil {
		t.Fatalf("Learn --container: %v", o.err)
	}
	if o.res.Stop != StopCgroupEmpty {
		t.Errorf("stop %q, want %q", o.res.Stop, StopCgroupEmpty)
	}
	if b, _ := os.ReadFile(logf.Name()); !strings.Contains(string(b), "hello\ndone") {
		t.Errorf("container output during learning: %q", b)
	}
	return o.res
}

// TestRuncRoundTrip learns a busybox container under an allow-all profile,
// then runs it under the learned profile.
func TestRuncRoundTrip(t *testing.T) {
	requireBPF(t)
	testutil.Require(t, testutil.Runc)

	res := learnContainer(t, testutil.BusyboxBundle(t, containerWork, withSeccomp(allowAll())))
	if len(res.Warnings) > 0 {
		t.Errorf("warnings: %v", res.Warnings)
	}
	got := names(res.Profile)
	t.Logf("learned %d syscalls: %v", len(got), res.Profile.Names())
	// The workload's own calls, and runc 1.1.5's after its seccomp() call.
	for _, w := range []string{"execve", "fstatfs", "openat", "write", "getdents64", "wait4", "exit_group"} {
		if !got[w] {
			t.Errorf("profile lacks %s", w)
		}
	}
	// runc's setup before the filter is installed.
	for _, w := range []string{"mount", "umount2", "pivot_root", "sethostname", "unshare", "setns", "seccomp", "chroot", "mknodat"} {
		if got[w] {
			t.Errorf("profile holds runc's pre-filter setup syscall %s", w)
		}
	}
	if p := res.Profile.Sysward.Provenance[0]; p.Target != "container" || !strings.HasPrefix(p.Workload, "sw-") {
		t.Errorf("provenance %+v", p)
	}

	learned := res.Profile.LinuxSeccomp
	// Enforced: the same workload runs, with no EPERM.
	out, code := testutil.RunRunc(t, testutil.BusyboxBundle(t, containerWork, withSeccomp(&learned)), testutil.ContainerID(t))
	if code != 0 || !strings.Contains(out, "hello\ndone") || strings.Contains(out, "not permitted") {
		t.Fatalf("under the learned profile: exit %d, output %q", code, out)
	}
	// A syscall never made while learning (mkfifo: mknodat) is refused,
	// though the same command succeeds under the allow-all profile.
	fifo := []string{"mkfifo", "/tmp/p"}
	if out, code := testutil.RunRunc(t, testutil.BusyboxBundle(t, fifo, withSeccomp(allowAll())), testutil.ContainerID(t)); code != 0 {
		t.Fatalf("mkfifo under allow-all: exit %d: %s", code, out)
	}
	out, code = testutil.RunRunc(t, testutil.BusyboxBundle(t, fifo, withSeccomp(&learned)), testutil.ContainerID(t))
	if code == 0 || !strings.Contains(out, "Operation not permitted") {
		t.Errorf("mkfifo under the learned profile: exit %d, output %q, want EPERM", code, out)
	}
}

func TestResolveContainerErrors(t *testing.T) {
	dir := t.TempDir()
	for _, id := range []string{"abc1", "abc2", "xyz"} {
		if err := os.MkdirAll(filepath.Join(dir, id), 0o755); err != nil {
			t.Fatal(err)
		}
		// init pid 1 exists on every host.
		if err := os.WriteFile(filepath.Join(dir, id, "state.json"), []byte(`{"init_process_pid": 1, "config": {"seccomp": null}}`), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name, id string
		want     error
	}{
		{"unknown", "nope", ErrUnknownTarget},
		{"ambiguous prefix", "abc", ErrAmbiguous},
		{"empty", "", ErrUnknownTarget},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ResolveContainer(tc.id, []string{dir})
			if !errors.Is(err, tc.want) {
				t.Errorf("ResolveContainer(%q) = %v, want %v", tc.id, err, tc.want)
			}
		})
	}
	testutil.Require(t, testutil.Cgroup2)
	c, err := ResolveContainer("xy", []string{dir})
	if err != nil {
		t.Fatal(err)
	}
	if c.ID != "xyz" || c.InitPID != 1 || c.Seccomp || c.Runtime != "runc" {
		t.Errorf("resolved %+v", c)
	}
}
