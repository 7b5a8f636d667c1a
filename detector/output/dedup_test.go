package output

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sysward/sysward/detector"
	"github.com/sysward/sysward/detector/metrics"
)

// fakeClock is a clock the test moves.
type fakeClock struct{ ns atomic.Int64 }

func (c *fakeClock) now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) advance(d time.Duration) { c.ns.Add(int64(d)) }

// at is alert(i) stamped with the fake clock's time.
func at(i int, clk *fakeClock) *detector.Alert {
	a := alert(i)
	a.Time = clk.now()
	return a
}

type collected struct {
	mu     sync.Mutex
	alerts []*detector.Alert
}

func (c *collected) emit(a *detector.Alert) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.alerts = append(c.alerts, a)
}

func (c *collected) get() []*detector.Alert {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*detector.Alert(nil), c.alerts...)
}

func newTestDedup(t *testing.T, cfg DedupConfig) (*Dedup, *fakeClock, *collected) {
	t.Helper()
	clk := &fakeClock{}
	clk.ns.Store(time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	c := &collected{}
	d := newDedup(cfg, nil, c.emit, clk.now)
	t.Cleanup(d.Close)
	return d, clk, c
}

func TestDedupKey(t *testing.T) {
	base := alert(0)
	vary := func(f func(a *detector.Alert)) *detector.Alert {
		a := alert(0)
		a.OutputFields = map[string]any{"sysward.workload": "default/web", "evt.type": "execve", "proc.name": "sh"}
		f(a)
		return a
	}
	base.OutputFields = map[string]any{"sysward.workload": "default/web", "evt.type": "execve", "proc.name": "sh"}
	cases := []struct {
		name   string
		other  *detector.Alert
		repeat bool
	}{
		{"identical", vary(func(a *detector.Alert) {}), true},
		{"different time and output text still repeat", vary(func(a *detector.Alert) { a.Time = a.Time.Add(time.Second); a.Output = "x" }), true},
		{"non-key field differs: repeat", vary(func(a *detector.Alert) { a.OutputFields["proc.name"] = "bash" }), true},
		{"other rule", vary(func(a *detector.Alert) { a.Rule = "Other" }), false},
		{"other workload", vary(func(a *detector.Alert) { a.Workload = "default/db" }), false},
		{"other syscall", vary(func(a *detector.Alert) { a.Syscall = "ptrace" }), false},
		{"other key field value", vary(func(a *detector.Alert) { a.OutputFields["evt.type"] = "execveat" }), false},
		{"key field missing", vary(func(a *detector.Alert) { delete(a.OutputFields, "sysward.workload") }), false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d, _, _ := newTestDedup(t, DedupConfig{Window: Duration(time.Minute)})
			if !d.Offer(base) {
				t.Fatal("first alert held back")
			}
			if got := !d.Offer(c.other); got != c.repeat {
				t.Errorf("counted as repeat: %v, want %v", got, c.repeat)
			}
		})
	}
}

func TestDedupWindowSummary(t *testing.T) {
	d, clk, c := newTestDedup(t, DedupConfig{Window: Duration(10 * time.Second)})
	first := at(0, clk)
	if !d.Offer(first) {
		t.Fatal("first held back")
	}
	var last *detector.Alert
	for i := 1; i <= 5; i++ {
		clk.advance(time.Second)
		last = at(i, clk)
		if d.Offer(last) {
			t.Fatalf("repeat %d passed", i)
		}
	}
	if len(c.get()) != 0 {
		t.Fatal("summary before the window closed")
	}
	clk.advance(5 * time.Second) // 10s after the first
	d.sweep(false)
	got := c.get()
	if len(got) != 1 {
		t.Fatalf("%d summaries", len(got))
	}
	s := got[0]
	if s.OutputFields[FieldRepeatCount] != uint64(5) || s.OutputFields[FieldRepeatWindow] != "10s" ||
		s.OutputFields["n"] != int64(5) || s.Time != last.Time ||
		s.Output != last.Output+" (repeated 5 more times within 10s)" {
		t.Errorf("summary %+v", s)
	}
	if _, shared := last.OutputFields[FieldRepeatCount]; shared {
		t.Error("summary modified the repeat's shared OutputFields")
	}
	// A window opens afresh: the next alert passes.
	if !d.Offer(at(6, clk)) {
		t.Error("alert after the window held back")
	}
	// The summary is a valid Falco alert.
	var back map[string]any
	if err := json.Unmarshal(s.AppendJSON(nil), &back); err != nil {
		t.Fatal(err)
	}
}

