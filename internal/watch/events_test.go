package watch

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sysward/sysward/detector/output"
	"github.com/sysward/sysward/internal/testutil"
)

// TestWatchUserAtTimeOfCall (issue #13 item 3): a workload that drops
// privileges after exec (memcached, haproxy) is reported as the user it is
// when it makes the call, named from its passwd, not as the root /proc
// showed (and the cache kept) at exec.
func TestWatchUserAtTimeOfCall(t *testing.T) {
	requireWatch(t)
	// The pause lets the exec event be read (and /proc cached) while the
	// child is still root.
	_, out := session(t, Config{Profile: allowAllBut("getppid"), Rules: testRules(t), Mode: ModeWatch, Format: output.FormatJSON},
		storm(t, "setuid:65534:300ms"))
	devs := detailed(out.alerts(t), "Syscall outside profile")
	if len(devs) != 1 {
		t.Fatalf("alerts %+v, want one getppid deviation", out.alerts(t))
	}
	a := devs[0]
	if a.field("user.uid") != "65534" || a.field("user.name") != "nobody" || !strings.Contains(a.Output, "user=nobody uid=65534") {
		t.Errorf("deviation after setuid(65534) reported as user %q uid %s: %s", a.field("user.name"), a.field("user.uid"), a.Output)
	}
}

// TestWatchShortLivedCommandArgs (issue #13 item 4): a command that exits
// before /proc is read keeps its arguments, which the kernel copied at exec.
func TestWatchShortLivedCommandArgs(t *testing.T) {
	requireWatch(t)
	dir := t.TempDir()
	prof := learn(t, busybox(normalPart))
	// The last command: the shell execs it in place, and it exits at once.
	// (Not busybox's own applet: busybox runs that without an exec.)
	testutil.Require(t, testutil.File("/usr/bin/mkfifo"))
	argv := busybox(normalPart + "; /usr/bin/mkfifo " + dir + "/f1 " + dir + "/f2")
	_, out := session(t, Config{Profile: prof, Rules: testRules(t), Mode: ModeWatch, Format: output.FormatJSON},
		Target{Command: argv, Name: "sample"})
	var found bool
	for _, a := range detailed(out.alerts(t), "Syscall outside profile") {
		if a.field("proc.name") != "mkfifo" {
			continue
		}
		found = true
		if want := "mkfifo " + dir + "/f1 " + dir + "/f2"; a.field("proc.cmdline") != want {
			t.Errorf("proc.cmdline %q, want %q (%s)", a.field("proc.cmdline"), want, a.Output)
		}
	}
	if !found {
		t.Fatalf("no alert from mkfifo: %+v", out.alerts(t))
	}
}

