package profiler

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sysward/sysward/internal/testutil"
)

// Child modes (runEventChild):
//
//	deniedstorm:N  install a filter refusing getcpu (EPERM), call it N times
//	setuid:UID     become UID (all threads), then call sysinfo (a deviation)
//	run:PATH ARGS  run PATH with ARGS (separated by \x1f) and wait for it

// runEventChild is the workload side; it returns -1 for modes it does not know.
func runEventChild(mode string) int {
	name, arg, _ := strings.Cut(mode, ":")
	switch name {
	case "deniedstorm":
		n, _ := strconv.Atoi(arg)
		runtime.LockOSThread()
		if err := installFilter(uint32(nr("getcpu")), 0x00050000|uint32(unix.EPERM)); err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			return 2
		}
		getcpu := nr("getcpu")
		for i := 0; i < n; i++ {
			if _, _, e := unix.RawSyscall(getcpu, 0, 0, 0); e != unix.EPERM {
				fmt.Fprintln(os.Stderr, "child: getcpu returned", e)
				return 3
			}
		}
	case "setuid":
		uid, _ := strconv.Atoi(arg)
		if err := syscall.Setgid(uid); err != nil {
			fmt.Fprintln(os.Stderr, "child: setgid:", err)
			return 2
		}
		if err := syscall.Setuid(uid); err != nil {
			fmt.Fprintln(os.Stderr, "child: setuid:", err)
			return 2
		}
		unix.RawSyscall(nr("sysinfo"), 0, 0, 0)
	case "run":
		argv := strings.Split(arg, "\x1f")
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Stderr = os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "child: run:", err)
			return 2
		}
	default:
		return -1
	}
	return 0
}

// TestDeniedRepeatsCountedInKernel (issue #9 item 6): a workload making a
// million calls that seccomp refuses costs a bounded number of ring-buffer
// events; the rest are counted in the kernel, exactly.
func TestDeniedRepeatsCountedInKernel(t *testing.T) {
	requireBPF(t)
	p, err := Load(&Options{Watch: true})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	const n = 1000000
	start := time.Now()
	id, err := runWatchedChild(t, p, "deniedstorm:"+strconv.Itoa(n), FlagAllEvents)
	if err != nil {
		t.Fatalf("child: %v", err)
	}
	took := time.Since(start)
	evs := drain(t, p, id, 300*time.Millisecond)
	denied := byKind(evs, EventDenied)
	drops, err := p.Drops()
	if err != nil {
		t.Fatal(err)
	}
	st, err := p.State(id)
	if err != nil {
		t.Fatal(err)
	}
	if st.DeniedCount != n {
		t.Errorf("kernel counted %d denied calls, child made %d", st.DeniedCount, n)
	}
	reps, err := p.Repeats()
	if err != nil {
		t.Fatal(err)
	}
	var suppressed uint64
	for _, r := range reps {
		if r.CgroupID != id {
			continue
		}
		if r.Syscall != "getcpu" || r.LastRet != -int64(unix.EPERM) || r.LastPID == 0 || r.LastTime.Before(start) {
			t.Errorf("repeat counter %+v", r)
		}
		suppressed += r.Suppressed
	}
	// At most RepeatBurst events per started interval (+1: the windows need
	// not line up with the run).
	bound := uint64(RepeatBurst) * (uint64(took/RepeatInterval) + 2)
	if uint64(len(denied)) > bound {
		t.Errorf("%d denied events in %v, want at most %d", len(denied), took, bound)
	}
	if got := uint64(len(denied)) + drops + suppressed; got != n {
		t.Errorf("%d events + %d drops + %d counted = %d, want %d", len(denied), drops, suppressed, got, n)
	}
	t.Logf("%d denied calls in %v: %d events, %d counted in the kernel", n, took, len(denied), suppressed)
	if err := p.Untrack(id); err != nil {
		t.Fatal(err)
	}
	if reps, err = p.Repeats(); err != nil {
		t.Fatal(err)
	}
	for _, r := range reps {
		if r.CgroupID == id {
			t.Errorf("repeat counter left after Untrack: %+v", r)
		}
	}
}

