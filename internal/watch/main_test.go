package watch

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sysward/sysward/enforcer"
	"github.com/sysward/sysward/profiles"
)

// childEnv selects what a re-exec'd test binary does instead of running tests.
const childEnv = "SYSWARD_WATCH_TEST_CHILD"

// TestMain lets the test binary be its own workload and launcher:
//
//	launch:<mode>:<profile> ARGS…  install the profile's filter and exec ARGS
//	                                (what `sysward run` does)
//	storm:<n>:<nr,nr,…>            call getppid n times, then each nr once
//	paced:<n>:<duration>           call getppid n times, pausing between calls
func TestMain(m *testing.M) {
	if v := os.Getenv(childEnv); v != "" {
		os.Exit(child(v, os.Args[1:]))
	}
	os.Exit(m.Run())
}

func child(spec string, args []string) int {
	kind, rest, _ := strings.Cut(spec, ":")
	switch kind {
	case "launch":
		mode, path, _ := strings.Cut(rest, ":")
		p, err := profiles.Load(path)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		env := make([]string, 0, len(os.Environ()))
		for _, kv := range os.Environ() {
			if !strings.HasPrefix(kv, childEnv+"=") {
				env = append(env, kv)
			}
		}
		l, err := enforcer.PrepareLaunch(p, args, &enforcer.LaunchOptions{Mode: enforcer.Mode(mode), Env: env})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		fmt.Fprintln(os.Stderr, l.Exec())
		return 1
	case "storm":
		ns, list, _ := strings.Cut(rest, ":")
		n, _ := strconv.Atoi(ns)
		for i := 0; i < n; i++ {
			unix.RawSyscall(unix.SYS_GETPPID, 0, 0, 0)
		}
		for _, f := range strings.Split(list, ",") {
			if nr, err := strconv.Atoi(f); err == nil {
				unix.RawSyscall(uintptr(nr), 0, 0, 0)
			}
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
