package metrics

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sysward/sysward/internal/version"
)

// Metric names. The deploy/ manifests refer to these names; a test there
// checks every sysward_* name they use is one of these.
const (
	EventsProcessedTotal  = "sysward_events_processed_total"   // counter
	RulesLoaded           = "sysward_rules_loaded"             // gauge
	AlertsTotal           = "sysward_alerts_total"             // counter{rule,priority}
	AlertsSuppressedTotal = "sysward_alerts_suppressed_total"  // counter{rule}: repeats collapsed by dedup
	OutputSentTotal       = "sysward_output_sent_total"        // counter{output}
	OutputDropsTotal      = "sysward_output_drops_total"       // counter{output}
	OutputErrorsTotal     = "sysward_output_errors_total"      // counter{output}
	KernelEventDropsTotal = "sysward_kernel_event_drops_total" // counter: ring buffer reserve failures
	DeviationsTotal       = "sysward_deviations_total"         // counter{workload,syscall}
	WorkloadsTracked      = "sysward_workloads_tracked"        // gauge
	BuildInfo             = "sysward_build_info"               // gauge{version,goversion} = 1
)

// Label names.
const (
	LabelRule     = "rule"
	LabelPriority = "priority"
	LabelOutput   = "output"
	LabelWorkload = "workload"
	LabelSyscall  = "syscall"
)

// OtherLabel is the label value that absorbs label sets beyond a family's cap.
const OtherLabel = "_other"

// Names returns every sysward metric name this package registers.
func Names() []string {
	return []string{
		EventsProcessedTotal, RulesLoaded, AlertsTotal, AlertsSuppressedTotal,
		OutputSentTotal, OutputDropsTotal, OutputErrorsTotal,
		KernelEventDropsTotal, DeviationsTotal, WorkloadsTracked, BuildInfo,
	}
}

// Recorder is how the engine, the outputs and the watch code record
// metrics without importing Prometheus. Every method is safe for concurrent
// use and never blocks on I/O.
type Recorder interface {
	// EventsProcessed adds n events that went through the engine.
	EventsProcessed(n uint64)
	// RulesLoaded sets how many rules are loaded and enabled.
	RulesLoaded(n int)
	// Alert counts one alert raised by rule at priority (Falco's name, "Warning").
	Alert(rule, priority string)
	// AlertsSuppressed adds n repeats of rule's alert collapsed by dedup.
	AlertsSuppressed(rule string, n uint64)
	// OutputSent adds n alerts delivered by the named output.
	OutputSent(output string, n uint64)
	// OutputDropped adds n alerts the named output dropped (queue full, or
	// not delivered by the close deadline).
	OutputDropped(output string, n uint64)
	// OutputError counts one failed delivery attempt by the named output.
	OutputError(output string)
	// KernelEventDrops sets the cumulative number of events the kernel side
	// could not submit (e.g. the sum of a per-CPU drop counter). It is a
	// total, not a delta; a smaller value than before is ignored.
	KernelEventDrops(total uint64)
	// Deviation counts one syscall outside workload's profile.
	Deviation(workload, syscall string)
	// WorkloadsTracked sets how many workloads are being watched.
	WorkloadsTracked(n int)
}

// Nop is a Recorder that records nothing.
var Nop Recorder = nop{}

type nop struct{}

func (nop) EventsProcessed(uint64)          {}
func (nop) RulesLoaded(int)                 {}
func (nop) Alert(string, string)            {}
func (nop) AlertsSuppressed(string, uint64) {}
func (nop) OutputSent(string, uint64)       {}
func (nop) OutputDropped(string, uint64)    {}
func (nop) OutputError(string)              {}
func (nop) KernelEventDrops(uint64)         {}
func (nop) Deviation(string, string)        {}
func (nop) WorkloadsTracked(int)            {}

// Options tunes New; nil means defaults.
type Options struct {
	// MaxRuleSeries caps distinct label sets of the per-rule families
	// (alerts, suppressed). Default 2000.
	MaxRuleSeries int
	// MaxOutputSeries caps distinct output names. Default 64.
	MaxOutputSeries int
	// MaxDeviationSeries caps distinct (workload, syscall) pairs. Default 5000.
	MaxDeviationSeries int
	// NoRuntimeCollectors leaves out the go_* and process_* collectors.
	NoRuntimeCollectors bool
	// ShutdownTimeout bounds Serve's graceful shutdown. Default 5s.
	ShutdownTimeout time.Duration
}

