package procinfo

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/sysward/sysward/internal/testutil"
)

// TestReaderRuncContainer runs a real runc container whose process runs as a
// user that only the container's /etc/passwd names, and checks that the
// Reader recognises the container from the cgroup path and names the user
// from the container's passwd, not the host's.
func TestReaderRuncContainer(t *testing.T) {
	testutil.Require(t, testutil.Runc, testutil.Cgroup2)
	const uid = 4242
	bundle := testutil.BusyboxBundle(t, []string{"sleep", "30"}, func(s *specs.Spec) {
		s.Process.User = specs.User{UID: uid, GID: uid}
	})
	if err := os.WriteFile(filepath.Join(bundle, "rootfs", "etc", "passwd"),
		[]byte("root:x:0:0:root:/root:/bin/sh\nwardtest:x:4242:4242::/:/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bundle, "rootfs", "etc", "group"), []byte("wardgrp:x:4242:\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	id := testutil.ContainerID(t)
	run := exec.Command("runc", "run", "--bundle", bundle, id)
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = exec.Command("runc", "kill", id, "KILL").Run()
		_ = run.Wait()
		_ = exec.Command("runc", "delete", "--force", id).Run()
	})
	var pid int
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		out, err := exec.Command("runc", "state", id).Output()
		if err == nil && strings.Contains(string(out), `"status": "running"`) {
			for _, line := range strings.Split(string(out), "\n") {
				if v, ok := strings.CutPrefix(strings.TrimSpace(line), `"pid": `); ok {
					pid, _ = strconv.Atoi(strings.TrimSuffix(v, ","))
				}
			}
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if pid == 0 {
		t.Fatalf("container %s never ran", id)
	}
	// runc says "running" once it told its init to exec the entrypoint;
	// the exec itself may come a moment later (runc:[2:INIT] until then).
	for time.Now().Before(deadline) {
		comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
		if strings.TrimSpace(string(comm)) == "sleep" {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	p, err := New(nil).Get(pid)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("container process: cgroup %q container %+v user %q", p.Cgroup, p.Container, p.User)
	if p.Container.ID != id || p.Container.Runtime != RuntimeRunc {
		t.Errorf("container = %+v, want runc %s (cgroup %q)", p.Container, id, p.Cgroup)
	}
	if p.UID != uid || p.User != "wardtest" || p.Group != "wardgrp" {
		t.Errorf("user = %d %q group %q, want %d wardtest wardgrp", p.UID, p.User, p.Group, uid)
	}
	if p.Name != "sleep" || p.Cmdline() != "sleep 30" {
		t.Errorf("process %q %q", p.Name, p.Cmdline())
	}
}
