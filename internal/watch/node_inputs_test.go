package watch

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
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

// hostileProfilesDir fills dir with what must neither block nor grow the
// node agent's profile index: a FIFO named *.json, a *.json symlink to
// /dev/zero, a sparse file over profiles.MaxFileSize, a *.json symlink to a
// directory and a directory symlink loop. It returns how many *.json files
// are bad.
func hostileProfilesDir(t *testing.T, dir string) int {
	t.Helper()
	if err := syscall.Mkfifo(filepath.Join(dir, "x.json"), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, target := range map[string]string{"zero.json": "/dev/zero", "dir.json": dir, "loop": "."} {
		if err := os.Symlink(target, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	f, err := os.Create(filepath.Join(dir, "huge.json"))
	if err != nil {
		t.Fatal(err)
	}
	f.Truncate(profiles.MaxFileSize + 1)
	f.Close()
	return 4
}

// syncLog is a slog text log safe for concurrent writes.
type syncLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *syncLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *syncLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestNodeIndexHostileFiles: the index skips each bad file with one
// warning, counts it, and indexes the good profiles beside it, at once
// (a FIFO once blocked discovery for good, a link to /dev/zero grew the
// agent past its memory limit); a profile added later is still indexed.
func TestNodeIndexHostileFiles(t *testing.T) {
	dir := t.TempDir()
	bad := hostileProfilesDir(t, dir)
	p := profiles.New(profiles.ActErrno, profiles.NativeArch())
	p.Allow("read", "write", "exit_group")
	in, err := enforcer.Install(p, enforcer.InstallOptions{Root: dir, Name: "good"})
	if err != nil {
		t.Fatal(err)
	}
	log := &syncLog{}
	n := NewNode(nil, NodeOptions{ProfilesDir: dir, Logger: slog.New(slog.NewTextHandler(log, nil))})
	refresh := func() {
		t.Helper()
		done := make(chan struct{})
		go func() { n.refreshIndex(); close(done) }()
		select {
		case <-done:
		case <-time.After(time.Minute): // detects a hang only
			t.Fatal("refreshIndex blocked")
		}
	}
	refresh()
	if got := n.lookup(in.Hash); got != in.Path {
		t.Fatalf("lookup = %q, want %s; log:\n%s", got, in.Path, log)
	}
	if n.BadProfiles() != bad {
		t.Errorf("BadProfiles = %d, want %d", n.BadProfiles(), bad)
	}
	for _, want := range []string{"x.json: not a regular file (FIFO)", "zero.json: not a regular file (character device)",
		"dir.json: not a regular file (directory)", "huge.json: file too large"} {
		if c := strings.Count(log.String(), want); c != 1 {
			t.Errorf("%q logged %d times, want once; log:\n%s", want, c, log)
		}
	}
	// Unchanged files are not read or warned about again; a new profile is
	// indexed beside them.
	p2 := profiles.New(profiles.ActErrno, profiles.NativeArch())
	p2.Allow("read", "exit_group")
	in2, err := enforcer.Install(p2, enforcer.InstallOptions{Root: dir, Name: "later"})
	if err != nil {
		t.Fatal(err)
	}
	refresh()
	if n.lookup(in2.Hash) != in2.Path || n.lookup(in.Hash) != in.Path {
		t.Fatalf("index %v, want both profiles", n.Profiles())
	}
	if c := strings.Count(log.String(), "skipping profile"); c != bad {
		t.Errorf("%d warnings after two passes, want %d; log:\n%s", c, bad, log)
	}
}

// TestNodeHostileProfilesDir is the node agent with a FIFO, a link to
// /dev/zero and a huge file in its profiles dir: the container running
// under an installed profile is still found and held to it, and the
// session ends when asked (SIGTERM's path: ctx cancelled).
func TestNodeHostileProfilesDir(t *testing.T) {
	requireWatch(t)
	testutil.Require(t, testutil.Runc)
	root := t.TempDir()
	profDir := t.TempDir()
	pA := allowAllBut("sync")
	inst, err := enforcer.Install(pA, enforcer.InstallOptions{Root: profDir, Namespace: "test", Name: "hostile-dir"})
	if err != nil {
		t.Fatal(err)
	}
	bad := hostileProfilesDir(t, profDir)
	seccompA, err := enforcer.OCISeccomp(pA)
	if err != nil {
		t.Fatal(err)
	}
	a := startRunc(t, root, []string{"sleep", "120"}, func(s *specs.Spec) { s.Linux.Seccomp = seccompA })

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	nodes := make(chan *Node, 1)
	done := make(chan error, 1)
	met := metrics.New(&metrics.Options{NoRuntimeCollectors: true})
	cfg := Config{Rules: testRules(t), Format: output.FormatJSON, Stdout: &lines{}, Stderr: &strings.Builder{}, DedupWindow: -1, Metrics: met}
	go func() {
		_, err := NodeSession(ctx, cfg, NodeOptions{Roots: []string{root}, ProfilesDir: profDir}, func(n *Node) { nodes <- n })
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
	if got := node.Profiles(); len(got) != 1 || got[inst.Hash] != inst.Path {
		t.Fatalf("profile index %v, want only %s", got, inst.Path)
	}
	if node.BadProfiles() != bad {
		t.Errorf("BadProfiles = %d, want %d", node.BadProfiles(), bad)
	}
	if got := gauge(t, met, "sysward_profiles_skipped"); got != float64(bad) {
		t.Errorf("sysward_profiles_skipped = %v, want %d", got, bad)
	}
	if c := nodeContainer(node, a.id); c == nil || c.Profile != inst.Path || c.Mode != ModeEnforce {
		t.Fatalf("container %+v, want it held to %s", c, inst.Path)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(time.Minute): // detects a hang only
		t.Fatal("node session did not end after cancel")
	}
}

// gauge reads an unlabelled gauge from met's registry.
func gauge(t *testing.T, met *metrics.Metrics, name string) float64 {
	t.Helper()
	mfs, err := met.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no gauge %s", name)
	return 0
}
