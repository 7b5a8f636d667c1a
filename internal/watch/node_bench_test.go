package watch

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sysward/sysward/detector"
	"github.com/sysward/sysward/enforcer"
	"github.com/sysward/sysward/internal/testutil"
	"github.com/sysward/sysward/profiler"
)

// BenchmarkNodeSync measures what the node agent pays per discovery pass
// (once a second) in the steady state: 3 runc containers already tracked,
// 50 installed profiles unchanged (for a minute: a directory changed more
// recently is re-read every pass). The baseline is reading the runtime
// state alone (profiler.ListContainers); the other rows are ratios to it,
// plus the first pass that indexes the profiles and tracks the containers.
func BenchmarkNodeSync(b *testing.B) {
	requireWatchB(b)
	testutil.Require(b, testutil.Runc)
	root := b.TempDir()
	profDir := b.TempDir()
	for i := 0; i < 50; i++ {
		if _, err := enforcer.Install(allowAllBut("sync"), enforcer.InstallOptions{Root: filepath.Join(profDir, fmt.Sprint(i)), Name: fmt.Sprintf("p%d", i)}); err != nil {
			b.Fatal(err)
		}
	}
	// Installed a minute ago, as on a node at rest: a directory changed
	// within racyWindow is re-read on every pass.
	past := time.Now().Add(-time.Minute)
	_ = filepath.WalkDir(profDir, func(path string, d fs.DirEntry, err error) error {
		if err == nil {
			_ = os.Chtimes(path, past, past)
		}
		return nil
	})
	for i := 0; i < 3; i++ {
		startRunc(b, root, []string{"sleep", "120"}, nil)
	}
	rs, err := LoadRules(false)
	if err != nil {
		b.Fatal(err)
	}
	eng, err := detector.NewEngine(rs, nil)
	if err != nil {
		b.Fatal(err)
	}
	w, err := New(Options{Engine: eng})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()

	// testing.Benchmark cannot run inside a benchmark (it waits for the
	// benchmark lock): time rounds by hand, median of 5.
	measure := func(n int, f func()) int64 {
		var rounds []float64
		for r := 0; r < 5; r++ {
			start := time.Now()
			for i := 0; i < n; i++ {
				f()
			}
			rounds = append(rounds, float64(time.Since(start).Nanoseconds())/float64(n))
		}
		return int64(median(rounds))
	}
	list := measure(200, func() {
		if n := len(profiler.ListContainers([]string{root})); n != 3 {
			b.Fatalf("%d containers", n)
		}
	})
	var lc profiler.ListCache
	cached := measure(200, func() {
		if n := len(lc.List([]string{root})); n != 3 {
			b.Fatalf("%d containers", n)
		}
	})
	first := measure(20, func() {
		n := NewNode(w, NodeOptions{Roots: []string{root}, ProfilesDir: profDir})
		if err := n.Sync(); err != nil || len(n.Containers()) != 3 {
			b.Fatalf("sync: %v, %d containers", err, len(n.Containers()))
		}
		n.Close()
	})
	n := NewNode(w, NodeOptions{Roots: []string{root}, ProfilesDir: profDir})
	defer n.Close()
	if err := n.Sync(); err != nil {
		b.Fatal(err)
	}
	steady := measure(200, func() {
		if err := n.Sync(); err != nil {
			b.Fatal(err)
		}
	})
	base := float64(list)
	b.ResetTimer()
	b.Logf("\n%-52s %12s %8s\n%-52s %12d %8.2f\n%-52s %12d %8.2f\n%-52s %12d %8.2f\n%-52s %12d %8.2f",
		"node discovery pass (3 containers, 50 profiles)", "ns/op", "ratio",
		"read runtime state (ListContainers, baseline)", list, 1.0,
		"runtime state through ListCache (nothing changed)", cached, float64(cached)/base,
		"steady pass (nothing changed)", steady, float64(steady)/base,
		"first pass (index 50 profiles, track 3)", first, float64(first)/base)
	for i := 0; i < b.N; i++ {
		_ = n.Sync()
	}
}

func requireWatchB(b *testing.B) {
	b.Helper()
	testutil.Require(b, testutil.Root, testutil.BTF, testutil.Cgroup2, testutil.File(testutil.BusyboxPath))
}
