package profiler

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// writeState writes a runc-style state.json for a container whose init is
// pid, replacing the file by a rename as runc does.
func writeState(t *testing.T, dir string, pid int) {
	t.Helper()
	tmp := filepath.Join(dir, ".state.tmp")
	if err := os.WriteFile(tmp, []byte(fmt.Sprintf(`{"init_process_pid":%d,"config":{"labels":["bundle=/b"]}}`, pid)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, "state.json")); err != nil {
		t.Fatal(err)
	}
}

func sleeper(t *testing.T) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return cmd
}

// TestListCache: an unchanged state file is not parsed again, yet a
// container whose init died drops out at once, and a replaced state file
// (the same id started again) is read anew; the cached list equals the
// uncached one at every step.
func TestListCache(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "c1")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	a := sleeper(t)
	writeState(t, dir, a.Process.Pid)
	var lc ListCache
	check := func(wantPID int) {
		t.Helper()
		got, plain := lc.List([]string{root}), ListContainers([]string{root})
		for _, c := range got {
			c.Unchanged = false
		}
		if fmt.Sprint(deref(got)) != fmt.Sprint(deref(plain)) {
			t.Fatalf("cached %v, uncached %v", deref(got), deref(plain))
		}
		switch {
		case wantPID == 0 && len(got) != 0:
			t.Fatalf("listed %v, want none", deref(got))
		case wantPID != 0 && (len(got) != 1 || got[0].InitPID != wantPID || got[0].Bundle != "/b" || got[0].Cgroup == ""):
			t.Fatalf("listed %v, want c1 with init %d", deref(got), wantPID)
		}
	}
	check(a.Process.Pid)
	// Unchanged (same inode, size, mtime): served from the cache. Proof:
	// garbage of the same size written in place, the mtime put back, is
	// not parsed.
	state := filepath.Join(dir, "state.json")
	fi, err := os.Stat(state)
	if err != nil {
		t.Fatal(err)
	}
	orig, _ := os.ReadFile(state)
	garbage := make([]byte, len(orig))
	for i := range garbage {
		garbage[i] = 'x'
	}
	if err := os.WriteFile(state, garbage, 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chtimes(state, fi.ModTime(), fi.ModTime())
	if got := lc.List([]string{root}); len(got) != 1 || len(ListContainers([]string{root})) != 0 {
		t.Fatalf("unchanged state re-read: %v", deref(got))
	}
	os.WriteFile(state, orig, 0o644)
	os.Chtimes(state, fi.ModTime(), fi.ModTime())
	check(a.Process.Pid)
	_ = a.Process.Kill()
	_ = a.Wait()
	check(0)
	b := sleeper(t)
	writeState(t, dir, b.Process.Pid)
	check(b.Process.Pid)
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	check(0)
	if len(lc.entries) != 0 {
		t.Errorf("cache keeps %d entries of gone containers", len(lc.entries))
	}
}

func deref(cs []*Container) []Container {
	out := make([]Container, len(cs))
	for i, c := range cs {
		out[i] = *c
	}
	return out
}
