package profiler

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"github.com/sysward/sysward/profiles"
)

// childEnv makes the test binary act as a workload (see TestMain).
const childEnv = "SYSWARD_PROFILER_CHILD"

func TestMain(m *testing.M) {
	if mode := os.Getenv(childEnv); mode != "" {
		os.Exit(runChild(mode))
	}
	os.Exit(m.Run())
}

// deviating are syscalls the Go runtime never makes; the watch tests' profile
// allows everything else. Each is harmless with the bogus arguments used.
var deviating = []string{
	"getcpu", "sysinfo", "times", "getrusage", "getitimer", "getpgrp",
	"getsid", "getpriority", "sched_getscheduler", "sched_get_priority_max",
	"sched_get_priority_min", "sched_rr_get_interval",
}

// childArgs are passed to every deviating call so the test can check that
// events carry the arguments (low addresses: pointers fault, EFAULT).
var childArgs = [6]uint64{0x1234, 0x5678, 0x9abc, 0xdef0, 0x1111, 0x2222}

func nr(name string) uintptr {
	n, ok := profiles.SyscallNumber(profiles.ArchX86_64, name)
	if !ok {
		panic("unknown syscall " + name)
	}
	return uintptr(n)
}

func callDeviating(times int) {
	for i := 0; i < times; i++ {
		for _, name := range deviating {
			a := childArgs
			unix.RawSyscall6(nr(name), uintptr(a[0]), uintptr(a[1]), uintptr(a[2]), uintptr(a[3]), uintptr(a[4]), uintptr(a[5]))
		}
	}
}

// runChild is the workload side of the watch tests, in a re-exec'd test binary.
func runChild(mode string) int {
	if n, ok := strings.CutPrefix(mode, "loop:"); ok {
		return loopChild(n)
	}
	if n, ok := strings.CutPrefix(mode, "pingpong:"); ok {
		return pingPongChild(n)
	}
	if rc := runExactChild(mode); rc >= 0 {
		return rc
	}
	if rc := runEventChild(mode); rc >= 0 {
		return rc
	}
	if rc := runPendingChild(mode); rc >= 0 {
		return rc
	}
	switch mode {
	case "deviate":
		callDeviating(3)
	case "storm":
		callDeviating(500)
	case "denied":
		// The filter goes on this thread only: no TSYNC.
		runtime.LockOSThread()
		if err := installFilter(uint32(nr("getcpu")), 0x00050000|uint32(unix.EPERM)); err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			return 2
		}
		a := childArgs
		_, _, e := unix.RawSyscall(nr("getcpu"), uintptr(a[0]), uintptr(a[1]), uintptr(a[2]))
		if e != unix.EPERM {
			fmt.Fprintln(os.Stderr, "child: getcpu under the filter returned", e)
			return 3
		}
		unix.RawSyscall(nr("sysinfo"), uintptr(a[0]), 0, 0) // not filtered: a plain deviation
	case "kill":
		runtime.LockOSThread()
		if err := installFilter(uint32(nr("times")), 0x80000000); err != nil { // SECCOMP_RET_KILL_PROCESS
			fmt.Fprintln(os.Stderr, "child:", err)
			return 2
		}
		unix.RawSyscall(nr("times"), 0, 0, 0)
		return 4 // not reached
	default:
		fmt.Fprintln(os.Stderr, "child: unknown mode", mode)
		return 2
	}
	return 0
}

// installFilter installs, on the calling thread, a seccomp filter that
// returns action for syscall nr (x86_64) and allows everything else.
func installFilter(nr, action uint32) error {
	const auditArchX86_64 = 0xc000003e
	const retAllow = 0x7fff0000
	insns, err := bpf.Assemble([]bpf.Instruction{
		bpf.LoadAbsolute{Off: 4, Size: 4}, // seccomp_data.arch
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: auditArchX86_64, SkipTrue: 1},
		bpf.RetConstant{Val: retAllow},
		bpf.LoadAbsolute{Off: 0, Size: 4}, // seccomp_data.nr
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: nr, SkipFalse: 1},
		bpf.RetConstant{Val: action},
		bpf.RetConstant{Val: retAllow},
	})
	if err != nil {
		return err
	}
	filter := make([]unix.SockFilter, len(insns))
	for i, in := range insns {
		filter[i] = unix.SockFilter{Code: in.Op, Jt: in.Jt, Jf: in.Jf, K: in.K}
	}
	prog := unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("no_new_privs: %w", err)
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SECCOMP, 1 /* SECCOMP_SET_MODE_FILTER */, 0, uintptr(unsafe.Pointer(&prog))); e != 0 {
		return fmt.Errorf("seccomp: %w", e)
	}
	return nil
}

