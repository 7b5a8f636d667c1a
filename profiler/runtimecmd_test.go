package profiler

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sysward/sysward/internal/testutil"
	"github.com/sysward/sysward/profiles"
)

func TestDetectRuntimeCommand(t *testing.T) {
	for _, tc := range []struct {
		argv    []string
		runtime string // "" : not a container start
		verb    string
	}{
		{[]string{"runc", "run", "--bundle", "/b", "id"}, "runc", "run"},
		{[]string{"/usr/sbin/runc", "--root", "/run/x", "run", "id"}, "runc", "run"},
		{[]string{"runc", "--debug", "create", "id"}, "runc", "create"},
		{[]string{"runc", "exec", "id", "sh"}, "runc", "exec"},
		{[]string{"runc", "list"}, "", ""},
		{[]string{"runc", "--root", "run", "list"}, "runc", "run"}, // ambiguous: a verb wins
		{[]string{"crun", "run", "id"}, "crun", "run"},
		{[]string{"podman", "run", "--rm", "alpine", "true"}, "podman", "run"},
		{[]string{"podman", "--log-level", "debug", "run", "alpine"}, "podman", "run"},
		{[]string{"podman", "--log-level=debug", "container", "run", "alpine"}, "podman", "container run"},
		{[]string{"podman", "ps", "--filter", "name=run"}, "", ""},
		{[]string{"podman", "logs", "run"}, "", ""},
		{[]string{"podman", "kube", "play", "pod.yaml"}, "podman", "kube play"},
		{[]string{"podman", "container", "ls"}, "", ""},
		{[]string{"docker", "compose", "up"}, "docker", "compose up"},
		{[]string{"docker", "start", "-a", "web"}, "docker", "start"},
		{[]string{"nerdctl", "-n", "k8s.io", "run", "img"}, "nerdctl", "run"},
		{[]string{"ctr", "-n", "default", "run", "--rm", "img", "id"}, "ctr", "run"},
		{[]string{"ctr", "t", "start", "id"}, "ctr", "t start"},
		{[]string{"ctr", "images", "ls"}, "", ""},
		{[]string{"ctr", "task", "ls"}, "", ""},
		{[]string{"sh", "-c", "cd /b && exec runc run id"}, "runc", "run"},
		{[]string{"bash", "-c", "ls; podman ps"}, "", ""},
		{[]string{"sudo", "-u", "root", "runc", "run", "id"}, "runc", "run"},
		{[]string{"timeout", "60", "env", "A=1", "podman", "run", "img"}, "podman", "run"},
		{[]string{"sudo", "sh", "-c", "ctr run img id"}, "ctr", "run"},
		{[]string{"busybox", "sh", "-c", "runc run x"}, "runc", "run"},
		{[]string{"sudo", "runc", "list"}, "", ""},
		{[]string{"sh", "script-that-runs-runc.sh"}, "", ""}, // a script file is not read (documented)
		{[]string{"runc"}, "", ""},
		{[]string{"runc", "--", "run"}, "", ""},
		{[]string{"myrunc", "run"}, "", ""},
	} {
		t.Run(strings.Join(tc.argv, " "), func(t *testing.T) {
			rc := DetectRuntimeCommand(tc.argv, "")
			switch {
			case tc.runtime == "" && rc != nil:
				t.Fatalf("detected %s %s, want none", rc.Runtime, rc.Verb)
			case tc.runtime != "" && (rc == nil || rc.Runtime != tc.runtime || rc.Verb != tc.verb):
				t.Fatalf("detected %+v, want %s %s", rc, tc.runtime, tc.verb)
			}
		})
	}
}

// TestDetectRuntimeCommandSymlink: a runtime under another name is known
// by what its path resolves to (podman-docker's docker is podman).
func TestDetectRuntimeCommandSymlink(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "runc")
	if err := os.WriteFile(target, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "container-tool")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	if rc := DetectRuntimeCommand([]string{"container-tool", "run", "x"}, link); rc == nil || rc.Runtime != "runc" {
		t.Fatalf("got %+v, want runc run", rc)
	}
}

func FuzzDetectRuntimeCommand(f *testing.F) {
	f.Add("runc\x00run\x00--bundle\x00/b\x00id")
	f.Add("podman\x00--root\x00/r\x00run\x00--rm\x00img\x00sh\x00-c\x00echo 'x'")
	f.Add("ctr\x00t\x00start\x00id")
	f.Add("docker\x00container\x00run\x00-d")
	f.Add("sudo\x00sh\x00-c\x00cd /b && exec runc --root /r run -d id")
	f.Fuzz(func(t *testing.T, s string) {
		argv := strings.Split(s, "\x00")
		if len(argv) > 64 {
			argv = argv[:64]
		}
		rc := DetectRuntimeCommand(argv, "")
		if rc == nil {
			return
		}
		msg := (&RuntimeCommandError{Cmd: rc, Tool: "learn"}).Error()
		if !strings.Contains(msg, rc.Runtime) || !errors.Is(&RuntimeCommandError{Cmd: rc, Tool: "learn"}, ErrContainerRuntime) {
			t.Fatalf("message %q", msg)
		}
	})
}

