package output

import (
	"fmt"
	"hash/maphash"
	"maps"
	"reflect"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/sysward/sysward/detector"
	"github.com/sysward/sysward/detector/metrics"
)

// Output fields a repeat summary adds.
const (
	FieldRepeatCount  = "sysward.repeat_count"  // repeats collapsed into this summary
	FieldRepeatWindow = "sysward.repeat_window" // the window, e.g. "10s"
	FieldFirstTime    = "sysward.first_time"    // time of the first repeat the summary counts (Falco's format)
	FieldLastTime     = "sysward.last_time"     // time of the last one: also the summary's time
	// FieldCount is added to an alert that stands for more than one
	// occurrence by itself (detector.Alert.Count: repeats the kernel
	// counted), when it is delivered as it is.
	FieldCount = "sysward.count"
)

// DefaultDedupKeyFields are the output fields that, with the rule and the
// alert's Workload and Syscall, make two alerts "identical".
var DefaultDedupKeyFields = []string{"sysward.workload", "evt.type"}

// DedupConfig configures collapsing of repeated identical alerts.
type DedupConfig struct {
	// Window is how long repeats are collapsed after the first one; 0
	// disables dedup.
	Window Duration `yaml:"window"`
	// KeyFields are output fields whose values, with the rule name and the
	// alert's Workload and Syscall, identify repeats (default
	// DefaultDedupKeyFields). An empty non-nil list keys on rule, Workload
	// and Syscall only.
	KeyFields []string `yaml:"key_fields"`
	// MaxKeys bounds open windows (default 10000); beyond it, alerts pass
	// through uncollapsed.
	MaxKeys int `yaml:"max_keys"`
}

// Dedup collapses repeated identical alerts: the first one of a key passes in
// full; repeats within Window after it are counted, and when the window
// closes (or on Close) one summary alert is emitted carrying the latest
// repeat, its time, and the count of occurrences (FieldRepeatCount, each
// alert weighing its Count). Offer is safe for concurrent use.
//
// Alerts leave in time order: before an alert passes, the repeats counted
// before its time are summarised (and their windows go on counting), so a
// summary never follows an alert later than what it counts. With one
// sender, what Offer passes and what emit receives are in event-time order.
type Dedup struct {
	window    time.Duration
	keyFields []string
	maxPer    int
	emit      func(*detector.Alert)
	rec       metrics.Recorder
	seed      maphash.Seed
	shards    [dedupShards]dedupShard
	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
	now       func() time.Time
}

const dedupShards = 16

type dedupShard struct {
	mu      sync.Mutex
	entries map[uint64]*dedupEntry
	_       [40]byte // keep shards on separate cache lines
}

type dedupEntry struct {
	first   *detector.Alert // the alert that opened the window (identity)
	vals    []any           // first's key field values
	last    *detector.Alert // latest repeat (by event time)
	opened  time.Time       // wall clock, for the sweeper
	repeats uint64          // occurrences counted since the last summary
	from    time.Time       // time of the earliest of them
}

// NewDedup returns a Dedup calling emit with each window's summary. emit is
// called from Dedup's sweeper goroutine, from Close, and from Offer when it
// finds an expired window first, so it must be safe for concurrent use.
func NewDedup(cfg DedupConfig, rec metrics.Recorder, emit func(*detector.Alert)) *Dedup {
	return newDedup(cfg, rec, emit, time.Now)
}

func newDedup(cfg DedupConfig, rec metrics.Recorder, emit func(*detector.Alert), now func() time.Time) *Dedup {
	if rec == nil {
		rec = metrics.Nop
	}
	keys := cfg.KeyFields
	if keys == nil {
		keys = DefaultDedupKeyFields
	}
	maxKeys := cfg.MaxKeys
	if maxKeys <= 0 {
		maxKeys = 10000
	}
	d := &Dedup{window: time.Duration(cfg.Window), keyFields: keys, maxPer: (maxKeys + dedupShards - 1) / dedupShards,
		emit: emit, rec: rec, seed: maphash.MakeSeed(), stop: make(chan struct{}), done: make(chan struct{}), now: now}
	for i := range d.shards {
		d.shards[i].entries = make(map[uint64]*dedupEntry)
	}
	tick := d.window / 4
	if tick < 10*time.Millisecond {
		tick = 10 * time.Millisecond
	}
	go d.sweeper(tick)
	return d
}

