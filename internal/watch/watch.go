package watch

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/sysward/sysward/detector"
	"github.com/sysward/sysward/detector/metrics"
	"github.com/sysward/sysward/internal/procinfo"
	"github.com/sysward/sysward/profiler"
	"github.com/sysward/sysward/profiles"
)

// Modes of a watched workload: what enforces its profile.
const (
	ModeEnforce  = "enforce"  // a seccomp filter refuses calls outside the profile
	ModeComplain = "complain" // a seccomp filter logs them
	ModeWatch    = "watch"    // nothing enforces; sysward only watches
)

// ErrNoEngine means Options.Engine was not set.
var ErrNoEngine = errors.New("watch: no rules engine")

// DropRule is the rule name of the internal alert raised when the kernel
// could not queue events (ring buffer full).
const DropRule = "sysward kernel events dropped"

// PodEnricher fills an event's Kubernetes fields (k8s.*, container.name,
// container.image, sysward.workload as namespace/kind/name) for the
// container with runtime id containerID, and says whether it knew it.
// Called for every event of a container workload: it must be a map look-up.
type PodEnricher interface {
	Enrich(containerID string, ev *detector.Event) bool
}

// Workload is one cgroup to watch and the profile it is held to.
type Workload struct {
	// Name is what alerts call it (sysward.workload): the command line,
	// container id or cgroup path.
	Name string
	// Profile is the profile it is held to; ProfileName names it in alerts
	// (sysward.profile), usually the file it came from.
	Profile     *profiles.Profile
	ProfileName string
	// Mode is ModeEnforce, ModeComplain or ModeWatch ("" means ModeWatch).
	Mode string
	// CgroupID is the inode of its cgroup2 directory (cgroups.ID).
	CgroupID uint64
	// ContainerID, when the workload is a container found in a runtime's
	// state (watch --all-containers), stands in for container.id when the
	// cgroup path alone does not name the container.
	ContainerID string
	// WaitExec ignores the cgroup until a task in it execs: for a command
	// sysward starts itself, whose launcher runs in the cgroup before exec.
	WaitExec bool
	// WaitSeccomp ignores tasks of the cgroup that have no seccomp filter:
	// for a launcher that installs the filter right before execve
	// (`sysward run --watch`), whose own start-up must not count.
	WaitSeccomp bool
}

// Options configure a Watcher.
type Options struct {
	// Profiler to watch with; it must have been loaded with Watch set.
	// nil loads one (profiler.Options{Watch: true, RingBufferSize}) that the
	// Watcher closes.
	Profiler *profiler.Profiler
	// RingBufferSize for a Profiler the Watcher loads (0: the default).
	RingBufferSize int
	// NoExitHooks loads the Profiler without its sys_exit and
	// sched_process_exit programs: nothing can be refused or killed for
	// being outside the profile when nothing enforces it (ModeWatch) or
	// seccomp only logs (ModeComplain), and every syscall on the host then
	// pays one program instead of two. Calls refused by a filter the
	// workload installs itself are then not seen.
	NoExitHooks bool
	// Pods, if set, adds the Kubernetes pod and workload of a container
	// workload's events (internal/kube).
	Pods PodEnricher
	// Engine evaluates the events (required); its sink receives the alerts.
	Engine *detector.Engine
	// Internal receives sysward's own alerts (kernel drops); usually the
	// same sink as the engine's. nil drops them (the metric still counts).
	Internal detector.AlertSink
	// Proc enriches events; nil means procinfo.New(nil).
	Proc *procinfo.Reader
	// Metrics records deviations and kernel drops; nil means metrics.Nop.
	Metrics metrics.Recorder
	// Record, if set, is a file that receives every event as JSONL (the
	// detector's event file format), written atomically on Close.
	Record string
	// FirstOnly asks the kernel for the first event per (workload, syscall)
	// only. By default every deviating call is an event, so repeats are
	// counted (the output's dedup collapses their alerts).
	FirstOnly bool
	// DropInterval is how often the kernel drop counter is read (default 1s).
	DropInterval time.Duration
}

