package profiler

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The exactness tests: every call a tracked task makes must be counted, and
// every syscall any of its tasks makes must be seen, also when the tasks are
// short-lived, the calls are few, and the machine is busy with other tasks
// making syscalls and forking on every CPU (which is what preempts a task in
// the middle of the eBPF program and recycles kernel stacks). A learned
// profile missing a syscall breaks the workload once it is enforced.
//
// Child modes (runExactChild):
//
//	count:N        N calls of getpgrp in a tight loop
//	paced:N        N calls of getpgrp, sleeping 200µs between them
//	forks:N        N raw-forked processes, the i-th makes one call of
//	               deviating[i%len(deviating)] and exits
//	hammer         allowed syscalls and forks until killed (load)

// runExactChild is the workload side; it returns -1 for modes it does not know.
func runExactChild(mode string) int {
	name, arg, _ := strings.Cut(mode, ":")
	n, _ := strconv.Atoi(arg)
	getpgrp := nr("getpgrp")
	switch name {
	case "count":
		for i := 0; i < n; i++ {
			unix.RawSyscall(getpgrp, 0, 0, 0)
		}
	case "paced":
		for i := 0; i < n; i++ {
			unix.RawSyscall(getpgrp, 0, 0, 0)
			time.Sleep(200 * time.Microsecond)
		}
	case "forks":
		nrs := make([]uintptr, len(deviating))
		for i, d := range deviating {
			nrs[i] = nr(d)
		}
		runtime.LockOSThread()
		for i := 0; i < n; i++ {
			pid, e := forkCall(nrs[i%len(nrs)])
			if e != 0 {
				fmt.Fprintln(os.Stderr, "fork:", e)
				return 2
			}
			var ws unix.WaitStatus
			if _, err := unix.Wait4(int(pid), &ws, 0, nil); err != nil || ws.ExitStatus() != 0 {
				fmt.Fprintln(os.Stderr, "wait:", err, ws)
				return 2
			}
		}
	case "hammer":
		go func() {
			for {
				exec.Command("/bin/true").Run()
			}
		}()
		for {
			unix.RawSyscall(unix.SYS_GETPPID, 0, 0, 0)
			unix.RawSyscall(unix.SYS_GETUID, 0, 0, 0)
		}
	default:
		return -1
	}
	return 0
}

// forkCall forks (a raw clone: the child runs nothing but raw syscalls); the
// child makes one call of nr and exits 0.
//
//go:nosplit
//go:norace
func forkCall(nr uintptr) (uintptr, syscall.Errno) {
	r, _, e := syscall.RawSyscall6(syscall.SYS_CLONE, uintptr(syscall.SIGCHLD), 0, 0, 0, 0, 0)
	if e != 0 {
		return 0, e
	}
	if r == 0 {
		syscall.RawSyscall6(nr, 0x1234, 0x5678, 0x9abc, 0, 0, 0)
		syscall.RawSyscall(syscall.SYS_EXIT_GROUP, 0, 0, 0)
	}
	return r, 0
}

// startLoad keeps every CPU busy with untracked syscalls and forks, plus a
// hammer process in another tracked cgroup, until the returned function is
// called.
func startLoad(t *testing.T, p *Profiler) func() {
	t.Helper()
	var stop atomic.Bool
	var wg sync.WaitGroup
	for i := 0; i < runtime.NumCPU(); i++ {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				for j := 0; j < 1000; j++ {
					unix.RawSyscall(unix.SYS_GETPPID, 0, 0, 0)
				}
				runtime.Gosched()
			}
		}()
		go func() {
			defer wg.Done()
			for !stop.Load() {
				exec.Command("/bin/true").Run()
			}
		}()
	}
	dir, err := newLearnCgroup()
	if err != nil {
		t.Fatal(err)
	}
	id, err := cgroupID(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Track(id, TrackOptions{Mode: ModeWatch, Allowed: watchProfile(t)}); err != nil {
		t.Fatal(err)
	}
	cg, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer cg.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=hammer")
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: int(cg.Fd())}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return func() {
		stop.Store(true)
		cmd.Process.Kill()
		cmd.Wait()
		wg.Wait()
		if err := removeCgroup(dir, 5*time.Second); err != nil {
			t.Error(err)
		}
	}
}

// TestExactUnderLoad: watch mode counts every outside-profile call exactly,
// and learn mode sees every syscall of every short-lived process, while
// other processes make syscalls and fork on every CPU.
func TestExactUnderLoad(t *testing.T) {
	requireBPF(t)
	// Watch: sys_exit attached too, and every deviation is an event
	// (FlagAllEvents), as `sysward watch` runs it: the longest programs.
	p, err := Load(&Options{Watch: true})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	stopLoad := startLoad(t, p)
	defer stopLoad()
	// Drain events so the ring never fills (first-seen and deviations).
	ctx, cancel := context.WithCancel(context.Background())
	_, wait := p.Events(ctx)
	defer func() {
		cancel()
		wait()
	}()

	const forks = 600
	for _, c := range []struct {
		name string
		mode string
		want uint64
	}{
		{"storm", "count:200000", 200000},
		{"paced", "paced:300", 300},
		{"short-lived", "forks:" + strconv.Itoa(forks), forks},
	} {
		t.Run(c.name, func(t *testing.T) {
			id, err := runWatchedChild(t, p, c.mode, FlagAllEvents)
			if err != nil {
				t.Fatalf("child: %v", err)
			}
			st, err := p.State(id)
			if err != nil {
				t.Fatal(err)
			}
			if st.DeviationCount != c.want {
				t.Errorf("deviation count %d, want exactly %d (%d missed)", st.DeviationCount, c.want, int64(c.want)-int64(st.DeviationCount))
			}
		})
	}

	t.Run("learn-short-lived", func(t *testing.T) {
		// Each round: a fresh learn state, len(deviating) processes each
		// making one distinct syscall once; every one must be seen.
		const rounds = 25
		missed := 0
		for r := 0; r < rounds; r++ {
			dir, err := newLearnCgroup()
			if err != nil {
				t.Fatal(err)
			}
			id, err := cgroupID(dir)
			if err != nil {
				t.Fatal(err)
			}
			if err := p.Track(id, TrackOptions{Mode: ModeLearn, Flags: FlagWaitExec | FlagFirstSeen}); err != nil {
				t.Fatal(err)
			}
			cg, err := os.Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), childEnv+"=forks:"+strconv.Itoa(len(deviating)))
			cmd.Stderr = os.Stderr
			cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: int(cg.Fd())}
			err = cmd.Run()
			cg.Close()
			if err != nil {
				t.Fatalf("child: %v", err)
			}
			seen, err := p.Seen(id)
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range deviating {
				if !containsName(sortedNames(seen), d) {
					t.Errorf("round %d: %s not seen", r, d)
					missed++
				}
			}
			if err := p.Untrack(id); err != nil {
				t.Fatal(err)
			}
			if err := removeCgroup(dir, 5*time.Second); err != nil {
				t.Fatal(err)
			}
		}
		if missed > 0 {
			t.Errorf("%d of %d syscalls missed", missed, rounds*len(deviating))
		}
	})
}