// TestWatchShellRule (issue #13 item 5): the shell rule follows the process
// tree the kernel reports and the interpreter it ran, not names.
func TestWatchShellRule(t *testing.T) {
	requireWatch(t)
	rules, err := LoadRules(false) // what ships: no test binary among trusted names
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	script := filepath.Join(dir, "hello.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho hello >/dev/null\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	shells := func(out *lines) []falcoAlert { return detailed(out.alerts(t), "Shell spawned in workload") }

	t.Run("entrypoint shell and its subshells", func(t *testing.T) {
		argv := []string{"/bin/sh", "-c", "/bin/sh -c true; cat /etc/hostname >/dev/null"}
		_, out := session(t, Config{Profile: learn(t, argv), Rules: rules, Mode: ModeWatch, Format: output.FormatJSON},
			Target{Command: argv})
		if as := out.alerts(t); len(as) != 0 {
			t.Errorf("alerts on a normal run: %+v", as)
		}
	})
	t.Run("entrypoint shell script", func(t *testing.T) {
		argv := []string{script}
		_, out := session(t, Config{Profile: learn(t, argv), Rules: rules, Mode: ModeWatch, Format: output.FormatJSON},
			Target{Command: argv})
		if as := out.alerts(t); len(as) != 0 {
			t.Errorf("alerts on a normal run: %+v", as)
		}
	})
	t.Run("shell script run by a server", func(t *testing.T) {
		// The test binary stands for lighttpd running a CGI script: the
		// process is named hello.sh; the kernel ran /bin/sh for it.
		_, out := session(t, Config{Profile: allowAllBut("getppid"), Rules: rules, Mode: ModeWatch, Format: output.FormatJSON},
			storm(t, "run:"+script))
		sh := shells(out)
		if len(sh) != 1 || sh[0].field("proc.name") != "hello.sh" || !strings.Contains(sh[0].Output, "shell=hello.sh") {
			t.Fatalf("shell alerts %+v, want one for hello.sh", sh)
		}
		t.Logf("%s", sh[0].Output)
	})
}

// deniedStorm runs the test binary making n getppid calls that its profile's
// filter refuses (EPERM), under `run --watch --mode enforce`.
func deniedStorm(tb testing.TB, cfg Config, n int) (*Result, *lines) {
	prof := allowAllBut("getppid")
	argv := []string{os.Args[0], "-test.run=^$", "-test.bench=^$"}
	eff, err := EffectiveProfile(prof, argv, ModeEnforce)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Setenv(childEnv, "storm:"+strconv.Itoa(n)+":")
	cfg.Profile, cfg.Mode = eff, ModeEnforce
	if cfg.Rules == nil {
		rs, err := LoadRules(false)
		if err != nil {
			tb.Fatal(err)
		}
		cfg.Rules = rs
	}
	out := &lines{}
	if cfg.Stdout == nil {
		cfg.Stdout = out
	}
	if cfg.Stderr == nil {
		cfg.Stderr = &strings.Builder{}
	}
	res, err := Session(tb.Context(), cfg, Target{Launch: Launcher(prof, ModeEnforce, false, argv), WaitSeccomp: true, Name: "storm"})
	if err != nil {
		tb.Fatalf("session: %v", err)
	}
	if res.ExitCode != 0 {
		tb.Fatalf("storm exit %d", res.ExitCode)
	}
	return res, out
}

// TestWatchDeniedStormCountedInKernel (issue #9 item 6, issue #13 item 6):
// a million refused calls reach user space as a bounded number of events;
// the alerts printed are few, and what they count is exactly the calls.
func TestWatchDeniedStormCountedInKernel(t *testing.T) {
	requireWatch(t)
	const n = 1000000
	start := time.Now()
	res, out := deniedStorm(t, Config{Format: output.FormatJSON}, n)
	took := time.Since(start)
	s := res.Summary
	const rule = "Syscall outside profile denied"
	if s.DeniedCalls != n || s.Alerts[rule] != n {
		t.Errorf("kernel counted %d denied calls, alerts counted %d, workload made %d", s.DeniedCalls, s.Alerts[rule], n)
	}
	if bound := uint64(8*(took/time.Second+2)) + 5; s.Events > bound {
		t.Errorf("%d kernel events in %v for %d refused calls, want at most %d", s.Events, took, n, bound)
	}
	as := out.alerts(t)
	if uint64(len(as)) != s.Printed || s.Printed > 10 {
		t.Errorf("%d alerts printed, summary says %d (want a handful)", len(as), s.Printed)
	}
	var occurrences uint64
	var last time.Time
	for _, a := range as {
		if a.Rule != rule {
			t.Errorf("unexpected alert %s", a.Output)
			continue
		}
		if a.Time.Before(last) {
			t.Errorf("alert at %v after one at %v: not in time order", a.Time, last)
		}
		last = a.Time
		// A repeat summary stands for its repeats; an alert for itself, or
		// for the calls the kernel counted (FieldCount).
		if c, err := strconv.ParseUint(a.field(output.FieldRepeatCount), 10, 64); err == nil {
			occurrences += c
		} else if c, err := strconv.ParseUint(a.field(output.FieldCount), 10, 64); err == nil {
			occurrences += c
		} else {
			occurrences++
		}
	}
	if occurrences != n {
		t.Errorf("printed alerts stand for %d calls, want %d", occurrences, n)
	}
	t.Logf("%d refused calls in %v: %d kernel events, %d alerts printed", n, took, s.Events, s.Printed)
}

// BenchmarkWatchDeniedStorm: the watcher's CPU time (this process: reading
// events, enriching, rules, outputs) against the workload's (the child, a
// million refused calls including the eBPF programs they run), in the same
// run. Issue #9 item 6: it was more than 1.
func BenchmarkWatchDeniedStorm(b *testing.B) {
	requireWatchB(b)
	const n = 1000000
	var ratios []float64
	for range b.N {
		var self0, kids0 syscall.Rusage
		syscall.Getrusage(syscall.RUSAGE_SELF, &self0)
		syscall.Getrusage(syscall.RUSAGE_CHILDREN, &kids0)
		res, _ := deniedStorm(b, Config{Format: output.FormatJSON, Stdout: discard{}}, n)
		var self1, kids1 syscall.Rusage
		syscall.Getrusage(syscall.RUSAGE_SELF, &self1)
		syscall.Getrusage(syscall.RUSAGE_CHILDREN, &kids1)
		watcher := cpu(&self1) - cpu(&self0)
		workload := cpu(&kids1) - cpu(&kids0)
		ratios = append(ratios, watcher.Seconds()/workload.Seconds())
		b.Logf("watcher %v, workload %v, %d events, %d alerts printed", watcher, workload, res.Summary.Events, res.Summary.Printed)
	}
	b.ReportMetric(median(ratios), "watcher/workload-cpu")
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

func cpu(r *syscall.Rusage) time.Duration {
	return time.Duration(r.Utime.Nano() + r.Stime.Nano())
}
