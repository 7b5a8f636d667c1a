package enforcer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
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

// containerProfile allows every syscall of the native architecture except
// mkdir and mkdirat, as an allowlist (default ERRNO): what a learned
// profile of a workload that never creates directories looks like to the
// kernel, without having to learn runc's and busybox's exact set here.
func containerProfile() *profiles.Profile {
	arch := profiles.NativeArch()
	p := profiles.New(profiles.ActErrno, arch)
	for _, n := range profiles.Syscalls(arch) {
		if n != "mkdir" && n != "mkdirat" {
			p.Allow(n)
		}
	}
	return p
}

const containerScript = "echo started; mkdir /tmp/x; echo rc=$?"

func checkRefused(t *testing.T, out string) {
	t.Helper()
	if !strings.Contains(out, "started") || !strings.Contains(out, "Operation not permitted") || !strings.Contains(out, "rc=1") {
		t.Fatalf("want the container to start and mkdir to fail with EPERM, got:\n%s", out)
	}
}

func TestRuncEnforcesProfile(t *testing.T) {
	testutil.Require(t, testutil.Runc)
	bundle := testutil.BusyboxBundle(t, []string{"sh", "-c", containerScript}, nil)
	if err := ApplyToBundle(bundle, containerProfile()); err != nil {
		t.Fatal(err)
	}
	out, code := testutil.RunRunc(t, bundle, testutil.ContainerID(t))
	if code != 0 {
		t.Fatalf("runc: status %d: %s", code, out)
	}
	checkRefused(t, out)

	// Control: with mkdir allowed the same container creates the directory.
	allow := containerProfile()
	allow.Allow("mkdir", "mkdirat")
	bundle = testutil.BusyboxBundle(t, []string{"sh", "-c", containerScript}, func(s *specs.Spec) {
		if err := ApplyToSpec(s, allow); err != nil {
			t.Fatal(err)
		}
	})
	out, _ = testutil.RunRunc(t, bundle, testutil.ContainerID(t))
	if !strings.Contains(out, "rc=0") {
		t.Fatalf("control container: %s", out)
	}
}

// TestCtrEnforcesProfile starts its own containerd (temporary root, state
// and socket; CRI disabled) and runs a busybox rootfs with
// `ctr run --rootfs --seccomp --seccomp-profile`.
func TestCtrEnforcesProfile(t *testing.T) {
	testutil.Require(t, testutil.Runc, testutil.Binary("containerd"), testutil.Binary("ctr"), testutil.Binary("containerd-shim-runc-v2"))
	bundle := testutil.BusyboxBundle(t, []string{"true"}, nil)
	rootfs := filepath.Join(bundle, "rootfs")
	dir, err := os.MkdirTemp("", "sw-ctr-") // short: the socket path must fit sun_path
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "c.sock")
	cfg := filepath.Join(dir, "config.toml")
	conf := fmt.Sprintf("version = 2\nroot = %q\nstate = %q\ndisabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n[grpc]\n  address = %q\n[ttrpc]\n  address = %q\n",
		filepath.Join(dir, "root"), filepath.Join(dir, "state"), sock, sock+".ttrpc")
	if err := os.WriteFile(cfg, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var logs bytes.Buffer
	cd := exec.CommandContext(ctx, "containerd", "--config", cfg)
	cd.Stdout, cd.Stderr = &logs, &logs
	if err := cd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cd.Wait()
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.Dial("unix", sock)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("containerd did not listen on %s: %v\n%s", sock, err, logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	profile := filepath.Join(dir, "profile.json")
	if err := WriteRuntimeFile(profile, containerProfile()); err != nil {
		t.Fatal(err)
	}
	id := testutil.ContainerID(t)
	args := append([]string{"--address", sock, "--namespace", "sysward-test", "run", "--rm", "--rootfs"}, CtrArgs(profile)...)
	args = append(args, "--env", "PATH=/bin", rootfs, id, "/bin/sh", "-c", containerScript)
	runCtx, runCancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer runCancel()
	cmd := exec.CommandContext(runCtx, "ctr", args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Fatalf("ctr run: %v", err)
		}
		t.Fatalf("ctr run: %v: %s\ncontainerd:\n%s", err, out, logs.String())
	}
	checkRefused(t, string(out))
}

