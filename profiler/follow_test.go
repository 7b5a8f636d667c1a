package profiler

import (
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/sysward/sysward/internal/cgroups"
	"github.com/sysward/sysward/profiles"
)

// TestFollow: a task of a followed cgroup moves its child into another
// cgroup (what runc does with the container's init); the child's calls are
// recorded there from the move on, the parent's stay in its own cgroup, and
// Unfollow untracks the destination and gives every reserved slot back.
func TestFollow(t *testing.T) {
	requireBPF(t)
	p, err := Load(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	src, err := newLearnCgroup()
	if err != nil {
		t.Fatal(err)
	}
	defer removeCgroup(src, 5*time.Second) //nolint:errcheck
	dst, err := newLearnCgroup()
	if err != nil {
		t.Fatal(err)
	}
	defer removeCgroup(dst, 5*time.Second) //nolint:errcheck
	srcID, _ := cgroups.ID(src)
	dstID, _ := cgroups.ID(dst)
	free := len(p.free)
	if err := p.Track(srcID, TrackOptions{Mode: ModeLearn}); err != nil {
		t.Fatal(err)
	}
	if err := p.Follow(srcID, TrackOptions{Mode: ModeLearn}); err != nil {
		t.Fatal(err)
	}
	// The shell (in src) moves its child, then the child (in dst) syncs
	// once its parent has moved it: a fifo orders the two.
	fifo := filepath.Join(t.TempDir(), "go")
	script := `set -e; mkfifo ` + fifo + `; (read x < ` + fifo + `; sync) & echo $! > ` + dst + `/cgroup.procs; echo > ` + fifo + `; wait`
	cmd := exec.Command("sh", "-c", script)
	done, err := cgroups.Start(cmd, src)
	if err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("workload: %v", err)
	}
	ids, seen, lost, err := p.Followed(srcID)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ids, []uint64{dstID}) || lost != 0 {
		t.Fatalf("followed %v (lost %d), want [%d]", ids, lost, dstID)
	}
	nr := func(name string) int { n, _ := profiles.SyscallNumber(profiles.ArchX86_64, name); return n }
	if !seen.Has(profiles.ArchX86_64, nr("sync")) || seen.Has(profiles.ArchX86_64, nr("mknodat")) {
		t.Errorf("followed cgroup recorded %v; want the child's sync, not the shell's mknodat", seen.Names(profiles.ArchX86_64))
	}
	own, err := p.Seen(srcID)
	if err != nil {
		t.Fatal(err)
	}
	if own.Has(profiles.ArchX86_64, nr("sync")) || !own.Has(profiles.ArchX86_64, nr("wait4")) {
		t.Errorf("source cgroup recorded %v; want the shell's wait4, not the moved child's sync", own.Names(profiles.ArchX86_64))
	}
	if err := p.Unfollow(srcID); err != nil {
		t.Fatal(err)
	}
	if err := p.Untrack(srcID); err != nil {
		t.Fatal(err)
	}
	if len(p.free) != free || len(p.follows) != 0 || len(p.freePools) != followPools {
		t.Errorf("after Unfollow: %d free slots (want %d), %d follows, %d free pools", len(p.free), free, len(p.follows), len(p.freePools))
	}
	var slot uint32
	if err := p.objs.Tracked.Lookup(dstID, &slot); err == nil {
		t.Errorf("the followed cgroup is still in the tracked hash (slot %d)", slot)
	}
}
