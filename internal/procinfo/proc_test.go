package procinfo

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestReaderSelf(t *testing.T) {
	r := New(nil)
	p, err := r.Get(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	exe, _ := os.Executable()
	wd, _ := os.Getwd()
	if p.ExePath != exe {
		t.Errorf("ExePath = %q, want %q", p.ExePath, exe)
	}
	if p.Exe != os.Args[0] || strings.Join(p.Args, " ") != strings.Join(os.Args[1:], " ") {
		t.Errorf("Exe %q Args %q, want %q", p.Exe, p.Args, os.Args)
	}
	if p.Cwd != wd {
		t.Errorf("Cwd = %q, want %q", p.Cwd, wd)
	}
	if p.UID != uint32(os.Geteuid()) || p.GID != uint32(os.Getegid()) {
		t.Errorf("uid/gid = %d/%d", p.UID, p.GID)
	}
	if os.Geteuid() == 0 && p.User != "root" {
		t.Errorf("User = %q, want root", p.User)
	}
	if p.PPID != os.Getppid() || len(p.Ancestors) == 0 || p.Ancestors[0].PID != os.Getppid() {
		t.Errorf("PPID %d ancestors %+v, want parent %d", p.PPID, p.Ancestors, os.Getppid())
	}
	if p.Cgroup == "" || p.Container.ID != "" {
		t.Errorf("Cgroup %q Container %+v", p.Cgroup, p.Container)
	}
	if !strings.HasPrefix(p.Cmdline(), p.Name) {
		t.Errorf("Cmdline %q does not start with the name %q", p.Cmdline(), p.Name)
	}
}

// startShell runs sh -c script with a stdin pipe and returns the process.
func startShell(t *testing.T, script string) (*exec.Cmd, io.WriteCloser) {
	t.Helper()
	cmd := exec.Command("/bin/sh", "-c", script, "sh-test", "arg1")
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return cmd, in
}

func waitComm(t *testing.T, pid int, want string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
		if strings.TrimSpace(string(b)) == want {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("pid %d never became %q", pid, want)
}

func TestReaderExecInvalidation(t *testing.T) {
	cmd, in := startShell(t, "read x; exec sleep 30")
	pid := cmd.Process.Pid
	r := New(&Options{Revalidate: time.Hour})
	p, err := r.Get(pid)
	if err != nil {
		t.Fatal(err)
	}
	if p.Name != "sh" || p.ExePath == "" || len(p.Args) < 2 || p.Args[0] != "-c" {
		t.Fatalf("before exec: %+v", p)
	}
	if p.Ancestors[0].PID != os.Getpid() {
		t.Fatalf("parent %+v, want the test (%d)", p.Ancestors[0], os.Getpid())
	}
	fmt.Fprintln(in, "go")
	waitComm(t, pid, "sleep")

	// The cache trusts its entry until told about the exec...
	if p2, _ := r.Get(pid); p2.Name != "sh" {
		t.Fatalf("cache not used: %q", p2.Name)
	}
	// ...and re-reads after Invalidate.
	r.Invalidate(pid)
	p3, err := r.Get(pid)
	if err != nil {
		t.Fatal(err)
	}
	if p3.Name != "sleep" || p3.Cmdline() != "sleep 30" || !strings.HasSuffix(p3.ExePath, "/sleep") {
		t.Fatalf("after exec: name %q cmdline %q exe %q", p3.Name, p3.Cmdline(), p3.ExePath)
	}
	if s := r.Stats(); s.Invalidated != 1 || s.Hits < 1 {
		t.Fatalf("stats %+v", s)
	}
}

func TestReaderAncestors(t *testing.T) {
	cmd, _ := startShell(t, "sleep 30; true")
	shPID := cmd.Process.Pid
	var sleepPID int
	deadline := time.Now().Add(5 * time.Second)
	for sleepPID == 0 && time.Now().Before(deadline) {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", shPID, shPID))
		if f := strings.Fields(string(b)); len(f) > 0 {
			sleepPID, _ = strconv.Atoi(f[0])
			waitComm(t, sleepPID, "sleep")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if sleepPID == 0 {
		t.Fatal("sleep never started")
	}
	p, err := New(nil).Get(sleepPID)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Ancestors) < 2 {
		t.Fatalf("ancestors %+v", p.Ancestors)
	}
	if a := p.Ancestors[0]; a.PID != shPID || a.Name != "sh" || a.Cmdline != "sh -c sleep 30; true sh-test arg1" {
		t.Errorf("parent %+v", a)
	}
	if a := p.Ancestors[1]; a.PID != os.Getpid() {
		t.Errorf("grandparent %+v, want the test %d", a, os.Getpid())
	}
}

func TestReaderExited(t *testing.T) {
	cmd := exec.Command("/bin/true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	p, err := New(nil).Get(cmd.Process.Pid)
	if !errors.Is(err, ErrExited) {
		t.Fatalf("err = %v, want ErrExited", err)
	}
	if p == nil || !p.Exited || p.PID != cmd.Process.Pid {
		t.Fatalf("partial process %+v", p)
	}
}

// TestReaderPidReuse uses a procfs tree written by the test (pure cache
// logic; the real /proc cannot be made to recycle a pid on demand).
func TestReaderPidReuse(t *testing.T) {
	root := t.TempDir()
	write := func(comm string, start int, cmdline string) {
		dir := filepath.Join(root, "77")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		stat := fmt.Sprintf("77 (%s) S 1 77 77 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 %d 0 0", comm, start)
		for name, data := range map[string]string{"stat": stat, "cmdline": cmdline, "status": "Uid:\t5\t5\t5\t5\nGid:\t6\t6\t6\t6\n", "cgroup": "0::/\n"} {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	write("old", 100, "old\x00a\x00")
	r := New(&Options{ProcRoot: root, HostRoot: root, Revalidate: time.Millisecond, MaxAncestors: -1})
	p, err := r.Get(77)
	if err != nil || p.Name != "old" || p.UID != 5 || p.GID != 6 {
		t.Fatalf("%+v %v", p, err)
	}
	time.Sleep(2 * time.Millisecond)
	if p, _ := r.Get(77); p.Name != "old" {
		t.Fatalf("same start time must keep the entry: %q", p.Name)
	}
	write("new", 200, "new\x00b\x00")
	time.Sleep(2 * time.Millisecond)
	if p, _ := r.Get(77); p.Name != "new" || p.Cmdline() != "new b" {
		t.Fatalf("recycled pid not re-read: %+v", p)
	}
}

// TestReaderNoteExited: what an event noted stands in for a process that is
// gone, and its ancestry continues through the live parent.
func TestReaderNoteExited(t *testing.T) {
	cmd := exec.Command("/bin/true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	r := New(nil)
	r.Note(cmd.Process.Pid, Known{PPID: os.Getpid(), Name: "true"})
	r.Note(cmd.Process.Pid, Known{ExePath: "/bin/true"}) // merges with the first note
	p, err := r.Get(cmd.Process.Pid)
	if !errors.Is(err, ErrExited) {
		t.Fatalf("err = %v", err)
	}
	if p.Name != "true" || p.ExePath != "/bin/true" || p.PPID != os.Getpid() || len(p.Ancestors) == 0 || p.Ancestors[0].PID != os.Getpid() {
		t.Fatalf("partial %+v", p)
	}
}

// TestReaderZombie: a process that exited but is not reaped yet (a zombie:
// /proc/PID/stat still readable, exe and cmdline empty) is a gone process,
// not a live one with no command line: Get answers from what the kernel's
// events noted, and does not cache the empty read. Seen as a short-lived
// `mkdir a b c` alerting with proc.cmdline "mkdir" and an empty exepath on
// the events after its exec.
func TestReaderZombie(t *testing.T) {
	cmd := exec.Command("/bin/true", "zombie-arg")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait() //nolint:errcheck // reaps the zombie
	pid := cmd.Process.Pid
	// Wait (without reaping) until the child has exited: waitid WNOWAIT.
	var info unix.Siginfo
	if err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil); err != nil {
		t.Fatal(err)
	}
	r := New(nil)
	r.Note(pid, Known{PPID: os.Getpid(), Name: "true", ExePath: "/usr/bin/true", Exe: "/bin/true", Args: []string{"zombie-arg"}})
	for i := 0; i < 2; i++ { // the second Get must not come from a cached empty read
		p, err := r.Get(pid)
		if !errors.Is(err, ErrExited) {
			t.Fatalf("Get %d: err = %v, want ErrExited for a zombie (%+v)", i, err, p)
		}
		if !p.Exited || p.Cmdline() != "true zombie-arg" || p.ExePath != "/usr/bin/true" {
			t.Fatalf("Get %d: %+v, want the noted command line and exe path", i, p)
		}
	}
}