// Offer reports whether a should be delivered now (true: the first of its
// key in the window, or dedup is off or full) or was counted as a repeat.
//
// A repeat is judged by event time: a is a repeat if it comes less than
// Window after the alert that opened the window (so a replayed event file
// collapses as the live stream did). Windows are closed on the wall clock by
// the sweeper, or by the first alert past the window.
func (d *Dedup) Offer(a *detector.Alert) bool {
	if d.window <= 0 {
		return true
	}
	var buf [8]any
	vals := buf[:0]
	if len(d.keyFields) > len(buf) {
		vals = make([]any, 0, len(d.keyFields))
	}
	for _, k := range d.keyFields {
		vals = append(vals, a.OutputFields[k])
	}
	h := d.hash(a, vals)
	s := &d.shards[h%dedupShards]
	s.mu.Lock()
	e, ok := s.entries[h]
	if ok && e.same(a, vals) && a.Time.Sub(e.first.Time) < d.window {
		e.add(a)
		s.mu.Unlock()
		return false
	}
	s.mu.Unlock()
	// a passes: first what was counted before it, in time order (this
	// closes a's own expired window too).
	d.flushBefore(a.Time)
	s.mu.Lock()
	e, ok = s.entries[h]
	var sum *detector.Alert
	if ok && e.same(a, vals) {
		// Expired: counted later than a (a reordered stream) or nothing.
		if e.repeats > 0 {
			sum = d.summary(e)
		}
		s.entries[h] = d.newEntry(a, vals)
	} else if !ok && len(s.entries) < d.maxPer {
		s.entries[h] = d.newEntry(a, vals)
	}
	// A different alert under the same 64-bit hash, or too many open
	// windows: pass it through uncollapsed.
	s.mu.Unlock()
	if sum != nil {
		d.publish(sum)
	}
	return true
}

// add counts a as a repeat.
func (e *dedupEntry) add(a *detector.Alert) {
	if e.repeats == 0 || a.Time.Before(e.from) {
		e.from = a.Time
	}
	e.repeats += a.Occurrences()
	if e.last == nil || !a.Time.Before(e.last.Time) {
		e.last = a
	}
}

// flushBefore summarises, oldest first, the repeats of every open window
// whose latest counted occurrence is before t; the windows stay open.
func (d *Dedup) flushBefore(t time.Time) {
	var out []*detector.Alert
	for i := range d.shards {
		s := &d.shards[i]
		s.mu.Lock()
		for _, e := range s.entries {
			if e.repeats > 0 && e.last.Time.Before(t) {
				out = append(out, d.summary(e))
			}
		}
		s.mu.Unlock()
	}
	d.publishSorted(out)
}

func (d *Dedup) publishSorted(out []*detector.Alert) {
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	for _, a := range out {
		d.publish(a)
	}
}

func (d *Dedup) newEntry(a *detector.Alert, vals []any) *dedupEntry {
	// a is delivered (with its own count, WithCount): it opens the window
	// with nothing counted yet.
	return &dedupEntry{first: a, vals: append([]any(nil), vals...), opened: d.now()}
}

func (d *Dedup) publish(sum *detector.Alert) {
	d.rec.AlertsSuppressed(sum.Rule, sum.OutputFields[FieldRepeatCount].(uint64))
	d.emit(sum)
}