func TestDedupExpiredWindowClosedByOffer(t *testing.T) {
	d, clk, c := newTestDedup(t, DedupConfig{Window: Duration(time.Second)})
	d.Offer(at(0, clk))
	d.Offer(at(1, clk))
	clk.advance(2 * time.Second)
	// Before any sweep: the expired window is closed by this Offer, its
	// summary emitted first, and the alert passes.
	if !d.Offer(at(2, clk)) {
		t.Fatal("alert after expiry held back")
	}
	if got := c.get(); len(got) != 1 || got[0].OutputFields[FieldRepeatCount] != uint64(1) {
		t.Fatalf("summaries %v", got)
	}
	if d.Offer(at(3, clk)) {
		t.Error("repeat in the new window passed")
	}
}

// TestDedupByEventTime: a replayed stream (event times an hour apart,
// delivered at once) is judged by event time, not arrival time.
func TestDedupByEventTime(t *testing.T) {
	d, _, c := newTestDedup(t, DedupConfig{Window: Duration(time.Minute)})
	a0, a1, a2 := alert(0), alert(1), alert(2)
	a1.Time = a0.Time.Add(30 * time.Second) // repeat
	a2.Time = a0.Time.Add(time.Hour)        // new window
	if !d.Offer(a0) || d.Offer(a1) || !d.Offer(a2) {
		t.Fatal("event-time windows not applied")
	}
	if got := c.get(); len(got) != 1 || got[0].OutputFields[FieldRepeatCount] != uint64(1) {
		t.Fatalf("summaries %v", got)
	}
}

func TestDedupNoRepeatsNoSummary(t *testing.T) {
	d, clk, c := newTestDedup(t, DedupConfig{Window: Duration(time.Second)})
	d.Offer(alert(0))
	clk.advance(2 * time.Second)
	d.sweep(false)
	if len(c.get()) != 0 {
		t.Error("summary for an alert without repeats")
	}
}

func TestDedupCloseFlushesOpenWindows(t *testing.T) {
	d, _, c := newTestDedup(t, DedupConfig{Window: Duration(time.Hour)})
	a, b := alert(0), alert(0)
	b.Workload = "other"
	for range 3 {
		d.Offer(a)
		d.Offer(b)
	}
	d.Close()
	if got := c.get(); len(got) != 2 {
		t.Fatalf("%d summaries, want 2", len(got))
	}
	d.Close() // idempotent
}

func TestDedupMaxKeysPassesThrough(t *testing.T) {
	d, _, _ := newTestDedup(t, DedupConfig{Window: Duration(time.Hour), MaxKeys: 16})
	passed := 0
	for i := range 1000 {
		a := alert(0)
		a.Workload = string(rune('A' + i%500))
		if d.Offer(a) {
			passed++
		}
	}
	// At most 16 keys are tracked; the second round of the other 484
	// workloads passes again.
	if passed < 1000-16 {
		t.Errorf("%d passed", passed)
	}
}

func TestDedupDisabled(t *testing.T) {
	d, _, _ := newTestDedup(t, DedupConfig{})
	for range 3 {
		if !d.Offer(alert(0)) {
			t.Fatal("dedup with window 0 held an alert back")
		}
	}
}

// TestDispatcherDedupRealTime runs the window on the real clock through a
// Dispatcher: 1 alert in full, 9 repeats, one summary when the window closes.
func TestDispatcherDedupRealTime(t *testing.T) {
	m := metrics.New(&metrics.Options{NoRuntimeCollectors: true})
	var buf syncBuffer
	d := NewDispatcher(DispatcherConfig{Recorder: m, Dedup: DedupConfig{Window: Duration(100 * time.Millisecond)}},
		NewWriter(&buf, FormatJSON, &Options{Recorder: m}))
	for i := range 10 {
		d.Send(alert(i))
	}
	waitFor(t, "the summary", func() bool { return len(buf.Lines()) == 2 })
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	lines := buf.Lines()
	var first, sum map[string]any
	json.Unmarshal([]byte(lines[0]), &first)
	json.Unmarshal([]byte(lines[1]), &sum)
	ff := first["output_fields"].(map[string]any)
	sf := sum["output_fields"].(map[string]any)
	if ff["n"] != float64(0) || ff[FieldRepeatCount] != nil || sf[FieldRepeatCount] != float64(9) || sf["n"] != float64(9) {
		t.Errorf("first %v\nsummary %v", ff, sf)
	}
	if got := counter(t, m, metrics.AlertsTotal, map[string]string{"rule": "Terminal shell in container"}); got != 10 {
		t.Errorf("alerts_total %v, want 10 (every alert counts)", got)
	}
	if got := counter(t, m, metrics.AlertsSuppressedTotal, map[string]string{"rule": "Terminal shell in container"}); got != 9 {
		t.Errorf("suppressed %v, want 9", got)
	}
}