// Metrics is the Prometheus-backed Recorder with its own registry.
type Metrics struct {
	reg *prometheus.Registry

	events     prometheus.Counter
	rules      prometheus.Gauge
	alerts     *cappedVec
	suppressed *cappedVec
	sent       *cappedVec
	drops      *cappedVec
	errs       *cappedVec
	deviations *cappedVec
	workloads  prometheus.Gauge
	kernelDrop atomic.Uint64

	shutdownTimeout time.Duration
	health          atomic.Pointer[func() error]
}

var _ Recorder = (*Metrics)(nil)

// New makes a Metrics with every sysward metric registered on a fresh registry.
func New(opts *Options) *Metrics {
	var o Options
	if opts != nil {
		o = *opts
	}
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&o.MaxRuleSeries, 2000)
	def(&o.MaxOutputSeries, 64)
	def(&o.MaxDeviationSeries, 5000)
	if o.ShutdownTimeout <= 0 {
		o.ShutdownTimeout = 5 * time.Second
	}

	m := &Metrics{reg: prometheus.NewRegistry(), shutdownTimeout: o.ShutdownTimeout}
	m.events = prometheus.NewCounter(prometheus.CounterOpts{Name: EventsProcessedTotal,
		Help: "Events evaluated by the rules engine."})
	m.rules = prometheus.NewGauge(prometheus.GaugeOpts{Name: RulesLoaded,
		Help: "Rules loaded and enabled."})
	m.workloads = prometheus.NewGauge(prometheus.GaugeOpts{Name: WorkloadsTracked,
		Help: "Workloads being watched."})
	m.alerts = newCappedVec(prometheus.CounterOpts{Name: AlertsTotal,
		Help: "Alerts raised, by rule and priority (before repeats are collapsed)."},
		o.MaxRuleSeries, LabelRule, LabelPriority)
	m.suppressed = newCappedVec(prometheus.CounterOpts{Name: AlertsSuppressedTotal,
		Help: "Repeated identical alerts collapsed into a summary, by rule."},
		o.MaxRuleSeries, LabelRule)
	m.sent = newCappedVec(prometheus.CounterOpts{Name: OutputSentTotal,
		Help: "Alerts delivered, by output."}, o.MaxOutputSeries, LabelOutput)
	m.drops = newCappedVec(prometheus.CounterOpts{Name: OutputDropsTotal,
		Help: "Alerts dropped by an output (queue full or not delivered by the close deadline)."},
		o.MaxOutputSeries, LabelOutput)
	m.errs = newCappedVec(prometheus.CounterOpts{Name: OutputErrorsTotal,
		Help: "Failed delivery attempts, by output."}, o.MaxOutputSeries, LabelOutput)
	m.deviations = newCappedVec(prometheus.CounterOpts{Name: DeviationsTotal,
		Help: "System calls outside a workload's profile, by workload and syscall."},
		o.MaxDeviationSeries, LabelWorkload, LabelSyscall)
	kdrops := prometheus.NewCounterFunc(prometheus.CounterOpts{Name: KernelEventDropsTotal,
		Help: "Events the kernel side could not submit to user space (ring buffer full)."},
		func() float64 { return float64(m.kernelDrop.Load()) })
	build := prometheus.NewGauge(prometheus.GaugeOpts{Name: BuildInfo,
		Help:        "sysward build information; always 1.",
		ConstLabels: prometheus.Labels{"version": version.Version, "goversion": runtime.Version()}})
	build.Set(1)

	m.reg.MustRegister(m.events, m.rules, m.workloads, m.alerts.vec, m.suppressed.vec,
		m.sent.vec, m.drops.vec, m.errs.vec, m.deviations.vec, kdrops, build)
	if !o.NoRuntimeCollectors {
		m.reg.MustRegister(collectors.NewGoCollector(),
			collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	return m
}

// Registry returns the registry, e.g. to register more collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

func (m *Metrics) EventsProcessed(n uint64) { m.events.Add(float64(n)) }
func (m *Metrics) RulesLoaded(n int)        { m.rules.Set(float64(n)) }
func (m *Metrics) WorkloadsTracked(n int)   { m.workloads.Set(float64(n)) }
func (m *Metrics) Alert(rule, priority string) {
	m.alerts.with2(rule, priority).Inc()
}
func (m *Metrics) AlertsSuppressed(rule string, n uint64) {
	m.suppressed.with(rule).Add(float64(n))
}
func (m *Metrics) OutputSent(output string, n uint64) { m.sent.with(output).Add(float64(n)) }
func (m *Metrics) OutputDropped(output string, n uint64) {
	m.drops.with(output).Add(float64(n))
}
func (m *Metrics) OutputError(output string) { m.errs.with(output).Inc() }
func (m *Metrics) Deviation(workload, syscall string) {
	m.deviations.with2(workload, syscall).Inc()
}
func (m *Metrics) KernelEventDrops(total uint64) {
	for {
		old := m.kernelDrop.Load()
		if total <= old || m.kernelDrop.CompareAndSwap(old, total) {
			return
		}
	}
}

// SetHealth installs the check /healthz runs: nil error → 200 "ok",
// otherwise 503 with the error text. Without one, /healthz is always ok.
func (m *Metrics) SetHealth(check func() error) {
	if check == nil {
		m.health.Store(nil)
		return
	}
	m.health.Store(&check)
}

// Handler serves /metrics (OpenMetrics or text, per Accept) and /healthz.
func (m *Metrics) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		EnableOpenMetrics: true,
		Registry:          m.reg, // promhttp_metric_handler_errors_total
		ErrorHandling:     promhttp.ContinueOnError,
	}))
	mux.HandleFunc("/healthz", m.serveHealth)
	return mux
}

