package watch

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
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
	// detector's event file format), written atomically on Close (streamed
	// when it is a device or FIFO).
	Record string
	// RecordMax caps the record's size in bytes (0:
	// detector.MaxEventsFileSize); events past it are counted in the
	// summary's RecordDrops.
	RecordMax int64
	// FirstOnly asks the kernel for the first event per (workload, syscall)
	// only. By default every deviating call is an event, so repeats are
	// counted (the output's dedup collapses their alerts).
	FirstOnly bool
	// DropInterval is how often the kernel drop counter is read (default 1s).
	DropInterval time.Duration
	// HoldNewCgroups loads the Profiler with profiler.Options.HoldNewCgroups
	// (when the Watcher loads it) and keeps the events of cgroups not added
	// yet (a pending cgroup's execs and SIGSYS deaths), enriched when they
	// arrive, until Add judges them against the workload's profile or
	// Release drops them (the node agent). At most MaxHeldEvents per cgroup.
	HoldNewCgroups bool
	// OnHeld, if set, is called from Run the first time an event of a
	// cgroup not added yet is held. It must not block.
	OnHeld func(cgroupID uint64)
	// Correlate, if set, sees every event after the engine (the node
	// agent's audit correlator, audit.Correlator.Syscall). The event is
	// reused afterwards: it must copy what it keeps, and not block.
	Correlate func(*detector.Event)
}

// MaxHeldEvents bounds the events held per cgroup not added yet
// (Options.HoldNewCgroups); more are counted, not kept.
const MaxHeldEvents = 64

// maxHeldCgroups bounds the cgroups whose events are held.
const maxHeldCgroups = 4096

// heldCgroup is what a cgroup not added yet did, as events.
type heldCgroup struct {
	events  []detector.Event
	dropped int
	since   time.Time
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
	held        map[uint64]*heldCgroup // HoldNewCgroups: events of cgroups not added yet
	heldDropped uint64                 // held events not kept (bounds)
	beat        atomic.Int64           // unix nanos Run last came back from the ring buffer
	drained     atomic.Int64           // unix nanos before which every event was handled (Drained)
	running     atomic.Bool            // Run is reading

	// engMu serialises Engine.Process between Run and Add's replay of
	// held events.
	engMu sync.Mutex

	beforeRead atomic.Pointer[func()] // tests: stall the reader
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
		workloads: map[uint64]*watched{}, held: map[uint64]*heldCgroup{}, started: time.Now(), repeatsSeen: map[repeatKey]uint64{}}
	w.beat.Store(time.Now().UnixNano())
	if w.proc == nil {
		w.proc = procinfo.New(nil)
	}
	if w.met == nil {
		w.met = metrics.Nop
	}
	if w.prof == nil {
		p, err := profiler.Load(&profiler.Options{Watch: !opts.NoExitHooks, RingBufferSize: opts.RingBufferSize,
			HoldNewCgroups: opts.HoldNewCgroups})
		if err != nil {
			return nil, fmt.Errorf("loading profiler: %w", err)
		}
		w.prof, w.ownProf = p, true
	}
	if opts.Record != "" {
		rec, err := newRecorder(opts.Record, opts.RecordMax)
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
	// Calls the profile answers ENOSYS (clone3, for glibc to fall back to
	// clone) are expected, not deviations.
	allowed, err := profiler.ExpectedSet(wl.Profile)
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
	// Held events are judged before any later event of the cgroup.
	w.engMu.Lock()
	defer w.engMu.Unlock()
	w.mu.Lock()
	rec, err := w.prof.Adopt(wl.CgroupID, profiler.TrackOptions{Mode: profiler.ModeWatch, Flags: flags, Allowed: allowed})
	if err != nil {
		w.mu.Unlock()
		return fmt.Errorf("watching %s: %w", wl.Name, err)
	}
	nw := &watched{Workload: wl, started: time.Now(), counts: map[string]*Deviation{}}
	w.workloads[wl.CgroupID] = nw
	h := w.held[wl.CgroupID]
	delete(w.held, wl.CgroupID)
	w.met.WorkloadsTracked(w.trackedLocked())
	w.mu.Unlock()
	w.judgeHeld(nw, h, rec, allowed)
	return nil
}