func (d *Dedup) hash(a *detector.Alert, vals []any) uint64 {
	var h maphash.Hash
	h.SetSeed(d.seed)
	h.WriteString(a.Rule)
	h.WriteByte(0)
	h.WriteString(a.Workload)
	h.WriteByte(0)
	h.WriteString(a.Syscall)
	var num [20]byte
	for _, v := range vals {
		h.WriteByte(0)
		switch v := v.(type) {
		case nil:
			h.WriteByte(1)
		case string:
			h.WriteString(v)
		case int64:
			h.Write(strconv.AppendInt(num[:0], v, 10))
		case int:
			h.Write(strconv.AppendInt(num[:0], int64(v), 10))
		case uint64:
			h.Write(strconv.AppendUint(num[:0], v, 10))
		default:
			h.WriteString(fmt.Sprint(v))
		}
	}
	return h.Sum64()
}

// same reports whether a (with its key field values vals) has e's key.
func (e *dedupEntry) same(a *detector.Alert, vals []any) bool {
	x := e.first
	if x.Rule != a.Rule || x.Workload != a.Workload || x.Syscall != a.Syscall || len(vals) != len(e.vals) {
		return false
	}
	for i, v := range vals {
		if sv, ok := v.(string); ok {
			if se, ok := e.vals[i].(string); !ok || sv != se {
				return false
			}
			continue
		}
		if !reflect.DeepEqual(v, e.vals[i]) {
			return false
		}
	}
	return true
}

func (d *Dedup) sweeper(tick time.Duration) {
	defer close(d.done)
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-d.stop:
			return
		case <-t.C:
			d.sweep(false)
		}
	}
}

// sweep closes expired windows (all windows if all), emitting summaries.
func (d *Dedup) sweep(all bool) {
	now := d.now()
	var out []*detector.Alert
	for i := range d.shards {
		s := &d.shards[i]
		s.mu.Lock()
		for k, e := range s.entries {
			if all || now.Sub(e.opened) >= d.window {
				delete(s.entries, k)
				if e.repeats > 0 {
					out = append(out, d.summary(e))
				}
			}
		}
		s.mu.Unlock()
	}
	d.publishSorted(out)
}

// summary is the latest repeat with the count added, at the latest repeat's
// time; a new Alert and map, since the repeat itself is shared read-only.
// It resets e's count: the window goes on counting from zero. Called with
// e's shard locked.
func (d *Dedup) summary(e *dedupEntry) *detector.Alert {
	s := *e.last
	s.Count = 0 // the count is in the fields now
	s.OutputFields = make(map[string]any, len(e.last.OutputFields)+4)
	maps.Copy(s.OutputFields, e.last.OutputFields)
	delete(s.OutputFields, FieldCount)
	s.OutputFields[FieldRepeatCount] = e.repeats
	s.OutputFields[FieldRepeatWindow] = d.window.String()
	s.OutputFields[FieldFirstTime] = string(e.from.UTC().AppendFormat(nil, detector.TimeLayoutJSON))
	s.OutputFields[FieldLastTime] = string(e.last.Time.UTC().AppendFormat(nil, detector.TimeLayoutJSON))
	s.Output = fmt.Sprintf("%s (repeated %d more times within %s)", e.last.Output, e.repeats, d.window)
	e.repeats = 0
	return &s
}

// WithCount returns a itself when it stands for one occurrence, else a copy
// that says how many (FieldCount, and in the text): for an alert delivered
// without dedup, or that opened a window.
func WithCount(a *detector.Alert) *detector.Alert {
	n := a.Occurrences()
	if n <= 1 {
		return a
	}
	c := *a
	c.OutputFields = make(map[string]any, len(a.OutputFields)+1)
	maps.Copy(c.OutputFields, a.OutputFields)
	c.OutputFields[FieldCount] = n
	c.Output = fmt.Sprintf("%s (%d times, counted in the kernel; this is the last)", a.Output, n)
	return &c
}

// Close stops the sweeper and emits the summaries of all open windows.
func (d *Dedup) Close() {
	d.closeOnce.Do(func() {
		close(d.stop)
		<-d.done
		d.sweep(true)
	})
}
