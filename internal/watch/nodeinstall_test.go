package watch

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/sysward/sysward/detector/metrics"
	"github.com/sysward/sysward/detector/output"
	"github.com/sysward/sysward/enforcer"
	"github.com/sysward/sysward/internal/testutil"
	"github.com/sysward/sysward/profiles"
)

// configMapDir lays files out in dir the way the kubelet writes a ConfigMap
// volume: a timestamped folder holding the data, "..data" a symlink to it
// (swapped atomically on an update), and one symlink per key to
// "..data/<key>". Called again it replaces the whole content.
func configMapDir(t *testing.T, dir string, gen int, files map[string][]byte, fifos ...string) {
	t.Helper()
	data := fmt.Sprintf("..2026_12_02_00_00_%02d.000000000", gen)
	if err := os.Mkdir(filepath.Join(dir, data), 0o755); err != nil {
		t.Fatal(err)
	}
	for k, v := range files {
		if err := os.WriteFile(filepath.Join(dir, data, k), v, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, k := range fifos {
		if err := syscall.Mkfifo(filepath.Join(dir, data, k), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	tmp := filepath.Join(dir, "..data_tmp")
	if err := os.Symlink(data, tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(dir)
	keep := map[string]bool{}
	for k := range files {
		keep[k] = true
	}
	for _, k := range fifos {
		keep[k] = true
	}
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), ".") && !keep[e.Name()] {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
	for k := range keep {
		if _, err := os.Lstat(filepath.Join(dir, k)); err != nil {
			if err := os.Symlink(filepath.Join("..data", k), filepath.Join(dir, k)); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func marshalProfile(t testing.TB, p *profiles.Profile) []byte {
	t.Helper()
	data, err := profiles.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// runtimeHash is the hash Install puts in p's installed name.
func runtimeHash(t *testing.T, p *profiles.Profile) string {
	t.Helper()
	h, err := enforcer.RuntimeHash(p)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// TestNodeInstallFromHostile: the profiles of a ConfigMap-shaped directory
// are installed under content-hashed names; a FIFO, an invalid profile and
// a profile the kernel would not take are each skipped with one warning and
// counted, never installed, and never read again while unchanged; after an
// update, an installed file the source no longer holds is removed unless a
// tracked container's hash is its hash; the agent's own profile (not a
// hashed name) is never touched. Logic only (containers set by hand):
// TestNodeInstallsProfiles is the same with real containers.
func TestNodeInstallFromHostile(t *testing.T) {
	root, src := t.TempDir(), t.TempDir()
	pUsed, pGone := allowAllBut("sync"), allowAllBut("mkdir")
	unknown := []byte(`{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["no_such_call"],"action":"SCMP_ACT_ALLOW"}]}`)
	configMapDir(t, src, 1, map[string][]byte{
		"shop.used.json": marshalProfile(t, pUsed), "shop.gone.json": marshalProfile(t, pGone),
		"bad.json": []byte("{"), "unknown.json": unknown, "notes.txt": []byte("not a profile"),
	}, "fifo.json")
	own := filepath.Join(root, enforcer.KubeletSubdir, "sysward-agent.json")
	if err := os.MkdirAll(filepath.Dir(own), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(own, marshalProfile(t, allowAllBut("chdir")), 0o644); err != nil {
		t.Fatal(err)
	}
	log := &syncLog{}
	n := NewNode(nil, NodeOptions{ProfilesDir: root, InstallFrom: src, Logger: slog.New(slog.NewTextHandler(log, nil))})
	pass := func() {
		t.Helper()
		done := make(chan struct{})
		go func() { n.installProfiles(); n.refreshIndex(); n.removeStale(); close(done) }()
		select {
		case <-done:
		case <-time.After(time.Minute): // detects a hang only
			t.Fatal("install pass blocked")
		}
	}
	used := filepath.Join(root, "sysward", "shop-used-"+runtimeHash(t, pUsed)+".json")
	gone := filepath.Join(root, "sysward", "shop-gone-"+runtimeHash(t, pGone)+".json")
	pass()
	pass()
	for _, f := range []string{used, gone, own} {
		if _, err := os.Stat(f); err != nil {
			t.Fatalf("%v; log:\n%s", err, log)
		}
	}
	if got := n.Profiles(); len(got) != 3 || got[runtimeHash(t, pUsed)] != used {
		t.Errorf("index %v, want the two installed profiles and the agent's", got)
	}
	ents, _ := os.ReadDir(filepath.Join(root, "sysward"))
	if len(ents) != 3 {
		t.Errorf("%d files installed, want 3 (2 + the agent's own): %v", len(ents), ents)
	}
	if n.InstallSkipped() != 3 {
		t.Errorf("InstallSkipped = %d, want 3", n.InstallSkipped())
	}
	for _, want := range []string{"fifo.json: not a regular file (FIFO)", "bad.json:1:2: malformed JSON", "unknown syscall \\\"no_such_call\\\""} {
		if c := strings.Count(log.String(), want); c != 1 {
			t.Errorf("%q logged %d times, want once; log:\n%s", want, c, log)
		}
	}

	// The update drops both profiles; a container runs under "used".
	n.containers["c1"] = &NodeContainer{ID: "c1", Hash: runtimeHash(t, pUsed)}
	pNew := allowAllBut("rmdir")
	configMapDir(t, src, 2, map[string][]byte{"new.json": marshalProfile(t, pNew)})
	pass()
	if _, err := os.Stat(gone); !os.IsNotExist(err) {
		t.Errorf("unused stale profile not removed: %v; log:\n%s", err, log)
	}
	if _, err := os.Stat(used); err != nil {
		t.Errorf("stale profile a container uses was removed: %v", err)
	}
	if _, err := os.Stat(filepath.Join(root, "sysward", "default-new-"+runtimeHash(t, pNew)+".json")); err != nil {
		t.Errorf("new profile not installed: %v", err)
	}
	if _, err := os.Stat(own); err != nil {
		t.Errorf("the agent's own profile was removed: %v", err)
	}
	// Unsure (a new cgroup not matched yet): nothing is removed.
	delete(n.containers, "c1")
	n.pending[7] = &pendingCgroup{since: time.Now()}
	pass()
	if _, err := os.Stat(used); err != nil {
		t.Errorf("stale profile removed while a new cgroup was unmatched: %v", err)
	}
	delete(n.pending, 7)
	pass()
	if _, err := os.Stat(used); !os.IsNotExist(err) {
		t.Errorf("stale profile no container uses not removed: %v", err)
	}
	// An unreadable source removes nothing.
	if err := os.Rename(src, src+".moved"); err != nil {
		t.Fatal(err)
	}
	pass()
	if ents, _ := os.ReadDir(filepath.Join(root, "sysward")); len(ents) != 2 {
		t.Errorf("files %v after the source vanished, want the new profile and the agent's", ents)
	}
}

// TestNodeInstallsProfiles is the node agent with --install-from: a
// container started under a profile that exists only in the source
// directory is held to it once the agent installs it; when the source
// drops that profile and another, the unused one is removed at once and the
// used one only after its container is gone.
func TestNodeInstallsProfiles(t *testing.T) {
	requireWatch(t)
	testutil.Require(t, testutil.Runc)
	root, profDir, src := t.TempDir(), t.TempDir(), t.TempDir()
	pA, pB := allowAllBut("sync"), allowAllBut("mkdir")
	configMapDir(t, src, 1, map[string][]byte{"test.a.json": marshalProfile(t, pA), "test.b.json": marshalProfile(t, pB)})
	seccompA, err := enforcer.OCISeccomp(pA)
	if err != nil {
		t.Fatal(err)
	}
	a := startRunc(t, root, []string{"sleep", "120"}, func(s *specs.Spec) { s.Linux.Seccomp = seccompA })
	pathA := filepath.Join(profDir, "sysward", "test-a-"+runtimeHash(t, pA)+".json")
	pathB := filepath.Join(profDir, "sysward", "test-b-"+runtimeHash(t, pB)+".json")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	nodes := make(chan *Node, 1)
	done := make(chan error, 1)
	log := &syncLog{}
	met := metrics.New(&metrics.Options{NoRuntimeCollectors: true})
	cfg := Config{Rules: testRules(t), Format: output.FormatJSON, Stdout: &lines{}, Stderr: &strings.Builder{}, DedupWindow: -1, Metrics: met,
		Logger: slog.New(slog.NewTextHandler(log, nil))}
	go func() {
		_, err := NodeSession(ctx, cfg, NodeOptions{Roots: []string{root}, ProfilesDir: profDir, InstallFrom: src, Interval: 100 * time.Millisecond},
			func(n *Node) { nodes <- n })
		done <- err
	}()
	var node *Node
	select {
	case node = <-nodes:
	case err := <-done:
		t.Fatalf("node session: %v", err)
	case <-time.After(time.Minute): // detects a hang only
		t.Fatal("first discovery pass never finished")
	}
	if c := nodeContainer(node, a.id); c == nil || c.Profile != pathA || c.Mode != ModeEnforce {
		t.Fatalf("container %+v, want it held to %s; log:\n%s", c, pathA, log)
	}
	if _, err := os.Stat(pathB); err != nil {
		t.Fatal(err)
	}
	configMapDir(t, src, 2, nil)
	if !waitFor(30*time.Second, func() bool { _, err := os.Stat(pathB); return os.IsNotExist(err) }) {
		t.Fatalf("unused stale profile %s not removed; log:\n%s", pathB, log)
	}
	if _, err := os.Stat(pathA); err != nil {
		t.Fatalf("profile of a running container removed: %v", err)
	}
	a.stop()
	if !waitFor(30*time.Second, func() bool { _, err := os.Stat(pathA); return os.IsNotExist(err) }) {
		t.Fatalf("stale profile %s kept after its container went; log:\n%s", pathA, log)
	}
	if c := strings.Count(log.String(), "stale profile kept"); c != 1 {
		t.Errorf("'stale profile kept' logged %d times, want once; log:\n%s", c, log)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