// watchProfile allows everything but the deviating syscalls.
func watchProfile(t testing.TB) *SyscallSet {
	t.Helper()
	p := profiles.New(profiles.ActAllow, profiles.ArchX86_64)
	p.AddRule(profiles.ActErrno, nil, deviating...)
	set, err := AllowedSet(p)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range deviating {
		if set.Has(profiles.ArchX86_64, int(nr(name))) {
			t.Fatalf("AllowedSet allows %s", name)
		}
	}
	if !set.Has(profiles.ArchX86_64, int(nr("read"))) {
		t.Fatalf("AllowedSet does not allow read")
	}
	return set
}

// runWatchedChild runs the test binary in mode inside a fresh tracked cgroup
// and returns the cgroup id and the child's exit error.
func runWatchedChild(t *testing.T, p *Profiler, mode string, flags Flags) (uint64, error) {
	t.Helper()
	return runWatchedChildAllowed(t, p, mode, flags|FlagWaitExec, watchProfile(t))
}

func runWatchedChildAllowed(t *testing.T, p *Profiler, mode string, flags Flags, allowed *SyscallSet) (uint64, error) {
	t.Helper()
	dir, err := newLearnCgroup()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := removeCgroup(dir, 5*time.Second); err != nil {
			t.Error(err)
		}
	})
	id, err := cgroupID(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Track(id, TrackOptions{Mode: ModeWatch, Flags: flags, Allowed: allowed}); err != nil {
		t.Fatal(err)
	}
	cg, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer cg.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+mode)
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: int(cg.Fd())}
	return id, cmd.Run()
}

// drain reads events for cgroup id until none arrives for quiet.
func drain(t *testing.T, p *Profiler, id uint64, quiet time.Duration) []Event {
	t.Helper()
	var out []Event
	for {
		ctx, cancel := context.WithTimeout(context.Background(), quiet)
		ev, err := p.ReadEvent(ctx)
		cancel()
		if errors.Is(err, context.DeadlineExceeded) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		if ev.CgroupID == id {
			out = append(out, ev)
		}
	}
}

func byKind(evs []Event, k EventKind) []Event {
	var out []Event
	for _, e := range evs {
		if e.Kind == k {
			out = append(out, e)
		}
	}
	return out
}

func sortedNames(s *SyscallSet) []string { return s.Names(profiles.ArchX86_64) }

func wantDeviating() []string {
	w := append([]string(nil), deviating...)
	sort.Strings(w)
	return w
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestWatchDeviations(t *testing.T) {
	requireBPF(t)
	p, err := Load(&Options{Watch: true})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	id, err := runWatchedChild(t, p, "deviate", 0)
	if err != nil {
		t.Fatalf("child: %v", err)
	}
	evs := drain(t, p, id, 300*time.Millisecond)
	devs := byKind(evs, EventDeviation)
	var got []string
	for _, e := range devs {
		got = append(got, e.Syscall)
		if e.Args != childArgs || e.PID == 0 || e.TID == 0 || e.Comm != "profiler.test" || e.Arch != profiles.ArchX86_64 || e.Time.IsZero() {
			t.Errorf("deviation event %+v: want args %x, pid, comm profiler.test, x86_64", e, childArgs)
		}
		if d := time.Since(e.Time); d < 0 || d > time.Minute {
			t.Errorf("event time %s is %s away from now", e.Time, d)
		}
	}
	sort.Strings(got)
	if !equal(got, wantDeviating()) {
		t.Errorf("deviation events %v, want exactly one each of %v", got, wantDeviating())
	}
	st, err := p.State(id)
	if err != nil {
		t.Fatal(err)
	}
	if g := sortedNames(&st.Deviations); !equal(g, wantDeviating()) {
		t.Errorf("deviation bitmap %v, want %v", g, wantDeviating())
	}
	if st.DeviationCount != uint64(3*len(deviating)) {
		t.Errorf("deviation count %d, want %d", st.DeviationCount, 3*len(deviating))
	}
	if st.Denied.Len() != 0 || st.DeniedCount != 0 {
		t.Errorf("denied %v (%d) without any filter", sortedNames(&st.Denied), st.DeniedCount)
	}
	if execs := byKind(evs, EventExec); len(execs) != 1 || execs[0].Filename != os.Args[0] {
		t.Errorf("exec events %+v, want one for %s", execs, os.Args[0])
	}
	if d, _ := p.Drops(); d != 0 {
		t.Errorf("%d drops with a default ring buffer", d)
	}
}

func TestWatchStormTinyRing(t *testing.T) {
	requireBPF(t)
	p, err := Load(&Options{Watch: true, RingBufferSize: os.Getpagesize()})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	id, err := runWatchedChild(t, p, "storm", FlagAllEvents)
	if err != nil {
		t.Fatalf("child: %v", err)
	}
	evs := drain(t, p, id, 300*time.Millisecond)
	drops, err := p.Drops()
	if err != nil {
		t.Fatal(err)
	}
	st, err := p.State(id)
	if err != nil {
		t.Fatal(err)
	}
	calls := uint64(500 * len(deviating))
	if drops == 0 {
		t.Errorf("no drops with a %d-byte ring and %d events", os.Getpagesize(), calls)
	}
	if g := sortedNames(&st.Deviations); !equal(g, wantDeviating()) {
		t.Errorf("deviation set %v despite drops, want %v", g, wantDeviating())
	}
	if st.DeviationCount != calls {
		t.Errorf("deviation count %d, want %d", st.DeviationCount, calls)
	}
	// Every emit either landed in the ring or was counted: the deviations
	// plus the exec event.
	if got := uint64(len(evs)) + drops; got != calls+1 {
		t.Errorf("%d events read + %d drops = %d, want %d", len(evs), drops, got, calls+1)
	}
	t.Logf("%d events read, %d dropped", len(evs), drops)
}

func TestWatchDeniedBySeccomp(t *testing.T) {
	requireBPF(t)
	p, err := Load(&Options{Watch: true})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	id, err := runWatchedChild(t, p, "denied", 0)
	if err != nil {
		t.Fatalf("child: %v", err)
	}
	evs := drain(t, p, id, 300*time.Millisecond)
	denied := byKind(evs, EventDenied)
	if len(denied) != 1 || denied[0].Syscall != "getcpu" || denied[0].Errno != int(unix.EPERM) || denied[0].Args[0] != childArgs[0] {
		t.Errorf("denied events %+v, want one getcpu with EPERM", denied)
	}
	devs := byKind(evs, EventDeviation)
	if len(devs) != 1 || devs[0].Syscall != "sysinfo" {
		t.Errorf("deviation events %+v, want one sysinfo (getcpu never reached sys_enter)", devs)
	}
	st, err := p.State(id)
	if err != nil {
		t.Fatal(err)
	}
	if g := sortedNames(&st.Denied); !equal(g, []string{"getcpu"}) {
		t.Errorf("denied set %v", g)
	}
	if g := sortedNames(&st.Deviations); !equal(g, []string{"getcpu", "sysinfo"}) {
		t.Errorf("deviation set %v", g)
	}
}

func TestWatchKilledBySIGSYS(t *testing.T) {
	requireBPF(t)
	p, err := Load(&Options{Watch: true})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	id, err := runWatchedChild(t, p, "kill", 0)
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("child: %v, want death by SIGSYS", err)
	}
	if ws := ee.Sys().(syscall.WaitStatus); !ws.Signaled() || ws.Signal() != unix.SIGSYS {
		t.Fatalf("child status %v, want SIGSYS", ws)
	}
	evs := drain(t, p, id, 300*time.Millisecond)
	var found bool
	for _, e := range byKind(evs, EventExitSigsys) {
		if e.ExitCode&0x7f == int(unix.SIGSYS) && e.Syscall == "times" {
			found = true
		}
	}
	if !found {
		t.Errorf("no exit-sigsys event for times in %+v", evs)
	}
}

