package cgroups_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sysward/sysward/internal/cgroups"
	"github.com/sysward/sysward/internal/testutil"
)

// TestSweepStale: an owned cgroup whose owner is dead is emptied and
// removed; one whose owner lives is left alone.
func TestSweepStale(t *testing.T) {
	testutil.Require(t, testutil.Root, testutil.Cgroup2, testutil.Binary("sleep"))
	mnt, err := cgroups.Mountpoint()
	if err != nil {
		t.Fatal(err)
	}
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	live, err := cgroups.Create("test")
	if err != nil {
		t.Fatal(err)
	}
	defer cgroups.Remove(live, 5*time.Second)
	ns, err := os.Readlink("/proc/self/ns/pid") // pid:[INODE]
	if err != nil {
		t.Fatal(err)
	}
	ns = strings.TrimSuffix(strings.TrimPrefix(ns, "pid:["), "]")
	stale := filepath.Join(mnt, "sysward", "test-"+strconv.Itoa(dead.Process.Pid)+"-1-ns"+ns)
	// The same dead pid in another pid namespace: not ours to judge.
	foreign := filepath.Join(mnt, "sysward", "test-"+strconv.Itoa(dead.Process.Pid)+"-1-ns1")
	if err := os.Mkdir(foreign, 0o755); err != nil {
		t.Fatal(err)
	}
	defer cgroups.Remove(foreign, 5*time.Second)
	if err := os.Mkdir(stale, 0o755); err != nil {
		t.Fatal(err)
	}
	defer cgroups.Remove(stale, 5*time.Second)
	orphan := exec.Command("sleep", "1000")
	done, err := cgroups.Start(orphan, stale)
	if err != nil {
		t.Fatal(err)
	}
	// Other stale cgroups (another test's SIGKILLed sysward) may go too.
	removed := cgroups.SweepStale()
	if !slices.Contains(removed, stale) {
		t.Fatalf("swept %v, not %s", removed, stale)
	}
	if err := <-done; err == nil || !strings.Contains(err.Error(), "killed") {
		t.Errorf("the stale cgroup's process ended with %v, want killed", err)
	}
	if _, err := os.Stat(live); err != nil {
		t.Errorf("a live owner's cgroup was swept: %v", err)
	}
	if _, err := os.Stat(foreign); err != nil {
		t.Errorf("another pid namespace's cgroup was swept: %v", err)
	}
}
