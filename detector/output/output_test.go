package output

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/sysward/sysward/detector"
	"github.com/sysward/sysward/detector/metrics"
)

func alert(i int) *detector.Alert {
	return &detector.Alert{
		Time:     time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.UTC).Add(time.Duration(i) * time.Millisecond),
		Rule:     "Terminal shell in container",
		Priority: detector.PriorityNotice,
		Source:   "syscall",
		Hostname: "node-1",
		Output:   "A shell was spawned (proc.name=sh)",
		OutputFields: map[string]any{
			"proc.name": "sh", "sysward.workload": "default/web", "evt.type": "execve", "n": int64(i),
		},
		Tags:     []string{"shell"},
		Workload: "default/web",
		Syscall:  "execve",
	}
}

// syncBuffer is a bytes.Buffer safe to read while an output writes to it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func (s *syncBuffer) Lines() []string {
	str := strings.TrimSuffix(s.String(), "\n")
	if str == "" {
		return nil
	}
	return strings.Split(str, "\n")
}

func closeOK(t *testing.T, o interface{ Close(context.Context) error }) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := o.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// counter reads a counter from a Metrics registry.
func counter(t *testing.T, m *metrics.Metrics, name string, labels map[string]string) float64 {
	t.Helper()
	fams, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
	next:
		for _, mm := range f.Metric {
			for _, l := range mm.Label {
				if want, ok := labels[l.GetName()]; ok && want != l.GetValue() {
					continue next
				}
			}
			return metricValue(mm)
		}
	}
	return 0
}

func metricValue(m *dto.Metric) float64 {
	if m.Counter != nil {
		return m.Counter.GetValue()
	}
	return m.Gauge.GetValue()
}

func TestWriterFormats(t *testing.T) {
	cases := []struct {
		name   string
		format Format
		want   string
	}{
		{"text is Falco's line", FormatText, "07:08:09.123456789: Notice A shell was spawned (proc.name=sh)\n"},
		{"json is Falco's alert", FormatJSON, string(alert(0).AppendJSON(nil)) + "\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var buf syncBuffer
			w := NewWriter(&buf, c.format, nil)
			w.Send(alert(0))
			closeOK(t, w)
			if buf.String() != c.want {
				t.Errorf("got %q\nwant %q", buf.String(), c.want)
			}
			if s := w.Stats(); s.Sent != 1 || s.Dropped != 0 {
				t.Errorf("stats %+v", s)
			}
		})
	}
}

