package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/sysward/sysward/internal/testutil"
)

// TestLearnContainerRuntimeCommand: `learn -- runc run …` and `learn --
// podman run …` used to exit 0 with a profile of the runtime's own calls
// (mount, fchown, mkdirat, none of the container's): the container runs in
// a cgroup of its own. They are refused with status 2, nothing started and
// no file written, and the message gives the exact commands that learn the
// container; --runtime-itself still learns the runtime.
func TestLearnContainerRuntimeCommand(t *testing.T) {
	requireLearn(t)
	testutil.Require(t, testutil.Runc, testutil.Binary("podman"))
	work := []string{"/bin/sh", "-c", "echo hi; cat /etc/hostname 2>/dev/null; true"}
	bundle := testutil.BusyboxBundle(t, work, func(s *specs.Spec) {
		s.Linux.Seccomp = &specs.LinuxSeccomp{DefaultAction: specs.ActAllow}
	})
	dir := t.TempDir()
	allow := filepath.Join(dir, "allow.json")
	if err := os.WriteFile(allow, []byte(`{"defaultAction": "SCMP_ACT_ALLOW"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	id := testutil.ContainerID(t)
	podman := []string{"podman", "--root", filepath.Join(dir, "root"), "--runroot", filepath.Join(dir, "run"),
		"--cgroup-manager", "cgroupfs", "--events-backend", "none"}
	podmanFlags := []string{"--runtime", "runc", "--network", "none", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=4096:4096",
		"--security-opt", "seccomp=" + allow, "--rootfs", filepath.Join(bundle, "rootfs")}
	podmanGlobal := strings.Join(podman, " ")
	for _, tc := range []struct {
		name string
		argv []string
		says []string
	}{
		{"runc run", []string{"runc", "run", "--bundle", bundle, id}, []string{
			"runc run: the command starts a container in a cgroup of its own",
			"\n  runc create --bundle " + bundle + " " + id + "\n",
			"\n  sysward learn --container " + id + " -o FILE &\n",
			"\n  runc start " + id + "\n",
		}},
		{"runc run --detach", []string{"runc", "--log-format", "json", "run", "-d", "--bundle", bundle, id}, []string{
			"\n  runc --log-format json create --bundle " + bundle + " " + id + "\n",
		}},
		{"podman run", append(append(append(podman, "run", "--rm"), podmanFlags...), work...), []string{
			"podman run: the command starts a container in a cgroup of its own",
			"\n  id=$(" + podmanGlobal + " create " + strings.Join(podmanFlags, " ") + " /bin/sh -c 'echo hi; cat /etc/hostname 2>/dev/null; true')\n",
			"\n  " + podmanGlobal + " init $id\n",
			"\n  sysward learn --container $id -o FILE &\n",
			"\n  " + podmanGlobal + " start -a $id\n",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "p.json")
			stdout, stderr, code := sysward(t, append([]string{"learn", "-q", "-o", out, "--"}, tc.argv...)...)
			_ = exec.Command("runc", "delete", "--force", id).Run()
			if code != 2 {
				t.Fatalf("exit %d, want 2 (refused)\nstdout %s\nstderr %s", code, stdout, stderr)
			}
			for _, s := range tc.says {
				if !strings.Contains(stderr, s) {
					t.Errorf("message lacks %q:\n%s", s, stderr)
				}
			}
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Errorf("a refused learn wrote %s (%v)", out, err)
			}
			if strings.Contains(stdout, "hi") {
				t.Errorf("the refused command ran: %q", stdout)
			}
		})
	}

	t.Run("--runtime-itself", func(t *testing.T) {
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
