package watch

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sysward/sysward/detector"
	"github.com/sysward/sysward/detector/output"
	"github.com/sysward/sysward/profiler"
)

// NodeResult is what a node session ends with.
type NodeResult struct {
	// Containers are those still tracked when the session ended.
	Containers []NodeContainer
	// OutputStats are the outputs' delivery counters, by output name.
	OutputStats map[string]output.Stats
}

// NodeSession is `sysward watch --all-containers`: it watches every container
// on the host (NodeOptions) with cfg's rules, outputs and metrics until ctx
// is done. cfg.Profile, ProfileName and Mode are not used: each container's
// profile is the one under NodeOptions.ProfilesDir its seccomp config came
// from. ready, if set, is called with the Node once the first discovery
// pass is done.
func NodeSession(ctx context.Context, cfg Config, nopts NodeOptions, ready func(*Node)) (res *NodeResult, err error) {
	if cfg.Rules == nil {
		return nil, errors.New("node session: rules are required")
	}
	stdout, stderr := cfg.Stdout, cfg.Stderr
	if stdout == nil {
		stdout = os.Stdout
	}
	if stderr == nil {
		stderr = os.Stderr
	}
	window := cfg.DedupWindow
	if window == 0 {
		window = DefaultDedupWindow
	}
	met, disp, eng, err := buildPipeline(cfg, stdout, window)
	if err != nil {
		return nil, err
	}
	dispClosed := false
	defer func() {
		if !dispClosed {
			disp.Close()
		}
	}()

	var aud *auditSource
	var correlate func(*detector.Event)
	if nopts.Audit != nil {
		aeng, err := detector.NewEngine(cfg.Rules, &detector.EngineOptions{MinPriority: cfg.MinPriority, Hostname: eng.Hostname(), Sink: disp, ExtraFields: cfg.ExtraFields})
		if err != nil {
			return nil, fmt.Errorf("audit rules: %w", err)
		}
		aud = newAuditSource(nopts.Audit, aeng, disp, eng.Hostname())
		if aud.in.Warn == nil && cfg.Logger != nil {
			aud.in.Warn = cfg.Logger.Warn
		}
		correlate = aud.corr.Syscall
	}

	// Containers carry their runtime's filters: keep the exit hooks, so
	// refused calls and SIGSYS kills are seen.
	// New cgroups are held by the kernel from their creation, so a
	// container is watched from its first instruction, however short it
	// lives; the Node matches each to its container or releases it.
	var node *Node
	w, err := New(Options{Profiler: cfg.Profiler, RingBufferSize: cfg.RingBufferSize, Engine: eng,
		Internal: disp, Metrics: met, Record: cfg.Record, RecordMax: cfg.RecordMax, FirstOnly: cfg.FirstOnly,
		HoldNewCgroups: true, OnHeld: func(uint64) { node.Poke() }, Pods: cfg.Pods, Correlate: correlate})
	if err != nil {
		return nil, err
	}
	defer func() {
		if cerr := w.Close(); cerr != nil && err == nil {
			err = cerr
		}
	}()
	if nopts.Internal == nil {
		nopts.Internal = disp
	}
	if nopts.Hostname == "" {
		nopts.Hostname = eng.Hostname()
	}
	if nopts.Logger == nil {
		nopts.Logger = cfg.Logger
	}
	node = NewNode(w, nopts)
	defer node.Close()
	var learner *StoreLearner
	if nopts.Store != nil {
		if nopts.Store.Logger == nil {
			nopts.Store.Logger = nopts.Logger
		}
		if learner, err = NewStoreLearner(node, *nopts.Store); err != nil {
			return nil, err
		}
		for _, c := range learner.metrics() {
			if err := met.Registry().Register(c); err == nil {
				defer met.Registry().Unregister(c)
			}
		}
	}
	h := newHealth(cfg.StallAfter, w.LastBeat, disp.Outputs)
	h.pass, h.every = node.LastPass, node.opts.Interval
	met.SetHealth(h.check)
	stopHealth := make(chan struct{})
	go h.run(stopHealth)
	defer close(stopHealth)
	skipped := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "sysward_containers_untracked",
		Help: "Running containers not watched because of --max-containers."}, func() float64 { return float64(node.Skipped()) })
	if err := met.Registry().Register(skipped); err == nil {
		defer met.Registry().Unregister(skipped)
	}
	badProfiles := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "sysward_profiles_skipped",
		Help: "Files under --profiles-dir skipped by the profile index: not a regular file, too large or not a valid profile."}, func() float64 { return float64(node.BadProfiles()) })
	if err := met.Registry().Register(badProfiles); err == nil {
		defer met.Registry().Unregister(badProfiles)
	}
	installSkipped := prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "sysward_profiles_install_skipped_total",
		Help: "Versions of files under --install-from refused (not a regular file, too large, not a valid profile, or a different installed file of that name): never installed."}, func() float64 { return float64(node.InstallSkipped()) })
	if err := met.Registry().Register(installSkipped); err == nil {
		defer met.Registry().Unregister(installSkipped)
	}

	if aud != nil {
		for _, c := range aud.metrics() {
			if err := met.Registry().Register(c); err == nil {
				defer met.Registry().Unregister(c)
			}
		}
	}

	runCtx, stopRun := context.WithCancel(context.Background())
	defer stopRun()
	stopMetrics, err := serveMetrics(ctx, cfg, met)
	if err != nil {
		return nil, err
	}
	defer stopMetrics()

	runDone := make(chan error, 1)
	go func() { runDone <- w.Run(runCtx) }()
	noticesDone := make(chan struct{})
	go func() {
		defer close(noticesDone)
		for {
			c, err := w.prof.ReadNewCgroup(runCtx)
			if err != nil {
				if runCtx.Err() == nil && !errors.Is(err, profiler.ErrNotHolding) && !errors.Is(err, profiler.ErrClosed) {
					node.log.Warn("reading new cgroups", "err", err)
				}
				return
			}
			node.NotePending(c)
		}
	}()
	defer func() { stopRun(); <-noticesDone }()
	if err := node.Sync(); err != nil {
		node.log.Warn("container discovery", "err", err)
	}
	if aud != nil {
		// Stopped and waited for before the dispatcher closes (defers
		// run last first).
		aud.start(runCtx)
		defer func() { stopRun(); aud.wg.Wait() }()
	}
	if ready != nil {
		ready(node)
	}
	nodeDone := make(chan struct{})
	go func() { defer close(nodeDone); _ = node.Run(runCtx) }()
	learnerDone := make(chan struct{})
	if learner != nil {
		go func() { defer close(learnerDone); learner.Run(runCtx) }()
	} else {
		close(learnerDone)
	}
	var runErr error
	ran := false
	select {
	case <-ctx.Done():
	case runErr = <-runDone:
		ran = true
	}
	stopRun()
	<-nodeDone
	<-learnerDone // its last report, before the containers are untracked
	if aud != nil {
		aud.wg.Wait()
	}
	if !ran {
		runErr = <-runDone
	}
	if runErr != nil {
		return nil, runErr
	}
	w.Drain(0, 2*time.Second)
	res = &NodeResult{Containers: node.Containers(), OutputStats: map[string]output.Stats{}}
	dispClosed = true
	cerr := disp.Close()
	for _, o := range disp.Outputs() {
		res.OutputStats[o.Name()] = o.Stats()
	}
	names := make([]string, 0, len(res.OutputStats))
	for n := range res.OutputStats {
		names = append(names, n)
	}
	sort.Strings(names)
	printed, counted := disp.Counts()
	var total uint64
	for _, n := range counted {
		total += n
	}
	fmt.Fprintf(stderr, "sysward watch --all-containers: %d containers tracked at exit, %d kernel events, alerts to outputs %d, counted %d",
		len(res.Containers), w.eventCount(), printed, total)
	if d := w.RecordDrops(); d > 0 {
		fmt.Fprintf(stderr, ", not recorded %d (--record file full)", d)
	}
	fmt.Fprintln(stderr)
	if aud != nil {
		aud.summary(stderr)
	}
	if learner != nil {
		fmt.Fprintf(stderr, "  %s\n", learner.Stats())
	}
	for _, n := range names {
		st := res.OutputStats[n]
		fmt.Fprintf(stderr, "  output %s: %d sent, %d dropped\n", n, st.Sent, st.Dropped)
	}
	if cerr != nil {
		return res, fmt.Errorf("delivering alerts: %w", cerr)
	}
	return res, nil
}

func (w *Watcher) eventCount() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.events
}
