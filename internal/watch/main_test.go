package watch

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// childEnv selects what a re-exec'd test binary does instead of running tests.
const childEnv = "SYSWARD_WATCH_TEST_CHILD"

// TestMain lets the test binary be its own workload (the launcher for
// `run --watch` is this package's init, see Launcher):
//
//	storm:<n>:<nr,nr,…>            call getppid n times, then each nr once
//	paced:<n>:<duration>           call getppid n times, pausing between calls
//	loop:<n>                       time n getppid calls, print the best chunk's ns/call
//	setuid:<uid>:<pause>           wait pause (the exec event is read as root), become
//	                               uid (all threads), call getppid once
//	run:<path>                     run path (a #! script) and wait for it
func TestMain(m *testing.M) {
	if v := os.Getenv(childEnv); v != "" {
		os.Exit(child(v, os.Args[1:]))
	}
	os.Exit(m.Run())
}

func child(spec string, args []string) int {
	kind, rest, _ := strings.Cut(spec, ":")
	switch kind {
	case "storm":
		ns, list, _ := strings.Cut(rest, ":")
		n, _ := strconv.Atoi(ns)
		for i := 0; i < n; i++ {
			unix.RawSyscall(unix.SYS_GETPPID, 0, 0, 0)
		}
		// Each exactly once, while the ring is still full: their events
		// are dropped, and the bitmap must hold them anyway.
		for _, f := range strings.Split(list, ",") {
			if nr, err := strconv.Atoi(f); err == nil {
				unix.RawSyscall(uintptr(nr), 0, 0, 0)
			}
		}
		return 0
	case "loop":
		n, _ := strconv.Atoi(rest)
		fmt.Printf("%.3f\n", loop(n))
		return 0
	case "setuid":
		us, pause, _ := strings.Cut(rest, ":")
		uid, _ := strconv.Atoi(us)
		d, _ := time.ParseDuration(pause)
		time.Sleep(d)
		if err := syscall.Setgid(uid); err != nil {
			fmt.Fprintln(os.Stderr, "setgid:", err)
			return 2
		}
		if err := syscall.Setuid(uid); err != nil {
			fmt.Fprintln(os.Stderr, "setuid:", err)
			return 2
		}
		unix.RawSyscall(unix.SYS_GETPPID, 0, 0, 0)
		return 0
	case "run":
		cmd := exec.Command(rest)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "run:", err)
			return 2
		}
		return 0
	case "paced":
		ns, pause, _ := strings.Cut(rest, ":")
		n, _ := strconv.Atoi(ns)
		d, _ := time.ParseDuration(pause)
		for i := 0; i < n; i++ {
			unix.RawSyscall(unix.SYS_GETPPID, 0, 0, 0)
			time.Sleep(d)
		}
		return 0
	}
	fmt.Fprintf(os.Stderr, "unknown child %q\n", spec)
	return 2
}

// loop times n getppid calls (raw) in chunks and returns the fastest chunk's
// ns per call: on a shared machine the minimum is what the code costs.
func loop(n int) float64 {
	const chunk = 10000
	for i := 0; i < chunk; i++ {
		unix.RawSyscall(unix.SYS_GETPPID, 0, 0, 0)
	}
	best := time.Duration(1 << 62)
	for c := 0; c < n/chunk; c++ {
		start := time.Now()
		for i := 0; i < chunk; i++ {
			unix.RawSyscall(unix.SYS_GETPPID, 0, 0, 0)
		}
		if d := time.Since(start); d < best {
			best = d
		}
	}
	return float64(best.Nanoseconds()) / chunk
}
