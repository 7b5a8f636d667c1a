package watch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/sysward/sysward/detector"
	"github.com/sysward/sysward/detector/metrics"
	"github.com/sysward/sysward/detector/output"
	"github.com/sysward/sysward/internal/cgroups"
	"github.com/sysward/sysward/profiler"
	"github.com/sysward/sysward/profiles"
)

// DefaultDedupWindow is how long repeats of an alert (same rule, workload,
// syscall) are counted after the first detailed one, before one summary
// alert with the count goes out.
const DefaultDedupWindow = 10 * time.Second

// Config is everything a watch session needs besides its target.
type Config struct {
	// Profile the workload is held to; ProfileName names it in alerts.
	Profile     *profiles.Profile
	ProfileName string
	// Mode is ModeEnforce, ModeComplain or ModeWatch (what enforces it).
	Mode string
	// Rules, loaded with LoadRules (sysward's own plus --rules files).
	Rules *detector.Ruleset
	// MinPriority drops less severe rules ("" : all).
	MinPriority string
	// Format of the alert lines on Stdout.
	Format output.Format
	// Stdout receives alert lines (nil: os.Stdout); Stderr the summary
	// (nil: os.Stderr). The summary is JSON with FormatJSON.
	Stdout, Stderr io.Writer
	// NoStdout turns the stdout output off (HTTP only, for example).
	NoStdout bool
	// Outputs, if set, is an outputs file's configuration
	// (output.LoadConfig): it decides the outputs, dedup and hostname, and
	// Format, NoStdout, HTTPURL and DedupWindow are not used.
	Outputs *output.Config
	// HTTPURL, if set, receives each alert as a POST in Falco's JSON shape
	// (what falcosidekick accepts).
	HTTPURL string
	// MetricsAddr, if set, serves /metrics and /healthz there; MetricsListener
	// is the same on a listener the caller opened (tests use :0).
	MetricsAddr string
	// HealthAddr, if set, serves /healthz alone there (kubelet probes
	// without exposing the metrics).
	HealthAddr      string
	MetricsListener net.Listener
	// Metrics overrides the Prometheus recorder the session makes.
	Metrics *metrics.Metrics
	// Record writes every event as JSONL for `sysward rules test --events`.
	Record string
	// RecordMax caps Record in bytes (0: detector.MaxEventsFileSize).
	RecordMax int64
	// DedupWindow (0: DefaultDedupWindow; negative: no dedup).
	DedupWindow time.Duration
	// RingBufferSize of the profiler's event ring (0: its default).
	RingBufferSize int
	// FirstOnly: one kernel event per (workload, syscall); see Options.
	FirstOnly bool
	// Pods enriches container events with their pod (node sessions).
	Pods PodEnricher
	// ExtraFields are added to every alert's output_fields when the event
	// has them (detector.EngineOptions.ExtraFields).
	ExtraFields []string
	// Profiler to share (tests); nil loads one for the session.
	Profiler *profiler.Profiler
	// Logger for output delivery errors (nil: discarded).
	Logger *slog.Logger
	// Ready, if set, is called once the workload is tracked, before a
	// command starts, with its cgroup id.
	Ready func(cgroupID uint64)
	// StallAfter: /healthz reports 503 when the kernel event reader, the
	// container discovery loop (node agent) or an output with alerts
	// queued has made no progress for this long (0: DefaultStallAfter).
	StallAfter time.Duration
}

// Target is what a session watches: exactly one of Command, Cgroup, Container.
type Target struct {
	// Command runs in a fresh cgroup; the session returns its exit status.
	Command []string
	// Launch, if set, builds the command to start instead of
	// exec.Command(Command...); the session places it in the cgroup.
	// `sysward run --watch` uses it to start the enforcing launcher.
	Launch func() (*exec.Cmd, error)
	// WaitSeccomp watches the command only once a seccomp filter is
	// installed (a launcher that installs one right before execve), instead
	// of from its first exec.
	WaitSeccomp bool
	// Stdin, Stdout, Stderr of the command (nil: the session's own os.Std*).
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// Cgroup is a cgroup2 directory (absolute or relative to the mount).
	Cgroup string
	// Container is a runc/containerd/crun container id or unique prefix.
	Container string
	// Name overrides the workload name in alerts.
	Name string
	// RuntimeItself watches a Command that makes a container runtime
	// start a container (profiler.DetectRuntimeCommand) as it is: the
	// runtime, not the container, which runs in a cgroup of its own.
	// Without it such a command is refused (profiler.ErrContainerRuntime).
	RuntimeItself bool
}