// Watcher turns the kernel's events about watched workloads into enriched
// detector events, runs them through the rules engine, and keeps the
// counts for a summary. See the package documentation for lifetimes.
type Watcher struct {
	opts    Options
	prof    *profiler.Profiler
	ownProf bool
	proc    *procinfo.Reader
	met     metrics.Recorder
	rec     *recorder

	mu        sync.Mutex
	workloads map[uint64]*watched
	events    uint64
	drops     uint64
	dropsSeen uint64 // drops already reported by an internal alert
	started   time.Time
	closed    bool

	// hmu serialises handle: Run's events and the repeat summaries made
	// by the drop/repeat ticker.
	hmu sync.Mutex
	ev  detector.Event // reused per event, under hmu
	// repeatsSeen is the kernel's repeat counter (denied calls counted,
	// not sent) already reported, per (cgroup, arch, nr). Under hmu.
	repeatsSeen map[repeatKey]uint64
}

type repeatKey struct {
	cgroup uint64
	arch   string
	nr     int
}

type watched struct {
	Workload
	started time.Time
	counts  map[string]*Deviation
	final   *profiler.State // kept after Remove
	// installs counts seccomp() calls that installed the workload's filter
	// (see isFilterInstall).
	installs uint64
}

// isFilterInstall recognises the launcher's own seccomp(2) call that
// installs the filter of a WaitSeccomp workload. The kernel side ignores
// the task at sys_enter (no filter yet) but sees its sys_exit with the
// filter in place, and so reports it as refused; a refused call never
// returns 0, this one does. (The profiler could skip it in the kernel:
// nr == seccomp, ret == 0, FlagWaitSeccomp.)
func isFilterInstall(wl *watched, kev *profiler.Event) bool {
	return wl.WaitSeccomp && kev.Kind == profiler.EventDenied && kev.Ret == 0 && kev.Syscall == "seccomp"
}

// New loads (or adopts) the profiler and prepares the Watcher. Close it.
func New(opts Options) (*Watcher, error) {
	if opts.Engine == nil {
		return nil, ErrNoEngine
	}
	if opts.DropInterval <= 0 {
		opts.DropInterval = time.Second
	}
	w := &Watcher{opts: opts, prof: opts.Profiler, proc: opts.Proc, met: opts.Metrics,
		workloads: map[uint64]*watched{}, started: time.Now(), repeatsSeen: map[repeatKey]uint64{}}
	if w.proc == nil {
		w.proc = procinfo.New(nil)
	}
	if w.met == nil {
		w.met = metrics.Nop
	}
	if w.prof == nil {
		p, err := profiler.Load(&profiler.Options{Watch: !opts.NoExitHooks, RingBufferSize: opts.RingBufferSize})
		if err != nil {
			return nil, fmt.Errorf("loading profiler: %w", err)
		}
		w.prof, w.ownProf = p, true
	}
	if opts.Record != "" {
		rec, err := newRecorder(opts.Record)
		if err != nil {
			w.Close()
			return nil, err
		}
		w.rec = rec
	}
	return w, nil
}