// TestEventUIDAtTimeOfCall (issue #13 item 3): the uid and gid of an event
// are the task's when it made the call, not when it exec'd.
func TestEventUIDAtTimeOfCall(t *testing.T) {
	requireBPF(t)
	p, err := Load(&Options{Watch: true})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	id, err := runWatchedChild(t, p, "setuid:65534", 0)
	if err != nil {
		t.Fatalf("child: %v", err)
	}
	evs := drain(t, p, id, 300*time.Millisecond)
	exe := byKind(evs, EventExec)
	devs := byKind(evs, EventDeviation)
	if len(exe) != 1 || exe[0].UID != 0 {
		t.Errorf("exec events %+v, want one as root", exe)
	}
	if len(devs) != 1 || devs[0].Syscall != "sysinfo" || devs[0].UID != 65534 || devs[0].GID != 65534 {
		t.Errorf("deviation events %+v, want sysinfo by uid/gid 65534", devs)
	}
}

// TestExecEventFacts (issue #13 items 4 and 5): an exec event carries what
// the kernel knew at exec — argv (bounded, truncation marked), the file, the
// interpreter of a #! script, the parent's name, and whether the parent is
// outside the workload — so a process gone before /proc is read keeps them.
func TestExecEventFacts(t *testing.T) {
	requireBPF(t)
	testutil.Require(t, testutil.File(testutil.BusyboxPath))
	p, err := Load(&Options{Watch: true})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	dir := t.TempDir()
	script := filepath.Join(dir, "hello.sh")
	if err := os.WriteFile(script, []byte("#!"+testutil.BusyboxPath+" sh\ntrue\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("y", ArgvMax)
	for _, tc := range []struct {
		name string
		argv []string
		want func(t *testing.T, child, gchild Event)
	}{
		{"binary", []string{testutil.BusyboxPath, "mkdir", "-p", dir + "/a b"}, func(t *testing.T, child, g Event) {
			if w := []string{testutil.BusyboxPath, "mkdir", "-p", dir + "/a b"}; strings.Join(g.Argv, "|") != strings.Join(w, "|") || g.ArgvTruncated {
				t.Errorf("argv %q (truncated %v), want %q", g.Argv, g.ArgvTruncated, w)
			}
			if g.Filename != testutil.BusyboxPath || g.Interp != "" {
				t.Errorf("filename %q interp %q", g.Filename, g.Interp)
			}
		}},
		{"script", []string{script, "arg1"}, func(t *testing.T, child, g Event) {
			// The kernel rewrites argv: interpreter, its argument, script, args.
			if w := []string{testutil.BusyboxPath, "sh", script, "arg1"}; strings.Join(g.Argv, "|") != strings.Join(w, "|") {
				t.Errorf("argv %q, want %q", g.Argv, w)
			}
			if g.Filename != script || g.Interp != testutil.BusyboxPath || g.Comm != "hello.sh" {
				t.Errorf("filename %q interp %q comm %q", g.Filename, g.Interp, g.Comm)
			}
		}},
		{"truncated", []string{testutil.BusyboxPath, "true", long}, func(t *testing.T, child, g Event) {
			if !g.ArgvTruncated || len(strings.Join(g.Argv, "\x00")) != ArgvMax || g.Argv[1] != "true" {
				t.Errorf("argv of %d bytes (truncated %v), want %d bytes cut", len(strings.Join(g.Argv, "\x00")), g.ArgvTruncated, ArgvMax)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id, err := runWatchedChild(t, p, "run:"+strings.Join(tc.argv, "\x1f"), 0)
			if err != nil {
				t.Fatalf("child: %v", err)
			}
			exe := byKind(drain(t, p, id, 300*time.Millisecond), EventExec)
			if len(exe) != 2 {
				t.Fatalf("exec events %+v, want the child's and its child's", exe)
			}
			child, g := exe[0], exe[1]
			if !child.ParentOutside || g.ParentOutside {
				t.Errorf("parent outside: child %v, grandchild %v; want true, false", child.ParentOutside, g.ParentOutside)
			}
			if g.PPID != child.PID || g.PComm != child.Comm {
				t.Errorf("grandchild's parent %d %q, want %d %q", g.PPID, g.PComm, child.PID, child.Comm)
			}
			if w := os.Args[0] + "|-test.run=^$"; strings.Join(child.Argv, "|") != w {
				t.Errorf("child argv %q, want %q", child.Argv, w)
			}
			tc.want(t, child, g)
		})
	}
}
