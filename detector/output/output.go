package output

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sysward/sysward/detector"
	"github.com/sysward/sysward/detector/metrics"
)

// Sentinel errors.
var (
	// ErrBadConfig wraps every configuration error.
	ErrBadConfig = errors.New("bad output configuration")
	// ErrFlushTimeout means Close's deadline passed with alerts undelivered.
	ErrFlushTimeout = errors.New("alerts left undelivered at the close deadline")
	// ErrClosed is returned by operations on a closed output.
	ErrClosed = errors.New("output closed")
)

// DefaultQueueSize is the queue length when Options.QueueSize is zero.
const DefaultQueueSize = 4096

// Output is one alert destination.
type Output interface {
	// Name is the output's metrics label ("stdout", "http", ...).
	Name() string
	// Send queues a for delivery without blocking; a full queue drops it.
	Send(a *detector.Alert)
	// Close delivers what is queued until ctx is done, then releases the
	// output. See the package documentation.
	Close(ctx context.Context) error
	// Stats returns delivery counters.
	Stats() Stats
}

// Stats are an output's counters since it was made.
type Stats struct {
	Sent    uint64 // delivered
	Dropped uint64 // not delivered: queue full, retries exhausted, close deadline
	Errors  uint64 // failed delivery attempts
	Queued  int    // waiting in the queue now
	// InFlight is how many alerts the output is delivering now (taken off
	// the queue, not yet sent or dropped): a stuck write shows here.
	InFlight int
}

// Format is how an alert is written as a line.
type Format int

const (
	// FormatText is Falco's text line: "HH:MM:SS.nnnnnnnnn: Priority output".
	FormatText Format = iota
	// FormatJSON is Falco's JSON alert, one per line.
	FormatJSON
)

func (f Format) String() string {
	if f == FormatJSON {
		return "json"
	}
	return "text"
}

// ParseFormat reads "text" or "json".
func ParseFormat(s string) (Format, error) {
	switch strings.ToLower(s) {
	case "text", "":
		return FormatText, nil
	case "json":
		return FormatJSON, nil
	}
	return 0, fmt.Errorf("%w: format %q: want text or json", ErrBadConfig, s)
}

// appendLine appends a in format f plus a newline.
func appendLine(dst []byte, a *detector.Alert, f Format) []byte {
	if f == FormatJSON {
		dst = a.AppendJSON(dst)
	} else {
		dst = a.AppendText(dst)
	}
	return append(dst, '\n')
}

// Options are common to every output; nil means defaults.
type Options struct {
	// Name overrides the output's metrics label (default: its kind).
	Name string
	// QueueSize bounds the queue (default DefaultQueueSize).
	QueueSize int
	// Recorder receives sent/dropped/error counts (default metrics.Nop).
	Recorder metrics.Recorder
	// Logger receives delivery errors, rate-limited (default: discarded).
	Logger *slog.Logger
}