// Result is what a session ends with.
type Result struct {
	Summary *Summary
	// ExitCode is the command's exit status (128+signal if killed); -1
	// when the target was not a command.
	ExitCode int
	// OutputStats are the outputs' delivery counters, by output name.
	OutputStats map[string]output.Stats
	// DeliveryErr is what closing the outputs reported (alerts left
	// undelivered at the flush deadline, an output that failed to close):
	// not an error of the session, whose workload ran and was watched.
	// The summary carries it and Summary.Undelivered counts the alerts
	// lost; the caller decides whether it changes the exit status.
	DeliveryErr error
}

// Session watches one target until it ends (a command exits, a cgroup
// empties) or ctx is done, then writes the summary.
func Session(ctx context.Context, cfg Config, t Target) (res *Result, err error) {
	if cfg.Profile == nil || cfg.Rules == nil {
		return nil, errors.New("watch session: profile and rules are required")
	}
	n := 0
	for _, set := range []bool{len(t.Command) > 0 || t.Launch != nil, t.Cgroup != "", t.Container != ""} {
		if set {
			n++
		}
	}
	if n != 1 {
		return nil, errors.New("exactly one of a command, --cgroup or --container is needed")
	}
	if len(t.Command) > 0 && t.Launch == nil && !t.RuntimeItself {
		path, _ := exec.LookPath(t.Command[0])
		if rc := profiler.DetectRuntimeCommand(t.Command, path); rc != nil {
			return nil, &profiler.RuntimeCommandError{Cmd: rc, Tool: "watch"}
		}
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

	// Resolve a cgroup or container target first: a bad one is bad input.
	wl := Workload{Name: t.Name, Profile: cfg.Profile, ProfileName: cfg.ProfileName, Mode: cfg.Mode}
	var cg *Cgroup
	switch {
	case t.Cgroup != "":
		dir, err := profiler.ResolveCgroup(t.Cgroup)
		if err != nil {
			return nil, err
		}
		if wl.CgroupID, err = cgroups.ID(dir); err != nil {
			return nil, fmt.Errorf("%w: %v", profiler.ErrUnknownTarget, err)
		}
		if wl.Name == "" {
			mnt, _ := cgroups.Mountpoint()
			wl.Name = "/" + strings.TrimPrefix(strings.TrimPrefix(dir, mnt), "/")
		}
		cg = &Cgroup{Dir: dir, ID: wl.CgroupID}
	case t.Container != "":
		c, err := profiler.ResolveContainer(t.Container, nil)
		if err != nil {
			return nil, err
		}
		if wl.CgroupID, err = cgroups.ID(c.Cgroup); err != nil {
			return nil, fmt.Errorf("%w: %v", profiler.ErrUnknownTarget, err)
		}
		if wl.Name == "" {
			wl.Name = c.ID
		}
		cg = &Cgroup{Dir: c.Cgroup, ID: wl.CgroupID}
	default:
		if wl.Name == "" {
			wl.Name = strings.Join(t.Command, " ")
		}
		wl.WaitExec = !t.WaitSeccomp
		wl.WaitSeccomp = t.WaitSeccomp
	}

	// Outputs, metrics, engine.
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

	runCtx, stopRun := context.WithCancel(context.Background())
	defer stopRun()
	stopMetrics, err := serveMetrics(ctx, cfg, met)
	if err != nil {
		return nil, err
	}
	defer stopMetrics()

	// A command sysward starts has no seccomp filter but the one sysward
	// installs (run --watch); unless that one refuses calls (enforce), the
	// sys_exit and exit hooks have nothing to see. A cgroup or container
	// may carry its runtime's own filter: keep them.
	noExit := t.Cgroup == "" && t.Container == "" && cfg.Mode != ModeEnforce
	w, err := New(Options{Profiler: cfg.Profiler, RingBufferSize: cfg.RingBufferSize, NoExitHooks: noExit, Engine: eng,
		Internal: disp, Metrics: met, Record: cfg.Record, RecordMax: cfg.RecordMax, FirstOnly: cfg.FirstOnly})
	if err != nil {
		return nil, err
	}
	defer func() {
		if cerr := w.Close(); cerr != nil && err == nil {
			err = cerr
		}
	}()

	if cg == nil { // command target: a fresh cgroup
		if cg, err = NewCgroup(); err != nil {
			return nil, err
		}
		defer func() {
			if rerr := cg.Remove(5 * time.Second); rerr != nil && err == nil {
				err = rerr
			}
		}()
		wl.CgroupID = cg.ID
	}
	if err := w.Add(wl); err != nil {
		return nil, err
	}
	h := newHealth(cfg.StallAfter, w.LastBeat, disp.Outputs)
	met.SetHealth(h.check)
	stopHealth := make(chan struct{})
	go h.run(stopHealth)
	defer close(stopHealth)
	if cfg.Ready != nil {
		cfg.Ready(wl.CgroupID)
	}
	runDone := make(chan error, 1)
	go func() { runDone <- w.Run(runCtx) }()

	res = &Result{ExitCode: -1}
	if len(t.Command) > 0 || t.Launch != nil {
		code, err := runCommand(ctx, cg, t)
		if err != nil {
			stopRun()
			<-runDone
			return nil, err
		}
		res.ExitCode = code
	} else {
		waitEmpty(ctx, cg.Dir)
	}

	stopRun()
	if err := <-runDone; err != nil {
		return nil, err
	}
	w.Drain(0, 2*time.Second)
	if err := w.Remove(wl.CgroupID); err != nil && !errors.Is(err, profiler.ErrNotTracked) {
		return nil, err
	}
	if res.Summary, err = w.Summary(wl.CgroupID); err != nil {
		return nil, err
	}
	// Deliver everything (dedup summaries included) before the summary.
	dispClosed = true
	cerr := disp.Close()
	res.OutputStats = map[string]output.Stats{}
	for _, o := range disp.Outputs() {
		st := o.Stats()
		res.OutputStats[o.Name()] = st
		res.Summary.OutputDrops += st.Dropped
		res.Summary.OutputErrors += st.Errors
	}
	if cerr != nil {
		res.DeliveryErr = fmt.Errorf("delivering alerts: %w", cerr)
		res.Summary.DeliveryError = res.DeliveryErr.Error()
	}
	res.Summary.setAlertCounts(disp)
	if cfg.Format == output.FormatJSON {
		err = res.Summary.WriteJSON(stderr)
	} else {
		err = res.Summary.WriteText(stderr)
	}
	return res, err
}

// buildDispatcher makes the alert outputs: from cfg.Outputs when set, else
// stdout (unless NoStdout) and HTTPURL, deduplicating over window (0: off).
// It returns the hostname alerts carry.
// serveMetrics serves /metrics and /healthz on cfg's listener or address, if
// any, until the returned stop function is called (it waits for the server).
// With cfg.HealthAddr it also serves /healthz alone there.
func serveMetrics(ctx context.Context, cfg Config, met *metrics.Metrics) (stop func(), err error) {
	type server struct {
		ln    net.Listener
		serve func(context.Context, net.Listener) error
	}
	var servers []server
	closeAll := func() {
		for _, s := range servers {
			s.ln.Close()
		}
	}
	var lc net.ListenConfig
	if ln := cfg.MetricsListener; ln != nil {
		servers = append(servers, server{ln, met.ServeListener})
	} else if cfg.MetricsAddr != "" {
		ln, err := lc.Listen(ctx, "tcp", cfg.MetricsAddr)
		if err != nil {
			return nil, fmt.Errorf("listening for metrics on %s: %w", cfg.MetricsAddr, err)
		}
		servers = append(servers, server{ln, met.ServeListener})
	}
	if cfg.HealthAddr != "" {
		ln, err := lc.Listen(ctx, "tcp", cfg.HealthAddr)
		if err != nil {
			closeAll()
			return nil, fmt.Errorf("listening for health checks on %s: %w", cfg.HealthAddr, err)
		}
		servers = append(servers, server{ln, met.ServeHealthListener})
	}
	runCtx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, s := range servers {
		wg.Add(1)
		go func() { defer wg.Done(); _ = s.serve(runCtx, s.ln) }()
	}
	return func() { cancel(); wg.Wait() }, nil
}

// buildPipeline builds the detector side of a session: the metrics (cfg's or
// new ones), the output dispatcher and the rules engine feeding it. The
// caller closes the dispatcher.
func buildPipeline(cfg Config, stdout io.Writer, window time.Duration) (*metrics.Metrics, *output.Dispatcher, *detector.Engine, error) {
	met := cfg.Metrics
	if met == nil {
		met = metrics.New(&metrics.Options{NoRuntimeCollectors: cfg.MetricsAddr == "" && cfg.MetricsListener == nil && cfg.HealthAddr == ""})
	}
	disp, host, err := buildDispatcher(cfg, met, stdout, window)
	if err != nil {
		return nil, nil, nil, err
	}
	eng, err := detector.NewEngine(cfg.Rules, &detector.EngineOptions{MinPriority: cfg.MinPriority, Hostname: host, Sink: disp, ExtraFields: cfg.ExtraFields})
	if err != nil {
		disp.Close()
		return nil, nil, nil, err
	}
	met.RulesLoaded(eng.RulesLoaded())
	return met, disp, eng, nil
}

func buildDispatcher(cfg Config, met *metrics.Metrics, stdout io.Writer, window time.Duration) (*output.Dispatcher, string, error) {
	oopts := &output.Options{Recorder: met, Logger: cfg.Logger}
	if cfg.Outputs != nil {
		disp, err := output.Build(cfg.Outputs, met, oopts)
		if err != nil {
			return nil, "", fmt.Errorf("building outputs: %w", err)
		}
		host := cfg.Outputs.Hostname
		if host == "" {
			host = output.DefaultHostname()
		}
		return disp, host, nil
	}
	var outs []output.Output
	if !cfg.NoStdout {
		outs = append(outs, output.NewWriter(stdout, cfg.Format, withName(oopts, "stdout")))
	}
	if cfg.HTTPURL != "" {
		h, err := output.NewHTTP(output.HTTPConfig{URL: cfg.HTTPURL}, withName(oopts, "http"))
		if err != nil {
			return nil, "", err
		}
		outs = append(outs, h)
	}
	dcfg := output.DispatcherConfig{Hostname: output.DefaultHostname(), Recorder: met}
	if window > 0 {
		dcfg.Dedup = output.DedupConfig{Window: output.Duration(window)}
	}
	return output.NewDispatcher(dcfg, outs...), dcfg.Hostname, nil
}

func withName(o *output.Options, name string) *output.Options {
	c := *o
	c.Name = name
	return &c
}

// runCommand starts the command inside cg and waits for it. When ctx is done
// first, everything in the cgroup is killed.
func runCommand(ctx context.Context, cg *Cgroup, t Target) (int, error) {
	var cmd *exec.Cmd
	if t.Launch != nil {
		var err error
		if cmd, err = t.Launch(); err != nil {
			return -1, err
		}
	} else {
		cmd = exec.Command(t.Command[0], t.Command[1:]...)
	}
	if cmd.Stdin == nil {
		cmd.Stdin = orDefault(t.Stdin, os.Stdin)
	}
	if cmd.Stdout == nil {
		cmd.Stdout = orDefaultW(t.Stdout, os.Stdout)
	}
	if cmd.Stderr == nil {
		cmd.Stderr = orDefaultW(t.Stderr, os.Stderr)
	}
	// The command dies with sysward (cgroups.Start): a watched workload is
	// not left running unwatched if sysward is SIGKILLed.
	done, err := cg.Start(cmd)
	if err != nil {
		return -1, fmt.Errorf("starting %s: %w", filepath.Base(cmd.Path), err)
	}
	select {
	case err = <-done:
	case <-ctx.Done():
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err = <-done:
		case <-time.After(3 * time.Second):
			cgroups.Kill(cg.Dir)
			err = <-done
		}
	}
	return exitStatus(err), nil
}

func orDefault(r, d io.Reader) io.Reader {
	if r == nil {
		return d
	}
	return r
}

func orDefaultW(w, d io.Writer) io.Writer {
	if w == nil {
		return d
	}
	return w
}

func exitStatus(err error) int {
	if err == nil {
		return 0
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal())
		}
		return ee.ExitCode()
	}
	return 1
}

// waitEmpty returns when the cgroup has no processes left, or ctx is done.
func waitEmpty(ctx context.Context, dir string) {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			raw, err := os.ReadFile(filepath.Join(dir, "cgroup.events"))
			if err != nil || strings.Contains(string(raw), "populated 0") {
				return
			}
		}
	}
}
