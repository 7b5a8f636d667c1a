package watch

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/sysward/sysward/detector/output"
)

// DefaultStallAfter is how long a loop of a session may make no progress
// before /healthz reports it (Config.StallAfter).
const DefaultStallAfter = 30 * time.Second

// health decides /healthz for a session: unhealthy, with the reason, when
// the kernel event reader (Watcher.Run), the discovery loop (Node.Run, node
// agent only) or an output has made no progress for longer than stall.
// Each loop stamps its own progress; outputs are sampled (sample), since
// "progress" for an output is delivering what is queued.
type health struct {
	stall  time.Duration
	reader func() time.Time // Watcher.LastBeat
	pass   func() time.Time // Node.LastPass; nil without discovery
	every  time.Duration    // discovery interval (a pass is due every)
	outs   func() []output.Output

	mu    sync.Mutex
	moved map[string]outMark
}

// outMark is an output's delivered+dropped count and when it last changed
// (or its queue was last empty).
type outMark struct {
	n  uint64
	at time.Time
}

func newHealth(stall time.Duration, reader func() time.Time, outs func() []output.Output) *health {
	if stall <= 0 {
		stall = DefaultStallAfter
	}
	return &health{stall: stall, reader: reader, outs: outs, moved: map[string]outMark{}}
}

// sample records the outputs' progress; check calls it too, a session
// calls it every second so a stall is dated from when it began.
func (h *health) sample(now time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, o := range h.outs() {
		st := o.Stats()
		n := st.Sent + st.Dropped
		m, ok := h.moved[o.Name()]
		if !ok || n != m.n || st.Queued+st.InFlight == 0 {
			h.moved[o.Name()] = outMark{n: n, at: now}
		}
	}
}

// check returns nil when every loop made progress within the bound.
func (h *health) check() error {
	now := time.Now()
	h.sample(now)
	var errs []error
	if d := now.Sub(h.reader()); d > h.stall {
		errs = append(errs, fmt.Errorf("kernel event reader: stuck for %v (bound %v)", d.Round(100*time.Millisecond), h.stall))
	}
	if h.pass != nil {
		if d := now.Sub(h.pass()); d > h.stall+h.every {
			errs = append(errs, fmt.Errorf("container discovery: no pass finished for %v (bound %v)", d.Round(100*time.Millisecond), h.stall+h.every))
		}
	}
	h.mu.Lock()
	for _, o := range h.outs() {
		if m, ok := h.moved[o.Name()]; ok && now.Sub(m.at) > h.stall {
			st := o.Stats()
			errs = append(errs, fmt.Errorf("output %s: %d alerts waiting, none delivered for %v (bound %v)",
				o.Name(), st.Queued+st.InFlight, now.Sub(m.at).Round(100*time.Millisecond), h.stall))
		}
	}
	h.mu.Unlock()
	if len(errs) == 0 {
		return nil
	}
	msgs := make([]string, len(errs))
	for i, e := range errs {
		msgs[i] = e.Error()
	}
	return errors.New(strings.Join(msgs, "; "))
}

// run samples the outputs every second until stop is closed.
func (h *health) run(stop <-chan struct{}) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case now := <-t.C:
			h.sample(now)
		}
	}
}