// Add starts watching a workload: its profile's allowed set goes into the
// kernel's state for its cgroup.
func (w *Watcher) Add(wl Workload) error {
	if wl.Profile == nil {
		return fmt.Errorf("watching %s: no profile", wl.Name)
	}
	if wl.Mode == "" {
		wl.Mode = ModeWatch
	}
	switch wl.Mode {
	case ModeEnforce, ModeComplain, ModeWatch:
	default:
		return fmt.Errorf("watching %s: unknown mode %q (want enforce, complain or watch)", wl.Name, wl.Mode)
	}
	allowed, err := profiler.AllowedSet(wl.Profile)
	if err != nil {
		return fmt.Errorf("watching %s: %w", wl.Name, err)
	}
	flags := profiler.FlagAllEvents
	if w.opts.FirstOnly {
		flags = 0
	}
	if wl.WaitExec {
		flags |= profiler.FlagWaitExec
	}
	if wl.WaitSeccomp {
		flags |= profiler.FlagWaitSeccomp
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.prof.Track(wl.CgroupID, profiler.TrackOptions{Mode: profiler.ModeWatch, Flags: flags, Allowed: allowed}); err != nil {
		return fmt.Errorf("watching %s: %w", wl.Name, err)
	}
	w.workloads[wl.CgroupID] = &watched{Workload: wl, started: time.Now(), counts: map[string]*Deviation{}}
	w.met.WorkloadsTracked(w.trackedLocked())
	return nil
}

func (w *Watcher) trackedLocked() int {
	n := 0
	for _, wl := range w.workloads {
		if wl.final == nil {
			n++
		}
	}
	return n
}

// Remove stops watching the workload of cgroupID, keeping its final kernel
// state for Summary. Call it after Drain so late events are counted.
func (w *Watcher) Remove(cgroupID uint64) error {
	w.flushRepeats() // the kernel's counters go with the cgroup
	w.hmu.Lock()
	for k := range w.repeatsSeen {
		if k.cgroup == cgroupID {
			delete(w.repeatsSeen, k)
		}
	}
	w.hmu.Unlock()
	w.mu.Lock()
	defer w.mu.Unlock()
	wl, ok := w.workloads[cgroupID]
	if !ok || wl.final != nil {
		return fmt.Errorf("cgroup %d: %w", cgroupID, profiler.ErrNotTracked)
	}
	st, err := w.prof.State(cgroupID)
	if err != nil {
		return fmt.Errorf("reading final state of %s: %w", wl.Name, err)
	}
	wl.final = st
	if err := w.prof.Untrack(cgroupID); err != nil {
		return err
	}
	w.met.WorkloadsTracked(w.trackedLocked())
	return nil
}

// Run reads kernel events and handles them until ctx is done (it then
// returns nil) or the profiler fails. Call it from one goroutine.
func (w *Watcher) Run(ctx context.Context) error {
	done := make(chan struct{})
	defer close(done)
	go w.watchDrops(ctx, done)
	for {
		ev, err := w.prof.ReadEvent(ctx)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, profiler.ErrClosed) {
				return nil
			}
			return fmt.Errorf("reading kernel events: %w", err)
		}
		w.handle(&ev)
	}
}

// Drain handles the events already queued, returning once none arrived for
// quiet (default: 3 poll intervals, 60 ms) or after max. Call it, instead of
// Run, once Run has returned: when the workload has exited, before Remove.
func (w *Watcher) Drain(quiet, max time.Duration) {
	if quiet <= 0 {
		quiet = 60 * time.Millisecond
	}
	deadline := time.Now().Add(max)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), quiet)
		ev, err := w.prof.ReadEvent(ctx)
		cancel()
		if err != nil {
			break
		}
		w.handle(&ev)
	}
	w.checkDrops()
	w.flushRepeats()
}

// watchDrops polls the kernel's drop counter and reports increases.
func (w *Watcher) watchDrops(ctx context.Context, done <-chan struct{}) {
	t := time.NewTicker(w.opts.DropInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-done:
			return
		case <-t.C:
			w.checkDrops()
			w.flushRepeats()
		}
	}
}

// checkDrops reads the drop counter; an increase is a metric and an
// internal alert, once per check interval at most.
func (w *Watcher) checkDrops() {
	n, err := w.prof.Drops()
	if err != nil {
		return
	}
	w.met.KernelEventDrops(n)
	w.mu.Lock()
	w.drops = n
	prev := w.dropsSeen
	w.dropsSeen = n
	var names []string
	for _, wl := range w.workloads {
		names = append(names, wl.Name)
	}
	w.mu.Unlock()
	if n <= prev || w.opts.Internal == nil {
		return
	}
	host := w.opts.Engine.Hostname()
	out := fmt.Sprintf("Kernel event ring buffer full: %d events dropped (%d in total); the deviation set stays complete in the kernel bitmap (workloads=%v)", n-prev, n, names)
	w.opts.Internal.Send(&detector.Alert{
		Time:     time.Now(),
		Rule:     DropRule,
		Priority: detector.PriorityWarning,
		Source:   "internal",
		Hostname: host,
		Output:   out,
		OutputFields: map[string]any{
			"sysward.drops":       n - prev,
			"sysward.drops_total": n,
		},
		Tags: []string{"sysward", "internal"},
	})
}

