package profiler

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sysward/sysward/internal/testutil"
)

// startContainerd runs a private containerd (its own root, state and socket
// under a temp dir) and returns a ctr command builder. The runc shim still
// keeps its state under /run/containerd/runc/<namespace>/<id>, which is what
// ResolveContainer searches.
func startContainerd(t *testing.T) func(args ...string) *exec.Cmd {
	t.Helper()
	dir, err := os.MkdirTemp("", "swctd") // short: the socket path is limited to 108 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "sock")
	cfg := fmt.Sprintf(`version = 2
root = %q
state = %q
[grpc]
  address = %q
[ttrpc]
  address = %q
[debug]
  address = ""
[metrics]
  address = ""
`, filepath.Join(dir, "root"), filepath.Join(dir, "state"), sock, sock+".ttrpc")
	if err := os.WriteFile(filepath.Join(dir, "config.toml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(dir, "log"))
	if err != nil {
		t.Fatal(err)
	}
	d := exec.Command("containerd", "--config", filepath.Join(dir, "config.toml"))
	d.Stdout, d.Stderr = logf, logf
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		d.Process.Kill()
		d.Wait()
		logf.Close()
	})
	ctr := func(args ...string) *exec.Cmd {
		return exec.Command("ctr", append([]string{"-a", sock, "-n", "sysward-profiler"}, args...)...)
	}
	deadline := time.Now().Add(15 * time.Second)
	for ctr("version").Run() != nil {
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(logf.Name())
			t.Fatalf("containerd did not start: %s", log)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return ctr
}

// TestLearnContainerdContainer learns a running containerd container by an
// id prefix.
func TestLearnContainerdContainer(t *testing.T) {
	requireBPF(t)
	testutil.Require(t, testutil.Runc, testutil.Binary("containerd"), testutil.Binary("ctr"))
	ctr := startContainerd(t)
	bundle := testutil.BusyboxBundle(t, []string{"true"}, nil)
	id := testutil.ContainerID(t)
	if out, err := ctr("run", "-d", "--rootfs", filepath.Join(bundle, "rootfs"), id,
		"/bin/sh", "-c", "while true; do cat /etc/hostname >/dev/null; sleep 0.05; done").CombinedOutput(); err != nil {
		t.Fatalf("ctr run: %v: %s", err, out)
	}
	t.Cleanup(func() {
		ctr("task", "kill", "-s", "KILL", id).Run()
		for i := 0; i < 50 && ctr("container", "rm", id).Run() != nil; i++ {
			time.Sleep(100 * time.Millisecond)
		}
	})
	if _, err := os.Stat(filepath.Join("/run/containerd/runc/sysward-profiler", id, "state.json")); err != nil {
		t.Fatalf("containerd's runc state is not where ResolveContainer looks: %v", err)
	}
	res, err := Learn(context.Background(), Target{Container: id[:len(id)-3]}, &LearnOptions{Duration: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if res.Stop != StopDuration {
		t.Errorf("stop %q", res.Stop)
	}
	got := names(res.Profile)
	for _, w := range []string{"openat", "sendfile", "wait4", "clock_nanosleep", "execve"} {
		if !got[w] {
			t.Errorf("profile lacks %s: %v", w, res.Profile.Names())
		}
	}
	if w := res.Profile.Sysward.Provenance[0].Workload; w != id {
		t.Errorf("workload %q, want %q", w, id)
	}
	// ctr's default spec has no seccomp profile: sysward says so.
	if len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], "no seccomp profile") {
		t.Errorf("warnings %v", res.Warnings)
	}
}