func TestSendAfterCloseIsCountedDrop(t *testing.T) {
	m := metrics.New(&metrics.Options{NoRuntimeCollectors: true})
	w := NewWriter(io.Discard, FormatText, &Options{Recorder: m, Name: "w"})
	closeOK(t, w)
	w.Send(alert(0))
	if w.Stats().Dropped != 1 || counter(t, m, metrics.OutputDropsTotal, map[string]string{"output": "w"}) != 1 {
		t.Errorf("stats %+v", w.Stats())
	}
	if err := w.Close(context.Background()); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// blockingWriter blocks every Write until released.
type blockingWriter struct {
	release chan struct{}
	entered chan struct{}
	once    sync.Once
	n       atomic.Int64
}

func (b *blockingWriter) Write(p []byte) (int, error) {
	b.once.Do(func() { close(b.entered) })
	<-b.release
	b.n.Add(int64(bytes.Count(p, []byte("\n"))))
	return len(p), nil
}

func TestQueueFullDropsAndNeverBlocks(t *testing.T) {
	m := metrics.New(&metrics.Options{NoRuntimeCollectors: true})
	bw := &blockingWriter{release: make(chan struct{}), entered: make(chan struct{})}
	w := NewWriter(bw, FormatJSON, &Options{QueueSize: 4, Recorder: m, Name: "slow"})
	w.Send(alert(0))
	<-bw.entered // the goroutine holds alert 0 in a blocked write
	for i := 1; i <= 100; i++ {
		w.Send(alert(i)) // must return although nothing drains
	}
	st := w.Stats()
	if st.Dropped != 96 || st.Queued != 4 {
		t.Errorf("stats %+v, want 96 dropped, 4 queued", st)
	}
	if got := counter(t, m, metrics.OutputDropsTotal, map[string]string{"output": "slow"}); got != 96 {
		t.Errorf("drops metric %v", got)
	}
	close(bw.release)
	closeOK(t, w)
	if st := w.Stats(); st.Sent != 5 || bw.n.Load() != 5 {
		t.Errorf("after close %+v, written %d", st, bw.n.Load())
	}
}

func TestFileAppendsAndReopens(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "alerts.jsonl")
	if err := os.WriteFile(path, []byte("existing\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := NewFile(path, FormatJSON, nil)
	if err != nil {
		t.Fatal(err)
	}
	f.Send(alert(1))
	waitFor(t, "first line", func() bool { return f.Stats().Sent == 1 })
	rotated := path + ".1"
	if err := os.Rename(path, rotated); err != nil {
		t.Fatal(err)
	}
	f.Reopen()
	f.Send(alert(2))
	closeOK(t, f)
	old, _ := os.ReadFile(rotated)
	cur, _ := os.ReadFile(path)
	if !strings.HasPrefix(string(old), "existing\n{") || strings.Count(string(old), "\n") != 2 {
		t.Errorf("rotated file: %q", old)
	}
	var a detector.Alert
	if err := json.Unmarshal(cur, &a); err != nil || a.OutputFields["n"] != float64(2) {
		t.Errorf("new file %q: %v", cur, err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", fi.Mode())
	}
	if _, err := NewFile(filepath.Join(dir, "no/such/dir/x"), FormatText, nil); err == nil {
		t.Error("NewFile in a missing directory succeeded")
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestProgramRestartsWhenItDies(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	p, err := NewProgram(ProgramConfig{Command: "exec cat >> " + out, Format: "json",
		RestartMin: Duration(10 * time.Millisecond)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	lines := func() int {
		b, _ := os.ReadFile(out)
		return bytes.Count(b, []byte("\n"))
	}
	p.Send(alert(1))
	p.Send(alert(2))
	waitFor(t, "two lines", func() bool { return lines() == 2 })
	first := p.Pid()
	if err := syscall.Kill(first, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the program to die", func() bool { return syscall.Kill(first, 0) != nil })
	p.Send(alert(3))
	p.Send(alert(4))
	closeOK(t, p)
	if p.Restarts() < 1 {
		t.Errorf("restarts %d", p.Restarts())
	}
	if n := lines(); n != 4 {
		b, _ := os.ReadFile(out)
		t.Errorf("%d lines, want 4:\n%s", n, b)
	}
	if st := p.Stats(); st.Sent != 4 {
		t.Errorf("stats %+v", st)
	}
	if _, err := NewProgram(ProgramConfig{}, nil); !errors.Is(err, ErrBadConfig) {
		t.Errorf("empty program: %v", err)
	}
	if _, err := NewProgram(ProgramConfig{Argv: []string{"/nonexistent/prog"}}, nil); err == nil {
		t.Error("missing program started")
	}
}

func TestDispatcherFanOutAndFlush(t *testing.T) {
	m := metrics.New(&metrics.Options{NoRuntimeCollectors: true})
	var a, b syncBuffer
	d := NewDispatcher(DispatcherConfig{Recorder: m, Hostname: "h"},
		NewWriter(&a, FormatText, &Options{Name: "a", Recorder: m}),
		NewWriter(&b, FormatJSON, &Options{Name: "b", Recorder: m}))
	for i := range 50 {
		al := alert(i)
		al.Hostname = ""
		d.Send(al)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if len(a.Lines()) != 50 || len(b.Lines()) != 50 {
		t.Fatalf("a %d lines, b %d lines", len(a.Lines()), len(b.Lines()))
	}
	if !strings.Contains(b.Lines()[0], `"hostname":"h"`) {
		t.Errorf("hostname not filled: %s", b.Lines()[0])
	}
	if got := counter(t, m, metrics.AlertsTotal, map[string]string{"rule": "Terminal shell in container", "priority": "Notice"}); got != 50 {
		t.Errorf("alerts_total %v", got)
	}
	if got := counter(t, m, metrics.OutputSentTotal, map[string]string{"output": "b"}); got != 50 {
		t.Errorf("sent{b} %v", got)
	}
}

// TestCloseDeadline: an endpoint that always fails, with long backoff; Close
// must return at its deadline with ErrFlushTimeout and count the drops.
func TestCloseDeadline(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "down", http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	h, err := NewHTTP(HTTPConfig{URL: srv.URL, MaxRetries: 50, BackoffMin: Duration(time.Second), BackoffMax: Duration(time.Second)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		h.Send(alert(i))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = h.Close(ctx)
	if !errors.Is(err, ErrFlushTimeout) {
		t.Errorf("Close: %v, want ErrFlushTimeout", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("Close took %v", time.Since(start))
	}
	if st := h.Stats(); st.Dropped != 3 || st.Sent != 0 || st.Errors < 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestLinesReadableByScanner(t *testing.T) {
	// Many alerts in one batch still come out one per line.
	var buf syncBuffer
	w := NewWriter(&buf, FormatJSON, nil)
	for i := range 1000 {
		w.Send(alert(i))
	}
	closeOK(t, w)
	sc := bufio.NewScanner(strings.NewReader(buf.String()))
	n := 0
	for sc.Scan() {
		var a detector.Alert
		if err := json.Unmarshal(sc.Bytes(), &a); err != nil {
			t.Fatalf("line %d: %v", n, err)
		}
		if a.OutputFields["n"] != float64(n) {
			t.Fatalf("line %d holds alert %v: order lost", n, a.OutputFields["n"])
		}
		n++
	}
	if n != 1000 {
		t.Errorf("%d lines", n)
	}
}

func TestReopenOnSignal(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "alerts.log")
	f, err := NewFile(path, FormatText, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ReopenOnSignal(ctx, syscall.SIGUSR1, f)
	f.Send(alert(0))
	waitFor(t, "first line", func() bool { return f.Stats().Sent == 1 })
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the reopen request", func() bool { return f.fs.reopen.Load() })
	f.Send(alert(1))
	closeOK(t, f)
	b, err := os.ReadFile(path)
	if err != nil || !strings.HasPrefix(string(b), "07:08:09.124456789: Notice") {
		t.Errorf("reopened file %q: %v", b, err)
	}
}

// TestCloseWithStuckWrite: a write that never returns cannot hold Close past
// its deadline (plus a grace period); what is queued is counted dropped.
func TestCloseWithStuckWrite(t *testing.T) {
	bw := &blockingWriter{release: make(chan struct{}), entered: make(chan struct{})}
	defer close(bw.release)
	w := NewWriter(bw, FormatText, &Options{QueueSize: 8})
	w.Send(alert(0))
	<-bw.entered
	for i := 1; i <= 5; i++ {
		w.Send(alert(i))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := w.Close(ctx); !errors.Is(err, ErrFlushTimeout) {
		t.Errorf("Close: %v", err)
	}
	if st := w.Stats(); st.Dropped != 5 || st.Queued != 0 {
		t.Errorf("stats %+v, want the 5 queued dropped", st)
	}
}
