package output

import (
	"context"
	"errors"
	"maps"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sysward/sysward/detector"
	"github.com/sysward/sysward/detector/metrics"
)

// DispatcherConfig configures a Dispatcher; the zero value is usable.
type DispatcherConfig struct {
	// Dedup collapses repeated identical alerts; Window 0 turns it off.
	Dedup DedupConfig
	// Hostname fills in alerts whose Hostname is empty.
	Hostname string
	// Recorder counts alerts (sysward_alerts_total) and suppressed repeats.
	Recorder metrics.Recorder
	// FlushTimeout bounds Close (default 5s).
	FlushTimeout time.Duration
}

// Dispatcher fans each alert out to several outputs, after counting it and
// collapsing repeats. It is the one thing the engine sends alerts to.
type Dispatcher struct {
	outs     []Output
	dedup    *Dedup
	rec      metrics.Recorder
	hostname string
	flush    time.Duration
	once     sync.Once
	err      error

	printed atomic.Uint64
	cmu     sync.Mutex
	counted map[string]uint64 // occurrences per rule
}

// Multi is another name for Dispatcher.
type Multi = Dispatcher

// NewDispatcher returns a Dispatcher over outs; it owns them and closes them
// in Close.
func NewDispatcher(cfg DispatcherConfig, outs ...Output) *Dispatcher {
	d := &Dispatcher{outs: outs, rec: cfg.Recorder, hostname: cfg.Hostname, flush: cfg.FlushTimeout, counted: map[string]uint64{}}
	if d.rec == nil {
		d.rec = metrics.Nop
	}
	if d.flush <= 0 {
		d.flush = 5 * time.Second
	}
	if cfg.Dedup.Window > 0 {
		d.dedup = NewDedup(cfg.Dedup, d.rec, d.fanout)
	}
	return d
}

// Outputs returns the outputs, e.g. to read their Stats.
func (d *Dispatcher) Outputs() []Output { return d.outs }

// Send counts a, and unless it repeats an alert in an open dedup window,
// queues it on every output. It never blocks; a belongs to the Dispatcher
// afterwards.
func (d *Dispatcher) Send(a *detector.Alert) {
	if a.Hostname == "" {
		a.Hostname = d.hostname
	}
	d.rec.Alert(a.Rule, a.Priority.String())
	d.cmu.Lock()
	d.counted[a.Rule] += a.Occurrences()
	d.cmu.Unlock()
	if d.dedup != nil && !d.dedup.Offer(a) {
		return
	}
	d.fanout(WithCount(a))
}

func (d *Dispatcher) fanout(a *detector.Alert) {
	d.printed.Add(1)
	for _, o := range d.outs {
		o.Send(a)
	}
}

// Counts says what the Dispatcher did so far: printed is how many alerts
// went to the outputs (first occurrences, repeat summaries, alerts dedup
// did not collapse); counted is how many occurrences they stand for, per
// rule (an alert counts its Count, a repeat summary nothing beyond the
// alerts it collapsed).
func (d *Dispatcher) Counts() (printed uint64, counted map[string]uint64) {
	d.cmu.Lock()
	defer d.cmu.Unlock()
	counted = make(map[string]uint64, len(d.counted))
	maps.Copy(counted, d.counted)
	return d.printed.Load(), counted
}

// Close emits pending repeat summaries and closes every output, flushing for
// at most FlushTimeout. It returns the outputs' errors joined.
func (d *Dispatcher) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), d.flush)
	defer cancel()
	return d.Shutdown(ctx)
}

// Shutdown is Close with the deadline taken from ctx.
func (d *Dispatcher) Shutdown(ctx context.Context) error {
	d.once.Do(func() {
		if d.dedup != nil {
			d.dedup.Close()
		}
		errs := make([]error, len(d.outs))
		var wg sync.WaitGroup
		for i, o := range d.outs {
			wg.Go(func() { errs[i] = o.Close(ctx) })
		}
		wg.Wait()
		d.err = errors.Join(errs...)
	})
	return d.err
}
