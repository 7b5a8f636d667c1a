package audit

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sysward/sysward/internal/inputfile"
)

type followed struct {
	mu    sync.Mutex
	lines []string
	st    FollowStats
	done  chan error
}

func follow(t *testing.T, path string, opts FollowOptions) *followed {
	t.Helper()
	opts.Poll = 5 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	f := &followed{done: make(chan error, 1)}
	ready := make(chan struct{})
	go func() {
		close(ready)
		f.done <- Follow(ctx, path, &opts, &f.st, func(l []byte) {
			f.mu.Lock()
			f.lines = append(f.lines, string(l))
			f.mu.Unlock()
		})
	}()
	<-ready
	t.Cleanup(func() { cancel(); <-f.done })
	return f
}

// wait blocks until n lines were read (or fails after a generous deadline:
// the follower polls every 5ms).
func (f *followed) wait(t *testing.T, n int) []string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		f.mu.Lock()
		got := slices.Clone(f.lines)
		f.mu.Unlock()
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("read %d lines, want %d: %q (rotations %d, truncations %d)", len(got), n, got, f.st.Rotations.Load(), f.st.Truncated.Load())
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// opened waits until the follower has opened the file (and, from the
// end, taken its position).
func (f *followed) opened(t *testing.T) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); f.st.Opened.Load() == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the follower did not open the file")
		}
	}
}

// settle gives the follower a few polls, so that two writes are likely
// read apart (a partial line); correctness does not depend on it.
func settle() { time.Sleep(30 * time.Millisecond) }

func appendLines(t *testing.T, path string, lines ...string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, l := range lines {
		if _, err := f.WriteString(l + "\n"); err != nil {
			t.Fatal(err)
		}
	}
}

func seq(prefix string, from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, fmt.Sprintf(`{"%s":%d}`, prefix, i))
	}
	return out
}

func TestFollowFromEndAndStart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	appendLines(t, path, seq("old", 0, 3)...)
	end := follow(t, path, FollowOptions{})
	start := follow(t, path, FollowOptions{FromStart: true})
	start.wait(t, 3)
	end.opened(t)
	appendLines(t, path, seq("new", 0, 2)...)
	if got, want := end.wait(t, 2), seq("new", 0, 2); !slices.Equal(got, want) {
		t.Errorf("from the end: %q, want %q", got, want)
	}
	if got, want := start.wait(t, 5), append(seq("old", 0, 3), seq("new", 0, 2)...); !slices.Equal(got, want) {
		t.Errorf("from the start: %q, want %q", got, want)
	}
}

// TestFollowRenameCreate: logrotate's default and the apiserver's own
// rotation: the file is renamed, its writer finishes into the renamed
// file, a new one is created. Every line is read once, in order.
func TestFollowRenameCreate(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.log")
	appendLines(t, path, seq("a", 0, 3)...)
	f := follow(t, path, FollowOptions{FromStart: true})
	f.wait(t, 3)
	// the writer still holds the old file after the rename
	w, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	w.WriteString(`{"a":3}` + "\n")
	w.Close()
	appendLines(t, path, seq("b", 0, 3)...)
	want := append(seq("a", 0, 4), seq("b", 0, 3)...)
	if got := f.wait(t, 7); !slices.Equal(got, want) {
		t.Errorf("%q, want %q", got, want)
	}
	if f.st.Rotations.Load() != 1 {
		t.Errorf("rotations %d", f.st.Rotations.Load())
	}
}

// TestFollowCopyTruncate: the file is copied then truncated in place, by
// an appending writer and by one that keeps its offset (the apiserver's
// log file), which leaves a hole of NULs.
func TestFollowCopyTruncate(t *testing.T) {
	for _, appendMode := range []bool{true, false} {
		t.Run(fmt.Sprintf("O_APPEND=%v", appendMode), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "audit.log")
			flags := os.O_CREATE | os.O_WRONLY
			if appendMode {
				flags |= os.O_APPEND
			}
			w, err := os.OpenFile(path, flags, 0o600)
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			for _, l := range seq("before", 0, 4) {
				w.WriteString(l + "\n")
			}
			f := follow(t, path, FollowOptions{FromStart: true})
			f.wait(t, 4)
			if err := os.Truncate(path, 0); err != nil {
				t.Fatal(err)
			}
			// longer than what was there, so the size alone does not tell
			for _, l := range seq("after-the-truncation", 0, 3) {
				w.WriteString(l + "\n")
			}
			want := append(seq("before", 0, 4), seq("after-the-truncation", 0, 3)...)
			if got := f.wait(t, 7); !slices.Equal(got, want) {
				t.Errorf("%q, want %q", got, want)
			}
			// An appending writer restarts at 0: the next poll sees the
			// file shorter or its first bytes changed. One that keeps its
			// offset may refill past the old end before the next poll;
			// then the follower just reads on from its offset (past the
			// hole) and the lines are the same: counting the truncation
			// is not certain there (CI saw 0 once).
			if n := f.st.Truncated.Load(); n != 1 && (appendMode || n != 0) {
				t.Errorf("truncations %d", n)
			}
		})
	}
}

// TestFollowTruncateRewrite: truncated and rewritten past the old size
// between two polls: the changed first bytes give it away.
func TestFollowTruncateRewrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	os.WriteFile(path, []byte(`{"auditID":"2222"}`+"\n"+`{"auditID":"3333"}`+"\n"), 0o600)
	g := follow(t, path, FollowOptions{})
	g.opened(t)
	os.WriteFile(path, []byte(`{"auditID":"4444"}`+"\n"+`{"auditID":"5555"}`+"\n"+`{"auditID":"6666"}`+"\n"), 0o600)
	want := []string{`{"auditID":"4444"}`, `{"auditID":"5555"}`, `{"auditID":"6666"}`}
	if got := g.wait(t, 3); !slices.Equal(got, want) {
		t.Errorf("%q, want %q", got, want)
	}
	settle()
	if got := g.wait(t, 3); len(got) != 3 {
		t.Errorf("read again: %q", got)
	}
}

// TestFollowPartialAndOverlong: a line is emitted only once whole; a line
// over MaxLine is skipped and counted, the next one read.
func TestFollowPartialAndOverlong(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	os.WriteFile(path, nil, 0o600)
	f := follow(t, path, FollowOptions{FromStart: true, MaxLine: 64})
	f.opened(t)
	w, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	defer w.Close()
	w.WriteString(`{"half":`)
	settle()
	w.WriteString(`1}` + "\n")
	w.WriteString(`{"long":"` + strings.Repeat("x", 200))
	settle()
	w.WriteString(strings.Repeat("y", 200) + `"}` + "\n" + `{"next":2}` + "\n")
	if got := f.wait(t, 2); !slices.Equal(got, []string{`{"half":1}`, `{"next":2}`}) {
		t.Errorf("%q", got)
	}
	if f.st.Overlong.Load() != 1 {
		t.Errorf("overlong %d", f.st.Overlong.Load())
	}
}

func TestFollowRefusesNonRegular(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "fifo")
	if err := mkfifo(fifo); err != nil {
		t.Fatal(err)
	}
	err := Follow(context.Background(), fifo, nil, nil, func([]byte) {})
	if !errors.Is(err, inputfile.ErrNotRegular) || !strings.Contains(err.Error(), fifo) {
		t.Errorf("%v", err)
	}
	if err := Follow(context.Background(), filepath.Join(t.TempDir(), "nope"), nil, nil, func([]byte) {}); err == nil || !strings.Contains(err.Error(), "opening audit log") {
		t.Errorf("%v", err)
	}
}