// TestPodmanEnforcesProfile runs the busybox rootfs with
// `podman run --rootfs --security-opt seccomp=FILE`, with its own storage
// root and run root (no image, no network, cgroupfs, no events journal).
// The rlimits are lowered explicitly: podman's defaults raise
// NOFILE/NPROC above the caller's, which needs CAP_SYS_RESOURCE.
func TestPodmanEnforcesProfile(t *testing.T) {
	testutil.Require(t, testutil.Runc, testutil.Binary("podman"))
	bundle := testutil.BusyboxBundle(t, []string{"true"}, nil)
	dir, err := os.MkdirTemp("", "sw-podman-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	profile := filepath.Join(dir, "profile.json")
	if err := WriteRuntimeFile(profile, containerProfile()); err != nil {
		t.Fatal(err)
	}
	args := []string{"--root", filepath.Join(dir, "root"), "--runroot", filepath.Join(dir, "run"),
		"--cgroup-manager", "cgroupfs", "--events-backend", "none",
		"run", "--rm", "--network", "none", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=4096:4096"}
	args = append(args, PodmanArgs(profile)...)
	args = append(args, "--rootfs", filepath.Join(bundle, "rootfs"), "/bin/sh", "-c", containerScript)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "podman", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("podman run: %v: %s", err, out)
	}
	checkRefused(t, string(out))
}

func TestRuntimeArgs(t *testing.T) {
	if got := strings.Join(CtrArgs("/p.json"), " "); got != "--seccomp --seccomp-profile /p.json" {
		t.Fatal(got)
	}
	if got := strings.Join(PodmanArgs("/p.json"), " "); got != "--security-opt seccomp=/p.json" {
		t.Fatal(got)
	}
}

func TestInstallKubelet(t *testing.T) {
	root := t.TempDir()
	p := lsProfile(t)
	p.Sysward = &profiles.Metadata{Provenance: []profiles.Provenance{{Tool: "sysward test", Workload: "ls"}}}
	in, err := Install(p, InstallOptions{Root: root, Namespace: "Prod", Name: "web/ls"})
	if err != nil {
		t.Fatal(err)
	}
	wantPrefix := "sysward/prod-web-ls-"
	if !strings.HasPrefix(in.LocalhostProfile, wantPrefix) || len(in.Hash) != 12 || in.Path != filepath.Join(root, in.LocalhostProfile) {
		t.Fatalf("installed %+v", in)
	}
	back, err := inputfile.Profile(in.Path)
	if err != nil {
		t.Fatal(err)
	}
	if back.Sysward != nil || len(back.Syscalls) != len(p.Syscalls) {
		t.Fatalf("installed content: %+v", back)
	}
	if !strings.Contains(in.SecurityContext(), "localhostProfile: "+in.LocalhostProfile) || !strings.Contains(in.SecurityContext(), "type: Localhost") {
		t.Fatal(in.SecurityContext())
	}

	// Metadata changes do not change the file; installing again is a no-op.
	p.Sysward.Provenance[0].Workload = "ls -l"
	again, err := Install(p, InstallOptions{Root: root, Namespace: "Prod", Name: "web/ls"})
	if err != nil || !again.Unchanged || again.Path != in.Path {
		t.Fatalf("reinstall: %+v %v", again, err)
	}
	// An enforcement change is a new file; the old one is untouched.
	before, _ := os.ReadFile(in.Path)
	changed, err := Install(without(p, "getdents64"), InstallOptions{Root: root, Namespace: "Prod", Name: "web/ls"})
	if err != nil || changed.Path == in.Path || changed.Unchanged {
		t.Fatalf("changed install: %+v %v", changed, err)
	}
	after, _ := os.ReadFile(in.Path)
	if !bytes.Equal(before, after) {
		t.Fatal("old profile modified")
	}
	// A tampered file under the same name is never overwritten.
	if err := os.WriteFile(in.Path, []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Install(p, InstallOptions{Root: root, Namespace: "Prod", Name: "web/ls"}); !errors.Is(err, ErrInstalledDiffers) {
		t.Fatalf("tampered: %v", err)
	}
	// Bad input writes nothing.
	bad := lsProfile(t)
	bad.Syscalls[0].Names = append(bad.Syscalls[0].Names, "getpdi")
	if _, err := Install(bad, InstallOptions{Root: filepath.Join(root, "bad")}); !IsBadInput(err) {
		t.Fatalf("bad profile: %v", err)
	}
	if _, err := os.Stat(filepath.Join(root, "bad")); !os.IsNotExist(err) {
		t.Fatal("bad install created files")
	}
	entries, _ := os.ReadDir(filepath.Join(root, KubeletSubdir))
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			t.Fatalf("temporary file left: %s", e.Name())
		}
	}
}