// flushRepeats turns the kernel's repeat counters (denied calls beyond
// profiler.RepeatBurst per second, counted instead of sent) into one event
// per (workload, syscall) that grew since the last flush: Count is how many
// calls, Time the last one's. Run calls it every DropInterval, Drain once.
func (w *Watcher) flushRepeats() {
	reps, err := w.prof.Repeats()
	if err != nil {
		return
	}
	sort.Slice(reps, func(i, j int) bool { return reps[i].LastTime.Before(reps[j].LastTime) })
	w.hmu.Lock()
	defer w.hmu.Unlock()
	for _, r := range reps {
		k := repeatKey{r.CgroupID, string(r.Arch), r.Nr}
		seen := w.repeatsSeen[k]
		if r.Suppressed <= seen {
			continue
		}
		w.repeatsSeen[k] = r.Suppressed
		kev := profiler.Event{Kind: profiler.EventDenied, Time: r.LastTime, CgroupID: r.CgroupID,
			PID: r.LastPID, TID: r.LastTID, UID: r.LastUID, GID: r.LastGID,
			Arch: r.Arch, Nr: r.Nr, Syscall: r.Syscall, Ret: r.LastRet, Repeat: r.Suppressed - seen}
		if r.LastRet < 0 && r.LastRet >= -4095 {
			kev.Errno = int(-r.LastRet)
		}
		w.handleLocked(&kev)
	}
}

// handle turns one kernel event into a detector event and evaluates it.
func (w *Watcher) handle(kev *profiler.Event) {
	w.hmu.Lock()
	defer w.hmu.Unlock()
	w.handleLocked(kev)
}

func (w *Watcher) handleLocked(kev *profiler.Event) {
	w.mu.Lock()
	wl, ok := w.workloads[kev.CgroupID]
	if ok {
		w.events++
	}
	w.mu.Unlock()
	if !ok || kev.Kind == profiler.EventFirstSeen {
		return
	}
	ev := &w.ev
	*ev = detector.Event{Proc: detector.ProcInfo{Ancestors: ev.Proc.Ancestors[:0]}, Args: ev.Args[:0]}
	ev.Time = kev.Time
	ev.Workload = wl.Name
	ev.Profile = wl.ProfileName
	ev.Mode = wl.Mode
	ev.Fd.Num = -1
	ev.Count = kev.Repeat

	pid := int(kev.PID)
	switch kev.Kind {
	case profiler.EventExec:
		ev.Type = "execve"
		ev.InProfile = true
		ev.Args = append(ev.Args, detector.Arg{Name: "filename", Value: kev.Filename})
	case profiler.EventDeviation, profiler.EventDenied:
		if isFilterInstall(wl, kev) {
			w.mu.Lock()
			wl.installs++
			w.mu.Unlock()
			return
		}
		ev.Type = kev.Syscall
		ev.InProfile = false
		for i, a := range kev.Args {
			ev.Args = append(ev.Args, detector.Arg{Name: argNames[i], Value: "0x" + strconv.FormatUint(a, 16)})
		}
		if kev.Kind == profiler.EventDenied {
			ev.Denied = true
			ev.Res = kev.Ret
			ev.Errno = int64(kev.Errno)
			ev.Action = "errno"
			if kev.Errno == 0 {
				ev.Action = "kill"
			}
		} else {
			ev.Action = actionFor(wl.Mode)
		}
		w.count(wl, kev.Syscall, ev.Denied, max(kev.Repeat, 1))
	case profiler.EventExitSigsys:
		ev.Type = "procexit"
		ev.Denied = true
		ev.Action = "kill"
		ev.Args = append(ev.Args, detector.Arg{Name: "status", Value: strconv.Itoa(kev.ExitCode)},
			detector.Arg{Name: "sig", Value: "SIGSYS"})
		if kev.Syscall != "" {
			ev.Args = append(ev.Args, detector.Arg{Name: "syscall", Value: kev.Syscall})
			w.mu.Lock()
			d := wl.counts[kev.Syscall]
			if d == nil {
				d = &Deviation{Syscall: kev.Syscall}
				wl.counts[kev.Syscall] = d
			}
			d.Killed++
			w.mu.Unlock()
		}
	default:
		return
	}
	ev.Num = w.events
	w.met.EventsProcessed(1)

	enrich(w.proc, ev, kev)
	if ev.Container.ID == "" && wl.ContainerID != "" {
		ev.Container.ID = procinfo.Container{ID: wl.ContainerID}.ShortID()
		ev.Container.Name = wl.ContainerID
	}
	if w.opts.Pods != nil && wl.ContainerID != "" {
		w.opts.Pods.Enrich(wl.ContainerID, ev)
	}
	if kev.Kind == profiler.EventExitSigsys {
		w.proc.Forget(pid)
	}
	ev.Normalize()
	if w.rec != nil {
		w.rec.Write(ev)
	}
	w.opts.Engine.Process(ev)
}

