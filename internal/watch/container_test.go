package watch

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sysward/sysward/detector/output"
	"github.com/sysward/sysward/internal/testutil"
)

// TestWatchRuncContainer watches a running runc container by id: the
// deviation alert carries the container id and the user from the
// container's passwd, and the session ends when the container exits.
func TestWatchRuncContainer(t *testing.T) {
	requireWatch(t)
	testutil.Require(t, testutil.Runc)
	bundle := testutil.BusyboxBundle(t, []string{"sh", "-c", "sleep 1; sync; sleep 0.5"}, nil)
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
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, _ := exec.Command("runc", "state", id).Output()
		if strings.Contains(string(out), `"status": "running"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("container %s never ran", id)
		}
		time.Sleep(20 * time.Millisecond)
	}
	res, out := session(t, Config{Profile: allowAllBut("sync"), Rules: testRules(t), Mode: ModeWatch, Format: output.FormatJSON},
		Target{Container: id[:len(id)-2]}) // a unique prefix is enough
	as := detailed(out.alerts(t), "Syscall outside profile")
	if len(as) != 1 {
		t.Fatalf("alerts %+v", as)
	}
	a := as[0]
	if a.field("container.id") != id || a.field("sysward.workload") != id || a.field("user.name") != "root" || a.field("evt.type") != "sync" {
		t.Errorf("alert fields %v", a.OutputFields)
	}
	if got := res.Summary.Syscalls(); len(got) != 1 || got[0] != "sync" {
		t.Errorf("summary %v", got)
	}
}

// TestWatchCgroupTarget watches an existing cgroup given by its path
// relative to the cgroup2 mount; the session ends when the cgroup empties.
func TestWatchCgroupTarget(t *testing.T) {
	requireWatch(t)
	cg, err := NewCgroup()
	if err != nil {
		t.Fatal(err)
	}
	defer cg.Remove(5 * time.Second)
	// The workload waits until the session tracks its cgroup (Ready), so a
	// slow start of the session cannot miss the sync.
	gate := filepath.Join(t.TempDir(), "go")
	cmd := exec.Command(testutil.BusyboxPath, "sh", "-c", "while [ ! -e "+gate+" ]; do sleep 0.02; done; sync")
	if _, err := cg.Start(cmd); err != nil {
		t.Fatal(err)
	}
	rel := cg.Dir[strings.Index(cg.Dir, "/sysward/"):]
	ready := func(uint64) {
		if err := os.WriteFile(gate, nil, 0o644); err != nil {
			t.Error(err)
		}
	}
	res, out := session(t, Config{Profile: allowAllBut("sync"), Rules: testRules(t), Format: output.FormatJSON, Ready: ready}, Target{Cgroup: rel})
	as := detailed(out.alerts(t), "Syscall outside profile")
	if len(as) != 1 || as[0].field("sysward.workload") != rel || as[0].field("proc.name") != "sync" {
		t.Fatalf("alerts %+v", as)
	}
	if res.ExitCode != -1 {
		t.Errorf("exit code %d for a cgroup target", res.ExitCode)
	}
}
