package watch

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sysward/sysward/internal/store"
	"github.com/sysward/sysward/profiles"
)

// TestScanStatic: the learner reads the executable of each process of a
// container's cgroup once and reports what its imports can call as the
// delta's Static set, never a dangerous call; a second scan of the same
// executable adds nothing.
func TestScanStatic(t *testing.T) {
	dir := t.TempDir()
	procs := fmt.Sprintf("%d\nnot-a-pid\n%d\n", os.Getpid(), os.Getpid())
	if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(procs), 0o644); err != nil {
		t.Fatal(err)
	}
	lc := &learnCtr{id: "c1", noticed: map[noticeKey]time.Time{}}
	now := time.Now()
	lc.scanStatic(dir, now, slog.New(slog.DiscardHandler))
	k := store.Key{Namespace: "ns", Kind: "deployment", Workload: "w", Container: "c"}
	d, carried := lc.delta(k, "n1")
	if d == nil || len(d.Static) == 0 {
		t.Fatalf("no static hints from the test binary: %+v", d)
	}
	// The test binary is Go: its os package opens and reads files.
	for _, want := range []string{"openat", "read"} {
		if _, ok := d.Static[want]; !ok {
			t.Errorf("static hints lack %s: %v", want, d.Static)
		}
	}
	for name, s := range d.Static {
		if _, bad := profiles.DangerousSyscalls[name]; bad {
			t.Errorf("dangerous %s in the static hints", name)
		}
		if !s.First.Equal(now) {
			t.Errorf("%s first %v, want %v", name, s.First, now)
		}
	}
	if len(d.Traced)+len(d.Complain)+len(d.Denied) != 0 {
		t.Errorf("static scan noted kernel sets: %+v", d)
	}
	lc.commit(carried)
	lc.scanStatic(dir, now.Add(time.Second), slog.New(slog.DiscardHandler))
	if d, _ := lc.delta(k, "n1"); d != nil {
		t.Errorf("second scan of the same executable: %+v", d.Static)
	}
	// No cgroup, or a cgroup that is gone: nothing, no panic.
	lc2 := &learnCtr{id: "c2", noticed: map[noticeKey]time.Time{}}
	lc2.scanStatic("", now, slog.New(slog.DiscardHandler))
	lc2.scanStatic(filepath.Join(dir, "gone"), now, slog.New(slog.DiscardHandler))
	if len(lc2.noticed) != 0 {
		t.Errorf("noticed %v", lc2.noticed)
	}
}

// BenchmarkScanStatic is the static scan's cost per container and
// interval: "first" reads the executable (the test binary, a Go ELF of
// several MB) as for a new container; "steady" is every later interval
// (cgroup.procs and one readlink per process, nothing opened). The ratio
// is steady's share of a first read.
func BenchmarkScanStatic(b *testing.B) {
	dir := b.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(fmt.Sprintf("%d\n", os.Getpid())), 0o644); err != nil {
		b.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	now := time.Now()
	var first, steady time.Duration
	b.Run("first", func(b *testing.B) {
		for b.Loop() {
			lc := &learnCtr{id: "c", noticed: map[noticeKey]time.Time{}}
			lc.scanStatic(dir, now, log)
		}
		first = b.Elapsed() / time.Duration(b.N)
	})
	b.Run("steady", func(b *testing.B) {
		lc := &learnCtr{id: "c", noticed: map[noticeKey]time.Time{}}
		lc.scanStatic(dir, now, log)
		for b.Loop() {
			lc.scanStatic(dir, now, log)
		}
		steady = b.Elapsed() / time.Duration(b.N)
		if first > 0 {
			b.ReportMetric(float64(steady)/float64(first), "x-first")
		}
	})
}