// judgeHeld evaluates what a workload did before Add, now that its profile
// is known: the events held for it (execs, SIGSYS deaths) and the calls
// the kernel recorded while it was pending that its profile does not allow
// (one deviation event per syscall: the kernel kept the set, not the
// calls, so the process fields are unknown). Called with engMu held.
func (w *Watcher) judgeHeld(wl *watched, h *heldCgroup, rec *profiler.State, allowed *profiler.SyscallSet) {
	if h != nil {
		for i := range h.events {
			ev := &h.events[i]
			w.fillWorkload(ev, wl)
			if ev.Denied && ev.Type != "procexit" {
				// Refused by the container's filter while pending: a
				// deviation unless the profile allows it after all.
				if nr, ok := heldSyscall(ev); ok && allowed.Has(nr.arch, nr.nr) {
					continue
				}
				w.count(wl, ev.Type, true, max(ev.Count, 1))
			}
			if ev.Type == "procexit" {
				for _, a := range ev.Args {
					if a.Name == "syscall" {
						w.mu.Lock()
						d := wl.counts[a.Value]
						if d == nil {
							d = &Deviation{Syscall: a.Value}
							wl.counts[a.Value] = d
						}
						d.Killed++
						w.mu.Unlock()
					}
				}
			}
			w.process(ev)
		}
	}
	if rec == nil {
		return
	}
	for _, arch := range rec.Seen.Arches() {
		for _, nr := range rec.Seen.Numbers(arch) {
			if allowed.Has(arch, nr) {
				continue
			}
			name, ok := profiles.SyscallName(arch, nr)
			if !ok {
				name = "syscall_" + strconv.Itoa(nr)
			}
			ev := &detector.Event{Time: time.Now(), Type: name, Action: actionFor(wl.Mode)}
			ev.Fd.Num = -1
			ev.Proc.PID, ev.Proc.PPID = -1, -1
			w.fillWorkload(ev, wl)
			w.count(wl, name, false, 1)
			w.process(ev)
		}
	}
}

type archNr struct {
	arch profiles.Arch
	nr   int
}

// heldSyscall is the syscall of a held denied event (by name, native
// architecture first).
func heldSyscall(ev *detector.Event) (archNr, bool) {
	for _, a := range []profiles.Arch{profiles.NativeArch(), profiles.ArchX86, profiles.ArchX32} {
		if nr, ok := profiles.SyscallNumber(a, ev.Type); ok {
			return archNr{a, nr}, true
		}
	}
	return archNr{}, false
}

// fillWorkload sets the workload's fields of ev.
func (w *Watcher) fillWorkload(ev *detector.Event, wl *watched) {
	ev.Workload = wl.Name
	ev.Profile = wl.ProfileName
	ev.Mode = wl.Mode
	if ev.Container.ID == "" && wl.ContainerID != "" {
		ev.Container.ID = procinfo.Container{ID: wl.ContainerID}.ShortID()
		ev.Container.Name = wl.ContainerID
	}
	// The pod, its workload (sysward.workload: namespace/kind/name) and
	// Falco's k8s fields, when the agent knows the API. Last, so every
	// path (live events, events held while the cgroup was pending) gets it.
	if w.opts.Pods != nil && wl.ContainerID != "" {
		w.opts.Pods.Enrich(wl.ContainerID, ev)
	}
}

// process numbers ev and runs it through the engine. Called with engMu held.
func (w *Watcher) process(ev *detector.Event) {
	w.mu.Lock()
	w.events++
	ev.Num = w.events
	w.mu.Unlock()
	w.met.EventsProcessed(1)
	ev.Normalize()
	if w.rec != nil {
		w.rec.Write(ev)
	}
	w.opts.Engine.Process(ev)
	if w.opts.Correlate != nil {
		w.opts.Correlate(ev)
	}
}

// Release drops what is held for a cgroup that will not be added (not a
// container): its held events and the kernel's pending hold.
func (w *Watcher) Release(cgroupID uint64) error {
	w.mu.Lock()
	delete(w.held, cgroupID)
	w.mu.Unlock()
	if err := w.prof.Release(cgroupID); err != nil && !errors.Is(err, profiler.ErrNotTracked) {
		return err
	}
	return nil
}

// pruneHeld drops the events held longer than maxAge: of cgroups that
// were released, or whose container was forgotten, before their last
// events were read.
func (w *Watcher) pruneHeld(maxAge time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for id, h := range w.held {
		if time.Since(h.since) > maxAge {
			delete(w.held, id)
		}
	}
}