func (o *Options) withDefaults(kind string) Options {
	var r Options
	if o != nil {
		r = *o
	}
	if r.Name == "" {
		r.Name = kind
	}
	if r.QueueSize <= 0 {
		r.QueueSize = DefaultQueueSize
	}
	if r.Recorder == nil {
		r.Recorder = metrics.Nop
	}
	if r.Logger == nil {
		r.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return r
}

// sink is what an output does on its delivery goroutine. A sink is either
// an alertSink (one delivery per alert, e.g. an HTTP POST) or a lineSink
// (alerts encoded as lines and written in batches: whatever is queued, up to
// maxBatch bytes, goes out in one write).
type sink interface {
	// shutdown releases the resource after the last delivery.
	shutdown(ctx context.Context) error
}

type alertSink interface {
	sink
	// deliver sends one alert; ctx is cancelled at the close deadline.
	deliver(ctx context.Context, a *detector.Alert) error
}

type lineSink interface {
	sink
	format() Format
	// writeLines writes whole lines; on error none of them count as sent.
	writeLines(ctx context.Context, b []byte) error
}

// maxBatch bounds how many bytes of lines one write carries.
const maxBatch = 64 << 10

// queue is the asynchronous core every output shares.
type queue struct {
	opts Options
	sink sink
	ch   chan *detector.Alert

	mu     sync.RWMutex // write-held only to flip closed
	closed bool

	sent, dropped, errs atomic.Uint64
	inflight            atomic.Int64

	stop      chan struct{}
	done      chan struct{}
	ctx       context.Context // cancelled at the close deadline
	cancel    context.CancelFunc
	closeOnce sync.Once
	closeErr  error

	lastLog atomic.Int64 // unix nanos of the last logged error
}

func newQueue(opts Options, s sink) *queue {
	ctx, cancel := context.WithCancel(context.Background())
	q := &queue{opts: opts, sink: s, ch: make(chan *detector.Alert, opts.QueueSize),
		stop: make(chan struct{}), done: make(chan struct{}), ctx: ctx, cancel: cancel}
	go q.run()
	return q
}

func (q *queue) Name() string { return q.opts.Name }

func (q *queue) Send(a *detector.Alert) {
	q.mu.RLock()
	if q.closed {
		q.mu.RUnlock()
		q.drop(1)
		return
	}
	select {
	case q.ch <- a:
		q.mu.RUnlock()
	default:
		q.mu.RUnlock()
		q.drop(1)
	}
}

func (q *queue) drop(n uint64) {
	q.dropped.Add(n)
	q.opts.Recorder.OutputDropped(q.opts.Name, n)
}

func (q *queue) failed(err error) {
	q.errs.Add(1)
	q.opts.Recorder.OutputError(q.opts.Name)
	now := time.Now().UnixNano()
	last := q.lastLog.Load()
	if now-last >= int64(time.Second) && q.lastLog.CompareAndSwap(last, now) {
		q.opts.Logger.Warn("alert output error", "output", q.opts.Name, "err", err)
	}
}

func (q *queue) Stats() Stats {
	return Stats{Sent: q.sent.Load(), Dropped: q.dropped.Load(), Errors: q.errs.Load(), Queued: len(q.ch), InFlight: int(q.inflight.Load())}
}

func (q *queue) run() {
	defer close(q.done)
	ls, isLines := q.sink.(lineSink)
	var buf []byte
	stopping := false
	for {
		var a *detector.Alert
		if !stopping {
			select {
			case a = <-q.ch:
			case <-q.stop:
				stopping = true
				continue
			}
		} else {
			select {
			case a = <-q.ch:
			default:
				return
			}
			if q.ctx.Err() != nil {
				q.drop(1)
				continue
			}
		}
		if !isLines {
			q.one(a)
			continue
		}
		// Batch whatever else is already queued into one write.
		f := ls.format()
		buf = appendLine(buf[:0], a, f)
		n := 1
	batch:
		for len(buf) < maxBatch {
			select {
			case next := <-q.ch:
				buf = appendLine(buf, next, f)
				n++
			default:
				break batch
			}
		}
		q.inflight.Store(int64(n))
		err := ls.writeLines(q.ctx, buf)
		q.inflight.Store(0)
		if err != nil {
			q.failed(err)
			q.drop(uint64(n))
		} else {
			q.sent.Add(uint64(n))
			q.opts.Recorder.OutputSent(q.opts.Name, uint64(n))
		}
		if cap(buf) > 4*maxBatch {
			buf = nil // do not keep a huge buffer after one huge alert
		}
	}
}

func (q *queue) one(a *detector.Alert) {
	q.inflight.Store(1)
	err := q.sink.(alertSink).deliver(q.ctx, a)
	q.inflight.Store(0)
	if err != nil {
		q.failed(err)
		q.drop(1)
		return
	}
	q.sent.Add(1)
	q.opts.Recorder.OutputSent(q.opts.Name, 1)
}

// Close implements Output.
func (q *queue) Close(ctx context.Context) error {
	q.closeOnce.Do(func() {
		q.mu.Lock()
		q.closed = true
		q.mu.Unlock()
		close(q.stop)
		var flushErr error
		dropped := q.dropped.Load()
		select {
		case <-q.done:
		case <-ctx.Done():
			q.cancel() // abort retries and backoff; the rest is counted dropped
			select {
			case <-q.done:
				if q.dropped.Load() > dropped {
					flushErr = fmt.Errorf("closing output %s: %w", q.opts.Name, ErrFlushTimeout)
				}
			case <-time.After(2 * time.Second):
				// A write is stuck (e.g. a program not reading its stdin):
				// leave the goroutine, and take what is still queued off the
				// channel here, counting it as dropped (each alert is
				// received once, by this loop or by the worker).
				for drained := false; !drained; {
					select {
					case <-q.ch:
						q.drop(1)
					default:
						drained = true
					}
				}
				flushErr = fmt.Errorf("closing output %s: %w (a write is blocked)", q.opts.Name, ErrFlushTimeout)
			}
		}
		q.cancel()
		sctx, cancel := context.WithTimeout(context.Background(), time.Second)
		if ctx.Err() == nil {
			sctx, cancel = context.WithCancel(ctx)
		}
		defer cancel()
		if err := q.sink.shutdown(sctx); err != nil {
			flushErr = errors.Join(flushErr, fmt.Errorf("closing output %s: %w", q.opts.Name, err))
		}
		q.closeErr = flushErr
	})
	return q.closeErr
}