// TestDedupSummaryAtLastOccurrence (issue #13 item 6): a summary carries the
// time of the last occurrence it counts, and the first and last times, even
// when repeats arrive out of order (events from several CPUs).
func TestDedupSummaryAtLastOccurrence(t *testing.T) {
	d, clk, c := newTestDedup(t, DedupConfig{Window: Duration(10 * time.Second)})
	t0 := clk.now()
	if !d.Offer(at(0, clk)) {
		t.Fatal("first held back")
	}
	for _, off := range []int{3, 1, 5, 2} {
		a := alert(off)
		a.Time = t0.Add(time.Duration(off) * time.Second)
		if d.Offer(a) {
			t.Fatalf("repeat at +%ds passed", off)
		}
	}
	d.Close()
	got := c.get()
	if len(got) != 1 {
		t.Fatalf("%d summaries", len(got))
	}
	s := got[0]
	stamp := func(off int) string {
		return string(t0.Add(time.Duration(off)*time.Second).UTC().AppendFormat(nil, detector.TimeLayoutJSON))
	}
	if !s.Time.Equal(t0.Add(5*time.Second)) || s.OutputFields[FieldRepeatCount] != uint64(4) ||
		s.OutputFields[FieldFirstTime] != stamp(1) || s.OutputFields[FieldLastTime] != stamp(5) {
		t.Errorf("summary at %v, fields %v; want the last occurrence (+5s), 4 repeats from +1s to +5s", s.Time.Sub(t0), s.OutputFields)
	}
}

// TestDedupTimeOrder (issue #13 item 6): what dedup lets through and the
// summaries it emits come out in time order: repeats counted before an
// alert that passes are summarised before it, and the window goes on.
func TestDedupTimeOrder(t *testing.T) {
	var mu sync.Mutex
	var out []*detector.Alert
	clk := &fakeClock{}
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	clk.ns.Store(t0.UnixNano())
	d := newDedup(DedupConfig{Window: Duration(time.Minute)}, nil, func(a *detector.Alert) {
		mu.Lock()
		out = append(out, a)
		mu.Unlock()
	}, clk.now)
	offer := func(workload string, sec int, count uint64) {
		a := alert(sec)
		a.Workload, a.Time, a.Count = workload, t0.Add(time.Duration(sec)*time.Second), count
		if d.Offer(a) {
			mu.Lock()
			out = append(out, a)
			mu.Unlock()
		}
	}
	offer("a", 0, 0)
	offer("a", 1, 0)
	offer("a", 2, 1000) // a summary of kernel-counted repeats
	offer("b", 3, 0)    // a's repeats so far go out before it
	offer("a", 4, 0)
	offer("b", 5, 0)
	d.Close()
	var times []int
	var counts []any
	for _, a := range out {
		times = append(times, int(a.Time.Sub(t0)/time.Second))
		counts = append(counts, a.OutputFields[FieldRepeatCount])
	}
	want := []int{0, 2, 3, 4, 5}
	if fmt.Sprint(times) != fmt.Sprint(want) {
		t.Fatalf("delivered at %v s, want %v (time order)", times, want)
	}
	if fmt.Sprint(counts) != fmt.Sprint([]any{nil, uint64(1001), nil, uint64(1), uint64(1)}) {
		t.Errorf("repeat counts %v, want a's 1+1000 then 1 and b's 1", counts)
	}
}

// TestDispatcherCounts: the dispatcher says how many alerts it printed and
// how many occurrences they stand for; an alert standing for many says so.
func TestDispatcherCounts(t *testing.T) {
	var buf syncBuf
	d := NewDispatcher(DispatcherConfig{Dedup: DedupConfig{Window: Duration(time.Hour)}},
		NewWriter(&buf, FormatText, nil))
	for i := range 10 {
		a := alert(i)
		if i == 9 {
			a.Count = 500
		}
		d.Send(a)
	}
	b := alert(0)
	b.Workload, b.Count = "other", 7
	d.Send(b)
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	printed, counted := d.Counts()
	if printed != 3 || counted[alert(0).Rule] != 9+500+7 {
		t.Errorf("printed %d, counted %v; want 3 and 516", printed, counted)
	}
	if !strings.Contains(buf.String(), "(7 times, counted in the kernel") || !strings.Contains(buf.String(), "repeated 508 more times") {
		t.Errorf("output:\n%s", buf.String())
	}
}

type syncBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