var argNames = [6]string{"arg0", "arg1", "arg2", "arg3", "arg4", "arg5"}

// actionFor is the seccomp action a call outside the profile met when it
// was not refused: logged under complain, nothing otherwise.
func actionFor(mode string) string {
	if mode == ModeComplain {
		return "log"
	}
	return "allow"
}

// count adds an event standing for calls calls of syscall.
func (w *Watcher) count(wl *watched, syscall string, denied bool, calls uint64) {
	w.mu.Lock()
	d := wl.counts[syscall]
	if d == nil {
		d = &Deviation{Syscall: syscall}
		wl.counts[syscall] = d
	}
	d.Events++
	if denied {
		d.Denied += calls
	}
	w.mu.Unlock()
	w.met.Deviation(wl.Name, syscall)
}

// Summary returns what was seen of the workload of cgroupID. The deviation
// set comes from the kernel bitmap (the final state after Remove).
func (w *Watcher) Summary(cgroupID uint64) (*Summary, error) {
	w.mu.Lock()
	wl, ok := w.workloads[cgroupID]
	w.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("cgroup %d: %w", cgroupID, profiler.ErrNotTracked)
	}
	st := wl.final
	if st == nil {
		var err error
		if st, err = w.prof.State(cgroupID); err != nil {
			return nil, err
		}
	}
	w.checkDrops()
	w.mu.Lock()
	defer w.mu.Unlock()
	s := &Summary{
		Workload: wl.Name, Profile: wl.ProfileName, Mode: wl.Mode,
		Started: wl.started, Ended: time.Now(),
		Events: w.events, Drops: w.drops, Alerts: map[string]uint64{}, Deviations: []Deviation{},
		Calls: st.DeviationCount + st.DeniedCount, DeniedCalls: st.DeniedCount,
	}
	if wl.installs <= s.DeniedCalls { // not calls of the workload (isFilterInstall)
		s.Calls -= wl.installs
		s.DeniedCalls -= wl.installs
	}
	for _, a := range st.Deviations.Arches() {
		for _, name := range st.Deviations.Names(a) {
			if name == "seccomp" && wl.installs > 0 && wl.counts[name] == nil {
				continue // only the filter's own installation (isFilterInstall)
			}
			d := Deviation{Syscall: name}
			if c := wl.counts[name]; c != nil {
				d = *c
			}
			s.Deviations = append(s.Deviations, d)
		}
	}
	// Kills never reach sys_exit: the bitmap cannot hold them.
	for name, c := range wl.counts {
		if c.Killed > 0 && !slices.ContainsFunc(s.Deviations, func(d Deviation) bool { return d.Syscall == name }) {
			s.Deviations = append(s.Deviations, *c)
		}
	}
	for _, r := range w.opts.Engine.Stats().Rules {
		if r.Matches > 0 {
			s.Alerts[r.Name] += r.Matches
		}
	}
	return s, nil
}

// ProcStats returns the enrichment cache's counters.
func (w *Watcher) ProcStats() procinfo.Stats { return w.proc.Stats() }

// Close untracks every workload, closes a profiler the Watcher loaded, and
// writes the event record. It is safe to call twice.
func (w *Watcher) Close() error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil
	}
	w.closed = true
	var errs []error
	for id, wl := range w.workloads {
		if wl.final == nil {
			if err := w.prof.Untrack(id); err != nil && !errors.Is(err, profiler.ErrNotTracked) && !errors.Is(err, profiler.ErrClosed) {
				errs = append(errs, err)
			}
		}
	}
	w.mu.Unlock()
	if w.ownProf {
		errs = append(errs, w.prof.Close())
	}
	if w.rec != nil {
		errs = append(errs, w.rec.Close())
	}
	return errors.Join(errs...)
}