// TestLearnRefusesRuntimeCommand: a detached run (the command returns
// before the container ends) cannot be followed: Learn refuses it before it
// loads or starts anything (no root needed to see it).
func TestLearnRefusesRuntimeCommand(t *testing.T) {
	testutil.Require(t, testutil.Binary("runc"))
	_, err := Learn(context.Background(), Target{Command: []string{"runc", "run", "--detach", "--bundle", "/nonexistent", "sw-never-started"}}, nil)
	var rce *RuntimeCommandError
	if !errors.Is(err, ErrContainerRuntime) || !errors.As(err, &rce) || rce.Cmd.Runtime != "runc" {
		t.Fatalf("Learn: %v, want ErrContainerRuntime", err)
	}
}

// TestLearnPodmanCreatedContainer follows what the refusal of `learn --
// podman run` says: podman create, podman init (the runtime's init sets up,
// installs the filter and waits), learn --container, podman start. The
// profile holds the container's calls (dup2 from the shell's redirection)
// and none of the runtime's set-up (mount, fchown, mkdirat).
func TestLearnPodmanCreatedContainer(t *testing.T) {
	requireBPF(t)
	testutil.Require(t, testutil.Runc, testutil.Binary("podman"))
	bundle := testutil.BusyboxBundle(t, []string{"true"}, nil)
	dir, err := os.MkdirTemp("", "sw-podman-") // podman wants a short runroot
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	allow := filepath.Join(dir, "allow.json")
	if err := os.WriteFile(allow, []byte(`{"defaultAction": "SCMP_ACT_ALLOW"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	podman := func(args ...string) *exec.Cmd {
		return exec.Command("podman", append([]string{"--root", filepath.Join(dir, "root"), "--runroot", filepath.Join(dir, "run"),
			"--cgroup-manager", "cgroupfs", "--events-backend", "none"}, args...)...)
	}
	raw, err := podman("create", "--runtime", "runc", "--network", "none", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=4096:4096",
		"--security-opt", "seccomp="+allow, "--rootfs", filepath.Join(bundle, "rootfs"),
		"/bin/sh", "-c", "echo hello 2>/dev/null; echo done").Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			err = errors.Join(err, errors.New(string(ee.Stderr)))
		}
		t.Fatalf("podman create: %v", err)
	}
	id := strings.TrimSpace(string(raw))
	defer podman("rm", "-f", id).Run() //nolint:errcheck
	if out, err := podman("init", id).CombinedOutput(); err != nil {
		t.Fatalf("podman init: %v: %s", err, out)
	}
	type result struct {
		res *Result
		err error
	}
	done := make(chan result, 1)
	tracking := make(chan struct{})
	go func() {
		res, err := Learn(context.Background(), Target{Container: id}, &LearnOptions{
			Duration: 60 * time.Second,
			Tracking: func(uint64, string) { close(tracking) },
		})
		done <- result{res, err}
	}()
	select {
	case <-tracking:
	case r := <-done:
		t.Fatalf("Learn ended before tracking: %v", r.err)
	}
	out, err := podman("start", "-a", id).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "hello\ndone") {
		t.Fatalf("podman start -a: %v: %q", err, out)
	}
	r := <-done
	if r.err != nil {
		t.Fatalf("Learn --container: %v", r.err)
	}
	got := names(r.res.Profile)
	for _, w := range []string{"dup2", "execve", "write", "exit_group"} {
		if !got[w] {
			t.Errorf("profile lacks the container's %s: %v", w, r.res.Profile.Names())
		}
	}
	for _, w := range []string{"mount", "fchown", "mkdirat", "pivot_root"} {
		if !got[w] {
			continue
		}
		// runc's runtime base holds fchown (a non-root process.user's
		// stdio, chowned under the filter): allowed from the base, never
		// learned from the runtime's set-up.
		var srcs []string
		if r.res.Profile.Sysward != nil {
			srcs = r.res.Profile.Sysward.Stats[w].Sources
		}
		fromBase := len(srcs) > 0
		for _, src := range srcs {
			fromBase = fromBase && profiles.SourceKind(src) == profiles.KindRuntimeBase
		}
		if w != "fchown" || !fromBase {
			t.Errorf("profile holds the runtime's set-up call %s (sources %v)", w, srcs)
		}
	}
}