// HealthHandler serves /healthz alone: what a kubelet probe needs, nothing
// that tells a caller about the node's workloads (no metrics).
func (m *Metrics) HealthHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", m.serveHealth)
	return mux
}

func (m *Metrics) serveHealth(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if p := m.health.Load(); p != nil {
		if err := (*p)(); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintf(w, "unhealthy: %v\n", err)
			return
		}
	}
	fmt.Fprintln(w, "ok")
}

// Serve listens on addr ("127.0.0.1:9376", ":0") and serves Handler until
// ctx is cancelled. It returns nil after a graceful shutdown.
func (m *Metrics) Serve(ctx context.Context, addr string) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("listening for metrics on %s: %w", addr, err)
	}
	return m.ServeListener(ctx, ln)
}

// ServeListener is Serve on an existing listener, which it closes.
func (m *Metrics) ServeListener(ctx context.Context, ln net.Listener) error {
	return m.serve(ctx, ln, m.Handler())
}

// ServeHealthListener serves HealthHandler (only /healthz) on ln until ctx
// is done, then closes it.
func (m *Metrics) ServeHealthListener(ctx context.Context, ln net.Listener) error {
	return m.serve(ctx, ln, m.HealthHandler())
}

func (m *Metrics) serve(ctx context.Context, ln net.Listener, h http.Handler) error {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serving metrics: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), m.shutdownTimeout)
	defer cancel()
	err := srv.Shutdown(sctx)
	if serr := <-errc; serr != nil && !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	if err != nil {
		return fmt.Errorf("shutting down metrics server: %w", err)
	}
	return nil
}

// cappedVec is a CounterVec with one or two labels that keeps at most max
// distinct label sets; the rest are counted under OtherLabel in every label.
// Known label sets are found under a read lock with a two-string array key,
// so recording an already-seen series neither allocates nor contends.
type cappedVec struct {
	vec    *prometheus.CounterVec
	labels int
	max    int
	mu     sync.RWMutex
	known  map[[2]string]prometheus.Counter
	other  prometheus.Counter
}

func newCappedVec(opts prometheus.CounterOpts, max int, labels ...string) *cappedVec {
	if len(labels) < 1 || len(labels) > 2 {
		panic("cappedVec: one or two labels")
	}
	c := &cappedVec{vec: prometheus.NewCounterVec(opts, labels), labels: len(labels), max: max,
		known: make(map[[2]string]prometheus.Counter)}
	others := make([]string, len(labels))
	for i := range others {
		others[i] = OtherLabel
	}
	c.other = c.vec.WithLabelValues(others...)
	return c
}

func (c *cappedVec) with(a string) prometheus.Counter { return c.with2(a, "") }

func (c *cappedVec) with2(a, b string) prometheus.Counter {
	k := [2]string{a, b}
	c.mu.RLock()
	ctr, ok := c.known[k]
	c.mu.RUnlock()
	if ok {
		return ctr
	}
	return c.add(k)
}

func (c *cappedVec) add(k [2]string) prometheus.Counter {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ctr, ok := c.known[k]; ok {
		return ctr
	}
	if len(c.known) >= c.max {
		return c.other
	}
	values := make([]string, c.labels)
	for i := range values {
		values[i] = k[i]
		if !utf8.ValidString(values[i]) { // WithLabelValues panics on invalid UTF-8
			values[i] = strings.ToValidUTF8(values[i], "\ufffd")
		}
	}
	ctr := c.vec.WithLabelValues(values...)
	c.known[k] = ctr
	return ctr
}
