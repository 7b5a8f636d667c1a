package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sysward/sysward/internal/cgroups"
	"github.com/sysward/sysward/internal/inputfile"
	"github.com/sysward/sysward/internal/testutil"
	"github.com/sysward/sysward/profiles"
)

func requireLearn(t *testing.T) {
	t.Helper()
	testutil.Require(t, testutil.Root, testutil.BTF, testutil.Cgroup2)
}

func TestLearnCLI(t *testing.T) {
	requireLearn(t)
	out := filepath.Join(t.TempDir(), "ls.json")
	if code := run([]string{"sysward", "learn", "-q", "-o", out, "--", "ls", "/"}); code != 0 {
		t.Fatalf("exit %d", code)
	}
	p, err := inputfile.Profile(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"getdents64", "execve", "exit_group"} {
		if !strings.Contains(strings.Join(p.Names(), " "), w) {
			t.Errorf("profile lacks %s", w)
		}
	}
	if p.DefaultAction != profiles.ActErrno {
		t.Errorf("default action %s", p.DefaultAction)
	}
	if code := run([]string{"sysward", "learn", "-q", "--default-action", "SCMP_ACT_LOG", "-o", out, "--", "true"}); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if p, err := inputfile.Profile(out); err != nil || p.DefaultAction != profiles.ActLog {
		t.Errorf("--default-action: %v %v", p, err)
	}
}

func TestLearnCLIBadInput(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"no target", []string{}},
		{"two targets", []string{"--pid", "1", "--cgroup", "/", "--", "true"}},
		{"bad action", []string{"--default-action", "SCMP_ACT_MAYBE", "--", "true"}},
		{"bad pid", []string{"--pid", "-3"}},
		{"negative duration", []string{"--duration", "-1s", "--", "true"}},
		{"bad generalize", []string{"--generalize", "siblings", "--", "true"}},
		{"bad baseline", []string{"--baseline", "all", "--", "true"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if code := run(append([]string{"sysward", "learn"}, tc.args...)); code != 2 {
				t.Errorf("exit %d, want 2", code)
			}
		})
	}
	requireLearn(t)
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"unknown pid", []string{"--pid", "999999999"}},
		{"unknown container", []string{"--container", "sysward-no-such-container"}},
		{"unknown cgroup", []string{"--cgroup", "sysward/no/such/cgroup"}},
		{"unknown command", []string{"--", "sysward-no-such-command"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if code := run(append([]string{"sysward", "learn", "-q"}, tc.args...)); code != 2 {
				t.Errorf("exit %d, want 2", code)
			}
		})
	}
}

// buildSysward builds the CLI into a temp dir (for tests that need a real
// process: signals, or `run`, which execs in place).
func buildSysward(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "sysward")
	if b, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	return bin
}

// TestLearnThenRun: a profile learned from a command runs that command under
// `sysward run` with no EPERM, and refuses a call it never made.
func TestLearnThenRun(t *testing.T) {
	requireLearn(t)
	bin := buildSysward(t)
	dir := t.TempDir()
	prof := filepath.Join(dir, "p.json")
	work := []string{"sh", "-c", "ls / >/dev/null; cat /etc/hostname; echo ok"}
	if out, err := exec.Command(bin, append([]string{"learn", "-q", "-o", prof, "--"}, work...)...).CombinedOutput(); err != nil {
		t.Fatalf("learn: %v: %s", err, out)
	}
	out, err := exec.Command(bin, append([]string{"run", "--profile", prof, "--"}, work...)...).CombinedOutput()
	if err != nil || !strings.HasSuffix(string(out), "ok\n") || strings.Contains(string(out), "not permitted") {
		t.Fatalf("run under the learned profile: %v: %s", err, out)
	}
	fifo := filepath.Join(dir, "fifo")
	if out, err := exec.Command("mkfifo", fifo+"0").CombinedOutput(); err != nil {
		t.Fatalf("mkfifo without a profile: %v: %s", err, out)
	}
	out, err = exec.Command(bin, "run", "--profile", prof, "--", "mkfifo", fifo).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "not permitted") {
		t.Errorf("mkfifo under the learned profile: %v: %s, want EPERM", err, out)
	}
}

// TestLearnCLIInterrupt sends SIGINT to a real sysward binary learning
// `sleep 30`: the profile is still written, the sleep is killed and the
// cgroup removed.
func TestLearnCLIInterrupt(t *testing.T) {
	requireLearn(t)
	dir := t.TempDir()
	bin := buildSysward(t)
	mnt, _ := cgroups.Mountpoint()
	out := filepath.Join(dir, "p.json")
	var stderr bytes.Buffer
	cmd := exec.Command(bin, "learn", "-o", out, "--", "sleep", "30")
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// The session's cgroup is learn-<sysward's pid>-<n>-ns<pid namespace>.
	learnDirs := func() []string {
		m, _ := filepath.Glob(filepath.Join(mnt, "sysward", "learn-"+itoa(cmd.Process.Pid)+"-*"))
		return m
	}
	deadline := time.Now().Add(10 * time.Second)
	var cg string
	for cg == "" && time.Now().Before(deadline) {
		for _, d := range learnDirs() {
			if procs, _ := os.ReadFile(filepath.Join(d, "cgroup.procs")); len(procs) > 0 {
				cg = d
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	if cg == "" {
		cmd.Process.Kill()
		t.Fatalf("no populated learn cgroup appeared: %s", stderr.String())
	}
	time.Sleep(200 * time.Millisecond) // let sleep get to clock_nanosleep
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("sysward learn after SIGINT: %v: %s", err, stderr.String())
	}
	p, err := inputfile.Profile(out)
	if err != nil {
		t.Fatalf("profile after SIGINT: %v", err)
	}
	names := strings.Join(p.Names(), " ")
	if !strings.Contains(names, "execve") || !strings.Contains(names, "clock_nanosleep") {
		t.Errorf("profile %s lacks execve/clock_nanosleep", names)
	}
	if _, err := os.Stat(cg); !os.IsNotExist(err) {
		t.Errorf("cgroup %s left behind (%v)", cg, err)
	}
	if left := learnDirs(); len(left) != 0 {
		t.Errorf("learn cgroups left behind: %v", left)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
