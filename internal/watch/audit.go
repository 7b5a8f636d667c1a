package watch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sysward/sysward/audit"
	"github.com/sysward/sysward/detector"
)

// DefaultCorrelationWindow is how long after an exec, attach, port-forward
// or ephemeral container into a pod a call outside that pod's profile is
// correlated with it (NodeOptions.Audit.Window).
const DefaultCorrelationWindow = 5 * time.Minute

// AuditInput is the node agent's second event source: the kube-apiserver's
// audit records, from its webhook backend (Webhook served on Listener)
// and/or its log file (LogPath). Each record goes through the rules
// (source k8s_audit) and into an audit.Correlator that the node's syscall
// events feed too: an interactive access into a pod followed within Window
// by a call outside that pod's profile raises one correlated alert.
type AuditInput struct {
	Webhook  *audit.Webhook
	Listener net.Listener // required with Webhook
	LogPath  string
	// LogFromStart reads LogPath from its beginning, not its end.
	LogFromStart bool
	// Window (0: DefaultCorrelationWindow) and MaxPods (0: the
	// correlator's default) bound the correlation.
	Window  time.Duration
	MaxPods int
	// Warn receives what goes wrong with an input while it runs (the
	// log file vanishing, a bad line); nil discards.
	Warn func(msg string, args ...any)
}

// AuditStoppedRule is the rule name of the internal alert raised when an
// audit input stops while the agent runs (the webhook's listener failed,
// the log file became unreadable or not a regular file): from then on its
// records are neither alerted on nor correlated.
const AuditStoppedRule = "sysward audit input stopped"

// auditSource runs an AuditInput: its goroutines feed eng (the k8s_audit
// rules) and corr.
type auditSource struct {
	in       *AuditInput
	eng      *detector.Engine
	corr     *audit.Correlator
	internal detector.AlertSink
	hostname string

	wg      sync.WaitGroup
	fst     audit.FollowStats
	records uint64 // from the log, decoded
	bad     uint64 // log lines that are not audit records
	mu      sync.Mutex
}

func newAuditSource(in *AuditInput, eng *detector.Engine, sink detector.AlertSink, hostname string) *auditSource {
	w := in.Window
	if w <= 0 {
		w = DefaultCorrelationWindow
	}
	return &auditSource{in: in, eng: eng, internal: sink, hostname: hostname,
		corr: &audit.Correlator{Window: w, MaxPods: in.MaxPods, Hostname: hostname, Sink: sink}}
}

func (s *auditSource) warn(msg string, args ...any) {
	if s.in.Warn != nil {
		s.in.Warn(msg, args...)
	}
}

// stopped reports an input that ended while the agent runs: logged and
// raised as an internal alert.
func (s *auditSource) stopped(input string, err error) {
	msg := fmt.Sprintf("Audit input %s stopped: %v; its records are no longer alerted on or correlated (restart the agent once fixed)", input, err)
	s.warn(msg)
	s.internal.Send(&detector.Alert{
		Time: time.Now(), Rule: AuditStoppedRule, Priority: detector.PriorityWarning, Source: "internal",
		Hostname: s.hostname, Output: msg,
		OutputFields: map[string]any{"sysward.audit_input": input, "sysward.error": err.Error()},
		Tags:         []string{"sysward", "internal"},
	})
}

// handle is one audit record: the rules, then the correlator. The engine
// is not shared with the syscall path (its own instance over the same
// rules), so the two inputs never wait for each other.
func (s *auditSource) handle(ev *detector.Event) {
	s.eng.Process(ev)
	s.corr.Audit(ev)
}

// start runs the inputs until ctx is done; wait waits for them.
func (s *auditSource) start(ctx context.Context) {
	if wh := s.in.Webhook; wh != nil {
		s.wg.Add(2)
		go func() {
			defer s.wg.Done()
			if err := wh.Serve(ctx, s.in.Listener); err != nil && ctx.Err() == nil {
				s.stopped("webhook "+s.in.Listener.Addr().String(), err)
			}
		}()
		go func() {
			defer s.wg.Done()
			for {
				b, ok := wh.Next(ctx)
				if !ok {
					return
				}
				for i := range b {
					s.handle(&b[i])
				}
			}
		}()
	}
	if s.in.LogPath != "" {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			err := audit.FollowEvents(ctx, s.in.LogPath, &audit.FollowOptions{FromStart: s.in.LogFromStart}, &s.fst,
				func(ev *detector.Event) {
					s.mu.Lock()
					s.records++
					s.mu.Unlock()
					s.handle(ev)
				},
				func(n uint64, err error) {
					s.mu.Lock()
					s.bad++
					first := s.bad <= 20
					s.mu.Unlock()
					if first {
						s.warn("audit log line is not an audit record", "file", s.in.LogPath, "record", n, "err", err)
					}
				})
			if ctx.Err() == nil {
				if err == nil {
					err = errors.New("follower ended")
				}
				s.stopped("log "+s.in.LogPath, err)
			}
		}()
	}
}

// metrics are the audit input's Prometheus counters, read when scraped.
func (s *auditSource) metrics() []prometheus.Collector {
	cs := []prometheus.Collector{
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "sysward_audit_correlated_alerts_total",
			Help: "Correlated alerts raised: an exec, attach, port-forward or ephemeral container into a pod, then a call outside its profile."},
			func() float64 { return float64(s.corr.Raised()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "sysward_audit_rule_alerts_total",
			Help: "Alerts raised by k8s_audit rules on the audit input."},
			func() float64 { return float64(s.eng.Stats().Matches) }),
	}
	if wh := s.in.Webhook; wh != nil {
		cs = append(cs,
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "sysward_audit_webhook_events_total", Help: "Audit events accepted by the webhook."},
				func() float64 { return float64(wh.Stats().Events) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "sysward_audit_webhook_dropped_total", Help: "Audit events refused by the webhook because its queue was full (429; the apiserver retries)."},
				func() float64 { return float64(wh.Stats().Dropped) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "sysward_audit_webhook_refused_total", Help: "Webhook requests refused (bad client certificate or token, malformed, too large, busy)."},
				func() float64 {
					var n uint64
					for _, v := range wh.Stats().Rejected {
						n += v
					}
					return float64(n)
				}))
	}
	if s.in.LogPath != "" {
		cs = append(cs,
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "sysward_audit_log_records_total", Help: "Audit records read from --audit-log."},
				func() float64 { s.mu.Lock(); defer s.mu.Unlock(); return float64(s.records) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "sysward_audit_log_bad_lines_total", Help: "Lines of --audit-log that are not audit records."},
				func() float64 { s.mu.Lock(); defer s.mu.Unlock(); return float64(s.bad) }))
	}
	return cs
}

// summary is the audit line of the agent's exit summary.
func (s *auditSource) summary(w io.Writer) {
	fmt.Fprintf(w, "  audit: %d alerts from k8s_audit rules, %d correlated", s.eng.Stats().Matches, s.corr.Raised())
	if wh := s.in.Webhook; wh != nil {
		st := wh.Stats()
		var refused uint64
		for _, n := range st.Rejected {
			refused += n
		}
		fmt.Fprintf(w, "; webhook %d batches, %d events, %d dropped (queue full), %d requests refused", st.Batches, st.Events, st.Dropped, refused)
	}
	if s.in.LogPath != "" {
		s.mu.Lock()
		fmt.Fprintf(w, "; log %d records, %d not audit records, %d rotations, %d truncations", s.records, s.bad, s.fst.Rotations.Load(), s.fst.Truncated.Load())
		s.mu.Unlock()
	}
	fmt.Fprintln(w)
}