// Held reports how many events are held for a cgroup not added yet.
func (w *Watcher) Held(cgroupID uint64) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	if h := w.held[cgroupID]; h != nil {
		return len(h.events) + h.dropped
	}
	return 0
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
	w.running.Store(true)
	defer w.running.Store(false)
	for {
		// Come back at least every beatInterval, so that LastBeat shows
		// the reader alive when no events come.
		if f := w.beforeRead.Load(); f != nil {
			(*f)()
		}
		start := time.Now()
		rctx, cancel := context.WithTimeout(ctx, beatInterval)
		ev, err := w.prof.ReadEvent(rctx)
		cancel()
		w.beat.Store(time.Now().UnixNano())
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, profiler.ErrClosed) {
				return nil
			}
			if errors.Is(err, context.DeadlineExceeded) {
				// Nothing came since start: every event submitted
				// before it has been handled.
				w.drained.Store(start.UnixNano())
				continue
			}
			return fmt.Errorf("reading kernel events: %w", err)
		}
		w.handle(&ev)
		if t := ev.Time.Add(-drainSkew).UnixNano(); t > w.drained.Load() {
			w.drained.Store(t)
		}
	}
}

// drainSkew allows for events of other CPUs reserved slightly before the
// one just handled but behind it in the ring.
const drainSkew = 10 * time.Millisecond

// Drained is a time before which every kernel event has been handled: a
// cgroup found gone at t has had all its events handled once Drained is
// after t.
func (w *Watcher) Drained() time.Time {
	if !w.running.Load() {
		return time.Now() // nobody reads: nothing is in hand
	}
	return time.Unix(0, w.drained.Load())
}

// beatInterval is how often an idle Run comes back from the ring buffer.
const beatInterval = 100 * time.Millisecond

// LastBeat is when Run last came back from reading the ring buffer (an
// event or an idle poll): it stops moving when the reader is stuck.
func (w *Watcher) LastBeat() time.Time { return time.Unix(0, w.beat.Load()) }

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
	w.mu.Unlock()
	if kev.Kind == profiler.EventFirstSeen {
		return
	}
	if !ok {
		// A cgroup held pending: keep its execs, refused calls and
		// deaths for Add.
		if !w.opts.HoldNewCgroups || kev.Kind == profiler.EventDeviation {
			return
		}
		wl = &watched{counts: map[string]*Deviation{}} // no workload yet
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
		if ok { // a held call is counted when Add judges it
			w.count(wl, kev.Syscall, ev.Denied, max(kev.Repeat, 1))
		}
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

	enrich(w.proc, ev, kev)
	if kev.Kind == profiler.EventExitSigsys {
		w.proc.Forget(pid)
	}
	if !ok && w.hold(kev.CgroupID, ev) {
		return
	}
	w.engMu.Lock()
	defer w.engMu.Unlock()
	if !ok { // added while it was enriched: judge it as the workload's
		w.mu.Lock()
		wl = w.workloads[kev.CgroupID]
		w.mu.Unlock()
		if wl == nil {
			return
		}
	}
	w.fillWorkload(ev, wl)
	w.process(ev)
}

// hold keeps a copy of ev for the cgroup not added yet; false when the
// cgroup was added meanwhile (then ev is the workload's now).
func (w *Watcher) hold(cgroupID uint64, ev *detector.Event) bool {
	w.mu.Lock()
	if _, added := w.workloads[cgroupID]; added {
		w.mu.Unlock()
		return false
	}
	h := w.held[cgroupID]
	first := h == nil
	if first {
		if len(w.held) >= maxHeldCgroups {
			w.heldDropped++
			w.mu.Unlock()
			return true
		}
		h = &heldCgroup{since: time.Now()}
		w.held[cgroupID] = h
	}
	if len(h.events) < MaxHeldEvents {
		c := *ev
		c.Args = slices.Clone(ev.Args)
		c.Proc.Ancestors = slices.Clone(ev.Proc.Ancestors)
		h.events = append(h.events, c)
	} else {
		h.dropped++
		w.heldDropped++
	}
	w.mu.Unlock()
	if first && w.opts.OnHeld != nil {
		w.opts.OnHeld(cgroupID)
	}
	return true
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
		RecordDrops: w.RecordDrops(),
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

// RecordDrops is how many events the --record file had no room for
// (Options.RecordMax).
func (w *Watcher) RecordDrops() uint64 {
	if w.rec == nil {
		return 0
	}
	return w.rec.Dropped()
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
