package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sysward/sysward/internal/cgroups"
	"github.com/sysward/sysward/internal/testutil"
)

// TestKilledSyswardLeavesNoWorkload: when the sysward that started a
// workload in its own cgroup (watch -- CMD, learn -- CMD, run --watch --
// CMD) is SIGKILLed, the command it started dies with it (PDEATHSIG, at
// once), and what that command forked is killed and the cgroup removed by
// the next sysward that starts a command.
func TestKilledSyswardLeavesNoWorkload(t *testing.T) {
	requireLearn(t)
	testutil.Require(t, testutil.Binary("sh"), testutil.Binary("sleep"))
	mnt, err := cgroups.Mountpoint()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	allowAll := filepath.Join(dir, "allow.json")
	if err := os.WriteFile(allowAll, []byte(`{"defaultAction": "SCMP_ACT_ALLOW"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	// The direct child execs into `sleep 1001`; `sleep 1000` is its own
	// child, which PDEATHSIG does not reach.
	work := []string{"sh", "-c", "sleep 1000 & exec sleep 1001"}
	for _, tc := range []struct {
		name, kind string
		args       []string
	}{
		{"watch", "watch", []string{"watch", "--profile", allowAll}},
		{"learn", "learn", []string{"learn", "-q", "-o", filepath.Join(dir, "learned.json")}},
		{"run --watch", "watch", []string{"run", "--profile", allowAll, "--watch"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw, _ := json.Marshal(append(append(tc.args, "--"), work...))
			sw := exec.Command(os.Args[0], "-test.run=^$")
			sw.Env = append(os.Environ(), cliArgsEnv+"="+string(raw))
			// A file, not a pipe: the orphaned sleep keeps its copy open.
			logf, err := os.Create(filepath.Join(t.TempDir(), "stderr"))
			if err != nil {
				t.Fatal(err)
			}
			defer logf.Close()
			sw.Stdout, sw.Stderr = logf, logf
			if err := sw.Start(); err != nil {
				t.Fatal(err)
			}
			var cg string
			var child, grandchild int
			for deadline := time.Now().Add(30 * time.Second); (child == 0 || grandchild == 0) && time.Now().Before(deadline); {
				time.Sleep(20 * time.Millisecond)
				m, _ := filepath.Glob(filepath.Join(mnt, "sysward", tc.kind+"-"+strconv.Itoa(sw.Process.Pid)+"-1*"))
				if len(m) != 1 {
					continue
				}
				cg = m[0]
				procs, _ := os.ReadFile(filepath.Join(cg, "cgroup.procs"))
				for _, f := range strings.Fields(string(procs)) {
					pid, _ := strconv.Atoi(f)
					switch cmdline(pid) {
					case "sleep 1001":
						child = pid
					case "sleep 1000":
						grandchild = pid
					}
				}
			}
			if child == 0 || grandchild == 0 {
				sw.Process.Kill()
				sw.Wait()
				log, _ := os.ReadFile(logf.Name())
				t.Fatalf("the workload did not start in %s: %s", cg, log)
			}
			defer syscall.Kill(grandchild, syscall.SIGKILL)

			if err := sw.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			sw.Wait()
			// The kernel sends SIGKILL to the child when its parent dies:
			// waiting for it to go is waiting for an event, not a delay.
			for deadline := time.Now().Add(10 * time.Second); alive(child) && time.Now().Before(deadline); {
				time.Sleep(10 * time.Millisecond)
			}
			if alive(child) {
				syscall.Kill(child, syscall.SIGKILL)
				t.Fatalf("the command sysward started (pid %d) outlived sysward", child)
			}
			if !alive(grandchild) {
				t.Fatalf("the command's own child %d died with sysward: the next start's sweep is not tested", grandchild)
			}

			// The next sysward to start a command removes the stale cgroup
			// and kills what is left in it.
			if _, stderr, code := sysward(t, "watch", "--profile", allowAll, "--", "true"); code != 0 {
				t.Fatalf("next start: exit %d: %s", code, stderr)
			}
			if _, err := os.Stat(cg); !os.IsNotExist(err) {
				t.Errorf("stale cgroup %s left behind after the next start (%v)", cg, err)
			}
			if alive(grandchild) {
				t.Errorf("process %d of the stale cgroup still runs after the next start", grandchild)
			}
		})
	}
}

// cmdline is a process's command line, arguments joined by spaces.
func cmdline(pid int) string {
	raw, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	return strings.TrimSpace(string(bytes.ReplaceAll(raw, []byte{0}, []byte{' '})))
}

// alive reports whether pid exists and is not a zombie waiting for its
// reaper.
func alive(pid int) bool {
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(raw)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || (s[i+2] != 'Z' && s[i+2] != 'X')
}