func cgroupID(dir string) (uint64, error) {
	var st unix.Stat_t
	if err := unix.Stat(dir, &st); err != nil {
		return 0, err
	}
	return st.Ino, nil
}

// TestWatchWaitSeccompBoundary: with FlagWaitSeccomp (a container learned or
// watched from its runtime's filter on), calls before the filter are neither
// deviations nor "denied" — not even the seccomp() call that installs the
// filter and returns with it in place — while calls after it are.
func TestWatchWaitSeccompBoundary(t *testing.T) {
	requireBPF(t)
	p, err := Load(&Options{Watch: true})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	prof := profiles.New(profiles.ActAllow, profiles.ArchX86_64)
	prof.AddRule(profiles.ActErrno, nil, "seccomp", "prctl", "getcpu", "sysinfo", "getpgrp")
	allowed, err := AllowedSet(prof)
	if err != nil {
		t.Fatal(err)
	}
	id, err := runWatchedChildAllowed(t, p, "denied", FlagWaitSeccomp, allowed)
	if err != nil {
		t.Fatalf("child: %v", err)
	}
	evs := drain(t, p, id, 300*time.Millisecond)
	for _, e := range evs {
		if e.Syscall == "seccomp" || e.Syscall == "prctl" {
			t.Errorf("pre-filter call reported: %+v", e)
		}
	}
	st, err := p.State(id)
	if err != nil {
		t.Fatal(err)
	}
	if g := sortedNames(&st.Denied); !equal(g, []string{"getcpu"}) {
		t.Errorf("denied set %v, want [getcpu]", g)
	}
	if g := sortedNames(&st.Deviations); !equal(g, []string{"getcpu", "sysinfo"}) {
		t.Errorf("deviation set %v, want [getcpu sysinfo]", g)
	}
	if g := sortedNames(&st.Seen); len(g) == 0 || containsName(g, "seccomp") || containsName(g, "prctl") || !containsName(g, "sysinfo") {
		t.Errorf("seen set %v: want the post-filter calls only", g)
	}
}

func containsName(ns []string, n string) bool {
	for _, x := range ns {
		if x == n {
			return true
		}
	}
	return false
}
