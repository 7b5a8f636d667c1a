package profiler

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/sysward/sysward/internal/cgroups"
	"github.com/sysward/sysward/profiles"
)

// runPendingChild: "filtered" calls sysinfo, installs an allow-all seccomp
// filter on its thread, then calls getcpu: a pending cgroup records only
// what runs under a filter (the runtime boundary).
func runPendingChild(mode string) int {
	if mode != "filtered" {
		return -1
	}
	runtime.LockOSThread()
	unix.RawSyscall(nr("sysinfo"), 0, 0, 0)
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return 3
	}
	allow := []unix.SockFilter{{Code: unix.BPF_RET | unix.BPF_K, K: unix.SECCOMP_RET_ALLOW}}
	prog := unix.SockFprog{Len: 1, Filter: &allow[0]}
	if _, _, e := unix.RawSyscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, 0, uintptr(unsafe.Pointer(&prog))); e != 0 {
		return 4
	}
	unix.RawSyscall(nr("getcpu"), 0, 0, 0)
	return 0
}

// nextNewCgroup reads new-cgroup notices until the one of id (other tests
// on the host create cgroups too).
func nextNewCgroup(t *testing.T, p *Profiler, id uint64) NewCgroup {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		n, err := p.ReadNewCgroup(ctx)
		if err != nil {
			t.Fatalf("waiting for the notice of cgroup %d: %v", id, err)
		}
		if n.ID == id {
			return n
		}
	}
}

// TestHoldNewCgroup: with HoldNewCgroups, a cgroup is held from its mkdir,
// before user space knows it: the notice names it, its first exec is an
// event, the calls its task makes under a seccomp filter are recorded, and
// Adopt hands all of it over to the tracked state and releases the hold.
func TestHoldNewCgroup(t *testing.T) {
	requireBPF(t)
	p, err := Load(&Options{Watch: true, HoldNewCgroups: true})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()

	dir, err := newLearnCgroup()
	if err != nil {
		t.Fatal(err)
	}
	defer removeCgroup(dir, 5*time.Second) //nolint:errcheck // best effort
	id, err := cgroups.ID(dir)
	if err != nil {
		t.Fatal(err)
	}
	mnt, _ := cgroups.Mountpoint()
	n := nextNewCgroup(t, p, id)
	if want := "/" + strings.TrimPrefix(strings.TrimPrefix(dir, mnt), "/"); n.Path != want {
		t.Errorf("notice path %q, want %q", n.Path, want)
	}
	held, err := p.Pending()
	if err != nil {
		t.Fatal(err)
	}
	if st := held[id]; st == nil || st.Mode != ModePending {
		t.Fatalf("pending %v: cgroup %d not held", held, id)
	}
	ids, err := p.PendingIDs()
	if err != nil || !slices.Contains(ids, id) {
		t.Fatalf("PendingIDs %v, %v: want %d among them", ids, err, id)
	}

	// The first task of the cgroup: nothing was tracked by user space.
	cg, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer cg.Close()
	cmd := exec.Command("/proc/self/exe", "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=filtered")
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: int(cg.Fd())}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("child: %v: %s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		ev, err := p.ReadEvent(ctx)
		if err != nil {
			t.Fatalf("no exec event of the pending cgroup: %v", err)
		}
		if ev.CgroupID == id && ev.Kind == EventExec {
			if exe, _ := os.Executable(); ev.Filename != "/proc/self/exe" && ev.Filename != exe {
				t.Errorf("exec event file %q", ev.Filename)
			}
			break
		}
	}

	allowed, err := AllowedSet(profiles.New(profiles.ActAllow, profiles.NativeArch()))
	if err != nil {
		t.Fatal(err)
	}
	rec, err := p.Adopt(id, TrackOptions{Mode: ModeWatch, Allowed: allowed})
	if err != nil {
		t.Fatal(err)
	}
	if rec == nil || rec.Mode != ModePending {
		t.Fatalf("Adopt returned %+v, want the pending record", rec)
	}
	arch := profiles.NativeArch()
	if !rec.Seen.Has(arch, int(nr("getcpu"))) || rec.Seen.Has(arch, int(nr("sysinfo"))) {
		t.Errorf("recorded while pending: %v; want getcpu (under the filter) and not sysinfo (before it)", rec.Seen.Names(arch))
	}
	st, err := p.State(id)
	if err != nil {
		t.Fatal(err)
	}
	if !st.Seen.Has(arch, int(nr("getcpu"))) {
		t.Errorf("tracked state did not inherit the pending seen set: %v", st.Seen.Names(arch))
	}
	if held, _ := p.Pending(); held[id] != nil {
		t.Errorf("cgroup %d still pending after Adopt", id)
	}
	if err := p.Release(id); !errors.Is(err, ErrNotTracked) {
		t.Errorf("Release after Adopt: %v, want ErrNotTracked", err)
	}
}

// TestHoldBounded: when MaxPending cgroups are held, more new cgroups are
// counted as overflows, not held, and tracking stays right: releasing frees
// room for the next one.
func TestHoldBounded(t *testing.T) {
	requireBPF(t)
	p, err := Load(&Options{HoldNewCgroups: true, MaxPending: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	var ids []uint64
	for i := 0; i < 5; i++ {
		dir, err := newLearnCgroup()
		if err != nil {
			t.Fatal(err)
		}
		defer os.Remove(dir)
		id, err := cgroups.ID(dir)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	held, err := p.Pending()
	if err != nil {
		t.Fatal(err)
	}
	if len(held) > 2 {
		t.Fatalf("%d cgroups held, MaxPending 2", len(held))
	}
	st, err := p.PendingStats()
	if err != nil {
		t.Fatal(err)
	}
	if st.Overflows < 3 {
		t.Errorf("overflows %d, want at least 3 (5 new cgroups, 2 places)", st.Overflows)
	}
	for id := range held {
		if err := p.Release(id); err != nil {
			t.Fatal(err)
		}
	}
	// Room again: the next new cgroup is held (unless another test's
	// cgroup took the place first; then it is counted).
	dir, err := newLearnCgroup()
	if err != nil {
		t.Fatal(err)
	}
	defer os.Remove(dir)
	id, _ := cgroups.ID(dir)
	held, _ = p.Pending()
	st2, _ := p.PendingStats()
	if held[id] == nil && st2.Overflows == st.Overflows {
		t.Errorf("cgroup %s neither held nor counted after release", filepath.Base(dir))
	}
}
