package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/sysward/sysward/internal/inputfile"
	"github.com/sysward/sysward/internal/testutil"
	"github.com/sysward/sysward/profiles"
)

// TestLearnContainerRuntimeCommand: `learn -- runc run …` and `learn --
// podman run …` used to exit 0 with a profile of the runtime's own calls
// (mount, fchown, mkdirat) and none of the container's (dup2): the runtime
// moves the container into a cgroup of its own. Now sysward follows it
// there and learns the container from its filter on; the profile, enforced
// by the same runtime, runs the container. What cannot be followed (a
// detached run, a container without a seccomp profile) is refused with
// status 2 and the commands to run instead; --runtime-itself learns the
// runtime.
func TestLearnContainerRuntimeCommand(t *testing.T) {
	requireLearn(t)
	testutil.Require(t, testutil.Runc, testutil.Binary("podman"))
	work := []string{"/bin/sh", "-c", "echo hi; cat /etc/hostname 2>/dev/null; echo done"}
	allowAll := &specs.LinuxSeccomp{DefaultAction: specs.ActAllow}
	bundle := testutil.BusyboxBundle(t, work, func(s *specs.Spec) { s.Linux.Seccomp = allowAll })
	dir, err := os.MkdirTemp("", "sw-learnrt-") // podman wants a short runroot
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	allow := filepath.Join(dir, "allow.json")
	if err := os.WriteFile(allow, []byte(`{"defaultAction": "SCMP_ACT_ALLOW"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	podman := []string{"podman", "--root", filepath.Join(dir, "root"), "--runroot", filepath.Join(dir, "run"),
		"--cgroup-manager", "cgroupfs", "--events-backend", "none"}
	t.Cleanup(func() { exec.Command(podman[0], append(podman[1:], "rm", "--all", "--force")...).Run() }) //nolint:errcheck
	podmanRun := func(seccomp string) []string {
		args := append(append([]string{}, podman...), "run", "--rm", "--runtime", "runc", "--network", "none",
			"--ulimit", "nofile=1024:1024", "--ulimit", "nproc=4096:4096",
			"--security-opt", "seccomp="+seccomp, "--rootfs", filepath.Join(bundle, "rootfs"))
		return append(args, work...)
	}

	// learned learns argv and checks the profile is the container's.
	learned := func(t *testing.T, argv []string) string {
		t.Helper()
		out := filepath.Join(t.TempDir(), "p.json")
		stdout, stderr, code := sysward(t, append([]string{"learn", "-q", "-o", out, "--"}, argv...)...)
		if code != 0 {
			t.Fatalf("learn: exit %d\nstdout %s\nstderr %s", code, stdout, stderr)
		}
		p, err := inputfile.Profile(out)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]bool{}
		for _, n := range p.Names() {
			got[n] = true
		}
		var bad []string
		for _, w := range []string{"dup2", "execve", "write", "exit_group"} {
			if !got[w] {
				bad = append(bad, "lacks the container's "+w)
			}
		}
		for _, w := range []string{"mount", "fchown", "mkdirat", "pivot_root", "clone3"} {
			if !got[w] {
				continue
			}
			// runc's runtime base holds fchown (a non-root process.user's
			// stdio, chowned under the filter): allowed from the base,
			// never learned from the runtime's set-up.
			var srcs []string
			if p.Sysward != nil {
				srcs = p.Sysward.Stats[w].Sources
			}
			fromBase := len(srcs) > 0
			for _, src := range srcs {
				fromBase = fromBase && profiles.SourceKind(src) == profiles.KindRuntimeBase
			}
			if w != "fchown" || !fromBase {
				bad = append(bad, fmt.Sprintf("holds the runtime's own %s (sources %v)", w, srcs))
			}
		}
		if len(bad) > 0 { // enforcing it would be pointless (main: the container spun)
			t.Fatalf("the learned profile %s: %v", strings.Join(bad, ", "), p.Names())
		}
		return out
	}

	t.Run("runc run", func(t *testing.T) {
		prof := learned(t, []string{"runc", "run", "--bundle", bundle, testutil.ContainerID(t)})
		raw, err := os.ReadFile(prof)
		if err != nil {
			t.Fatal(err)
		}
		var sc specs.LinuxSeccomp
		if err := json.Unmarshal(raw, &sc); err != nil {
			t.Fatal(err)
		}
		enforced := testutil.BusyboxBundle(t, work, func(s *specs.Spec) { s.Linux.Seccomp = &sc })
		id := testutil.ContainerID(t)
		defer exec.Command("runc", "delete", "--force", id).Run() //nolint:errcheck
		out, err := bounded(exec.Command("runc", "run", "--bundle", enforced, id))
		if err != nil || !strings.Contains(out, "hi\n") || !strings.HasSuffix(out, "done\n") || strings.Contains(out, "not permitted") {
			t.Fatalf("runc run under the learned profile: %v, output %q", err, out)
		}
	})

	t.Run("podman run", func(t *testing.T) {
		prof := learned(t, podmanRun(allow))
		out, err := bounded(exec.Command(podmanRun(prof)[0], podmanRun(prof)[1:]...))
		if err != nil || !strings.Contains(out, "hi\n") || !strings.HasSuffix(out, "done\n") || strings.Contains(out, "not permitted") {
			t.Fatalf("podman run under the learned profile: %v, output %q", err, out)
		}
	})

	noSeccomp := testutil.BusyboxBundle(t, work, nil)
	for _, tc := range []struct {
		name string
		argv []string
		says []string
	}{
		{"runc run --detach", []string{"runc", "--log-format", "json", "run", "-d", "--bundle", bundle, "sw-never-started"}, []string{
			"a detached container cannot be followed: runc run: the command starts a container in a cgroup of its own",
			"\n  runc --log-format json create --bundle " + bundle + " sw-never-started\n",
			"\n  sysward learn --container sw-never-started -o FILE &\n",
			"\n  runc --log-format json start sw-never-started\n",
		}},
		{"no seccomp profile", []string{"runc", "run", "--bundle", noSeccomp, "sw-noseccomp"}, []string{
			"no container learned: nothing ran under a seccomp filter there (give the container an allow-all profile",
		}},
		{"podman run --detach", append(append(append([]string{}, podman...), "run", "-d", "--rm"), work...), []string{
			"\n  id=$(" + strings.Join(podman, " ") + " create /bin/sh -c 'echo hi; cat /etc/hostname 2>/dev/null; echo done')\n",
			"\n  " + strings.Join(podman, " ") + " init $id\n",
			"\n  sysward learn --container $id -o FILE &\n",
			"\n  " + strings.Join(podman, " ") + " start -a $id\n",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "p.json")
			stdout, stderr, code := sysward(t, append([]string{"learn", "-q", "-o", out, "--"}, tc.argv...)...)
			if code != 2 {
				t.Fatalf("exit %d, want 2\nstdout %s\nstderr %s", code, stdout, stderr)
			}
			for _, s := range tc.says {
				if !strings.Contains(stderr, s) {
					t.Errorf("message lacks %q:\n%s", s, stderr)
				}
			}
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Errorf("a refused learn wrote %s (%v)", out, err)
			}
		})
	}

	t.Run("--runtime-itself", func(t *testing.T) {
		id := testutil.ContainerID(t)
		out := filepath.Join(t.TempDir(), "runc.json")
		_, stderr, code := sysward(t, "learn", "-q", "--runtime-itself", "-o", out, "--", "runc", "run", "--bundle", bundle, id)
		_ = exec.Command("runc", "delete", "--force", id).Run()
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		raw, err := os.ReadFile(out)
		if err != nil || !strings.Contains(string(raw), `"mount"`) {
			t.Errorf("--runtime-itself: want runc's own calls (mount) in the profile, got %v\n%s", err, raw)
		}
	})
}

// bounded runs cmd and returns its combined output. A container under a
// wrong profile can spin instead of failing (what main's profiles did): it
// is stopped after a minute, so the test fails instead of hanging.
func bounded(cmd *exec.Cmd) (string, error) {
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if err := cmd.Start(); err != nil {
		return "", err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return buf.String(), err
	case <-time.After(time.Minute):
		cmd.Process.Kill()
		<-done
		return buf.String(), errors.New("still running after a minute (spinning under the profile?)")
	}
}
