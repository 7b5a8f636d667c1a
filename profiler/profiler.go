package profiler

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/ringbuf"
	"github.com/cilium/ebpf/rlimit"
	"golang.org/x/sys/unix"

	"github.com/sysward/sysward/internal/cgroups"
	"github.com/sysward/sysward/profiles"
)

// Sentinel errors; match with errors.Is.
var (
	// ErrPermission: not root, or missing CAP_BPF + CAP_PERFMON (or CAP_SYS_ADMIN).
	ErrPermission = errors.New("loading eBPF needs root or CAP_BPF+CAP_PERFMON")
	// ErrNoBTF: the kernel exposes no BTF at /sys/kernel/btf/vmlinux.
	ErrNoBTF = errors.New("kernel BTF missing (/sys/kernel/btf/vmlinux; CONFIG_DEBUG_INFO_BTF)")
	// ErrNotTracked: the cgroup id is not tracked by this Profiler.
	ErrNotTracked = errors.New("cgroup not tracked")
	// ErrUnknownTarget: the pid, cgroup or container does not exist.
	ErrUnknownTarget = errors.New("unknown target")
	// ErrAmbiguous: a container id prefix matches more than one container.
	ErrAmbiguous = errors.New("ambiguous container id prefix")
	// ErrClosed: the Profiler was closed.
	ErrClosed = errors.New("profiler closed")
)

// Mode is what the kernel does for a tracked cgroup.
type Mode uint32

// Modes (bpf/profiler.bpf.c enum mode).
const (
	// ModeLearn records every syscall in the seen set.
	ModeLearn Mode = 1
	// ModeWatch also records, and reports calls outside the allowed set.
	ModeWatch Mode = 2
)

// Flags refine a tracked cgroup (bpf/profiler.bpf.c enum state_flag).
type Flags uint32

// Flags.
const (
	// FlagWaitExec records nothing until a task of the cgroup execs
	// (execve/execveat themselves are recorded). For `learn -- CMD`.
	FlagWaitExec Flags = 1 << 0
	// FlagWaitSeccomp records only syscalls of tasks that have a seccomp
	// filter: the runtime boundary for containers learned under an
	// allow-all profile.
	FlagWaitSeccomp Flags = 1 << 1
	// FlagFirstSeen emits EventFirstSeen when a syscall is first seen.
	FlagFirstSeen Flags = 1 << 2
	// FlagAllEvents (watch) emits every deviating or denied call, not only
	// the first per syscall.
	FlagAllEvents Flags = 1 << 3
)

// Options configure Load. A nil *Options means the defaults.
type Options struct {
	// RingBufferSize is the event ring buffer's size in bytes: a power of
	// two and a multiple of the page size. 0 means 256 KiB.
	RingBufferSize int
	// MaxCgroups bounds how many cgroups can be tracked at once. 0 means 1024.
	MaxCgroups int
	// Watch attaches sys_exit (denied calls) and sched_process_exit
	// (SIGSYS deaths) as well. Without it, only sys_enter and
	// sched_process_exec run, which is all learning needs.
	Watch bool
	// HoldNewCgroups holds every cgroup created on the cgroup2 hierarchy
	// pending from its creation (the node agent): its seen set is recorded
	// (calls under a seccomp filter), its execs and SIGSYS deaths are
	// events, and ReadNewCgroup reports it, until Adopt tracks it or
	// Release drops it. See pending.go.
	HoldNewCgroups bool
	// MaxPending bounds how many cgroups are held pending at once (0: 256).
	// A cgroup created while all are in use is not held; PendingStats
	// counts it.
	MaxPending int
}

// TrackOptions say how to track one cgroup.
type TrackOptions struct {
	Mode  Mode
	Flags Flags
	// Allowed is the profile's allowed set (watch); nil means empty.
	// Build it with AllowedSet.
	Allowed *SyscallSet
}

// Profiler is a loaded and attached set of sysward eBPF programs.
type Profiler struct {
	mu    sync.Mutex
	slots map[uint64]uint32 // tracked cgroup id -> slot in the states map
	free  []uint32          // free slots, next last
	// follows are the followed cgroups (Follow), freePools the unused
	// follow_pools entries, next last.
	follows   map[uint64]*follower
	freePools []uint32
	objs      profilerObjects
	links     []link.Link
	rd        *ringbuf.Reader
	rdMu      sync.Mutex
	ncRd      *ringbuf.Reader // new_cgroups (HoldNewCgroups)
	ncMu      sync.Mutex
	closed    bool
	bootOff   int64 // wall clock ns minus CLOCK_BOOTTIME ns
}

// Load loads the eBPF objects and attaches the programs. Close releases them.
func Load(opts *Options) (*Profiler, error) {
	if opts == nil {
		opts = &Options{}
	}
	if err := checkCaps(); err != nil {
		return nil, err
	}
	if _, err := os.Stat("/sys/kernel/btf/vmlinux"); err != nil {
		return nil, ErrNoBTF
	}
	if _, err := cgroups.Mountpoint(); err != nil {
		return nil, err
	}
	if err := rlimit.RemoveMemlock(); err != nil {
		return nil, fmt.Errorf("removing memlock limit: %w", permErr(err))
	}
	spec, err := loadProfiler()
	if err != nil {
		return nil, fmt.Errorf("reading profiler objects: %w", err)
	}
	if opts.RingBufferSize > 0 {
		spec.Maps["events"].MaxEntries = uint32(opts.RingBufferSize)
	}
	maxCgroups := uint32(1024)
	if opts.MaxCgroups > 0 {
		maxCgroups = uint32(opts.MaxCgroups)
	}
	if opts.Watch {
		if err := spec.Variables["exits_attached"].Set(uint32(1)); err != nil {
			return nil, fmt.Errorf("configuring profiler objects: %w", err)
		}
	}
	if opts.HoldNewCgroups {
		if err := spec.Variables["hold_new"].Set(uint32(1)); err != nil {
			return nil, fmt.Errorf("configuring profiler objects: %w", err)
		}
		if opts.MaxPending > 0 {
			spec.Maps["pending"].MaxEntries = uint32(opts.MaxPending)
		}
	}
	spec.Maps["tracked"].MaxEntries = maxCgroups
	spec.Maps["states"].MaxEntries = maxCgroups
	p := &Profiler{bootOff: bootOffset(), slots: map[uint64]uint32{}, follows: map[uint64]*follower{}}
	for i := followPools - 1; i >= 0; i-- {
		p.freePools = append(p.freePools, uint32(i))
	}
	for i := int(maxCgroups) - 1; i >= 0; i-- {
		p.free = append(p.free, uint32(i))
	}
	if err := spec.LoadAndAssign(&p.objs, nil); err != nil {
		var ve *ebpf.VerifierError
		if errors.As(err, &ve) {
			return nil, fmt.Errorf("loading profiler objects: %+v", ve)
		}
		return nil, fmt.Errorf("loading profiler objects: %w", permErr(err))
	}
	attach := func(name string, f func() (link.Link, error)) error {
		l, err := f()
		if err != nil {
			return fmt.Errorf("attaching %s: %w", name, permErr(err))
		}
		p.links = append(p.links, l)
		return nil
	}
	type step struct {
		name string
		prog *ebpf.Program
	}
	steps := []step{
		{"tp_btf/cgroup_attach_task", p.objs.CgroupAttachTask},
		{"tp_btf/sched_process_fork", p.objs.SchedProcessFork},
		{"tp_btf/sched_process_exec", p.objs.SchedProcessExec},
		{"tp_btf/sys_enter", p.objs.SysEnter},
	}
	if opts.HoldNewCgroups {
		steps = append(steps, step{"tp_btf/cgroup_mkdir", p.objs.CgroupMkdir})
	}
	if opts.Watch {
		steps = append(steps,
			step{"tp_btf/sys_exit", p.objs.SysExit},
			step{"tp_btf/sched_process_exit", p.objs.SchedProcessExit})
	}
	for _, s := range steps {
		prog := s.prog
		if err := attach(s.name, func() (link.Link, error) {
			return link.AttachTracing(link.TracingOptions{Program: prog})
		}); err != nil {
			p.Close()
			return nil, err
		}
	}
	rd, err := ringbuf.NewReader(p.objs.Events)
	if err != nil {
		p.Close()
		return nil, fmt.Errorf("opening ring buffer: %w", err)
	}
	p.rd = rd
	if opts.HoldNewCgroups {
		if p.ncRd, err = ringbuf.NewReader(p.objs.NewCgroups); err != nil {
			p.Close()
			return nil, fmt.Errorf("opening new-cgroup ring buffer: %w", err)
		}
	}
	return p, nil
}

// checkCaps fails with ErrPermission unless the process has CAP_SYS_ADMIN
// or both CAP_BPF and CAP_PERFMON in its effective set (what loading and
// attaching tracing programs needs).
func checkCaps() error {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return nil // cannot tell: let the kernel decide
	}
	has := func(c uint) bool { return data[c/32].Effective&(1<<(c%32)) != 0 }
	if has(unix.CAP_SYS_ADMIN) || has(unix.CAP_BPF) && has(unix.CAP_PERFMON) {
		return nil
	}
	return fmt.Errorf("%w (euid %d)", ErrPermission, os.Geteuid())
}

func permErr(err error) error {
	if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
		return fmt.Errorf("%w: %v", ErrPermission, err)
	}
	return err
}

// Close detaches the programs and frees every map. It is safe to call more
// than once; ReadEvent blocked in another goroutine returns ErrClosed.
func (p *Profiler) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil
	}
	p.closed = true
	var errs []error
	if p.rd != nil {
		errs = append(errs, p.rd.Close())
	}
	if p.ncRd != nil {
		errs = append(errs, p.ncRd.Close())
	}
	for i := len(p.links) - 1; i >= 0; i-- {
		errs = append(errs, p.links[i].Close())
	}
	p.links = nil
	errs = append(errs, p.objs.Close())
	return errors.Join(errs...)
}

// Track starts tracking cgroupID (the inode of its cgroup2 directory, see
// cgroups.ID). Tracking it again replaces its state: seen, deviation and
// denied sets start empty. Tracking takes effect for each task of the cgroup
// at its next context switch (see doc.go).
func (p *Profiler) Track(cgroupID uint64, t TrackOptions) error {
	_, err := p.Adopt(cgroupID, t)
	return err
}

// Adopt is Track for a cgroup that may be held pending (HoldNewCgroups):
// the tracked state starts with the seen set recorded while it was
// pending, the pending entry is released, and what it recorded is returned
// (nil when the cgroup was not pending), so the caller can judge those
// calls and events against the profile it now knows.
func (p *Profiler) Adopt(cgroupID uint64, t TrackOptions) (*State, error) {
	if t.Mode != ModeLearn && t.Mode != ModeWatch {
		return nil, fmt.Errorf("tracking cgroup %d: invalid mode %d", cgroupID, t.Mode)
	}
	if cgroupID == 0 {
		return nil, fmt.Errorf("tracking cgroup 0: %w", ErrUnknownTarget)
	}
	var st profilerCgroupState
	st.CgroupId = cgroupID
	st.Mode = uint32(t.Mode)
	st.Flags = uint32(t.Flags)
	if t.Allowed != nil {
		st.Allowed = t.Allowed.bits
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, ErrClosed
	}
	slot, ok := p.slots[cgroupID]
	if !ok {
		if len(p.free) == 0 {
			return nil, fmt.Errorf("tracking cgroup %d: all %d slots in use (Options.MaxCgroups)", cgroupID, len(p.slots))
		}
		slot = p.free[len(p.free)-1]
	}
	var held profilerCgroupState
	pending := p.ncRd != nil && p.objs.Pending.Lookup(cgroupID, &held) == nil && held.CgroupId == cgroupID
	if pending {
		st.Seen = held.Seen
	}
	// State first, then the index that makes sys_enter find it.
	if err := p.objs.States.Update(slot, &st, ebpf.UpdateAny); err != nil {
		return nil, fmt.Errorf("tracking cgroup %d: writing state: %w", cgroupID, err)
	}
	if err := p.objs.Tracked.Update(cgroupID, slot, ebpf.UpdateAny); err != nil {
		return nil, fmt.Errorf("tracking cgroup %d: %w", cgroupID, err)
	}
	if err := p.setIndex(cgroupID, slot, true); err != nil {
		p.objs.Tracked.Delete(cgroupID) //nolint:errcheck // undoing
		return nil, fmt.Errorf("tracking cgroup %d: %w", cgroupID, err)
	}
	if !ok {
		p.free = p.free[:len(p.free)-1]
		p.slots[cgroupID] = slot
	} else if err := p.deleteRepeats(cgroupID); err != nil { // a fresh state
		return nil, fmt.Errorf("tracking cgroup %d: %w", cgroupID, err)
	}
	if err := p.bumpGeneration(); err != nil {
		return nil, err
	}
	if !pending {
		return nil, nil
	}
	// The index now wins over the pending entry at every CPU's next
	// syscall; what the pending entry recorded up to here is final.
	if err := p.objs.Pending.Lookup(cgroupID, &held); err != nil || held.CgroupId != cgroupID {
		return nil, nil // released meanwhile
	}
	if err := p.releaseLocked(cgroupID); err != nil {
		return nil, fmt.Errorf("tracking cgroup %d: %w", cgroupID, err)
	}
	return stateOf(&held), nil
}

// bumpGeneration makes every CPU's cached view of its running task refresh
// at that task's next syscall, so a Track or Untrack takes effect at once.
// Called with p.mu held, after the maps are updated. The kernel bumps the
// generation too (migrations, new tasks), so the add must be atomic: a
// read-modify-write from here could write back a value some CPU's entry
// was filled under, making a stale entry valid again. It runs the
// bump_generation program (BPF_PROG_RUN), which adds 1 atomically.
func (p *Profiler) bumpGeneration() error {
	if _, err := p.objs.BumpGeneration.Run(&ebpf.RunOptions{}); err != nil {
		return fmt.Errorf("bumping generation: %w", err)
	}
	return nil
}

// indexSize is INDEX_SIZE in bpf/profiler.bpf.c.
const indexSize = 4096

// setIndex claims (add) or releases the direct-mapped index entry of
// cgroupID. An entry owned by another cgroup is marked collide instead: the
// kernel then falls back to the tracked hash for that entry. Called with
// p.mu held.
func (p *Profiler) setIndex(cgroupID uint64, slot uint32, add bool) error {
	h := uint32(cgroupID & (indexSize - 1))
	var e profilerIndexEntry
	if err := p.objs.CgIndex.Lookup(h, &e); err != nil {
		return fmt.Errorf("reading index: %w", err)
	}
	switch {
	case add && (e.CgroupId == 0 || e.CgroupId == cgroupID):
		e.CgroupId, e.Slot = cgroupID, slot
	case add:
		e.Collide = 1
	case e.CgroupId == cgroupID:
		e.CgroupId, e.Slot = 0, 0 // collide stays: others may share the entry
	default:
		return nil
	}
	if err := p.objs.CgIndex.Update(h, &e, ebpf.UpdateAny); err != nil {
		return fmt.Errorf("writing index: %w", err)
	}
	return nil
}

// Untrack stops tracking cgroupID and frees its state.
func (p *Profiler) Untrack(cgroupID uint64) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return ErrClosed
	}
	slot, ok := p.slots[cgroupID]
	if !ok {
		return fmt.Errorf("untracking cgroup %d: %w", cgroupID, ErrNotTracked)
	}
	if err := p.setIndex(cgroupID, slot, false); err != nil {
		return fmt.Errorf("untracking cgroup %d: %w", cgroupID, err)
	}
	if err := p.objs.Tracked.Delete(cgroupID); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return fmt.Errorf("untracking cgroup %d: %w", cgroupID, err)
	}
	// A CPU that cached this slot before the delete sees cgroup id 0 and
	// ignores it.
	var zero profilerCgroupState
	if err := p.objs.States.Update(slot, &zero, ebpf.UpdateAny); err != nil {
		return fmt.Errorf("untracking cgroup %d: clearing state: %w", cgroupID, err)
	}
	delete(p.slots, cgroupID)
	p.free = append(p.free, slot)
	if err := p.deleteRepeats(cgroupID); err != nil {
		return fmt.Errorf("untracking cgroup %d: %w", cgroupID, err)
	}
	return p.bumpGeneration()
}

// Repeat is the kernel's count of denied calls of one (cgroup, syscall)
// that were counted instead of sent as events: beyond the first
// RepeatBurst per RepeatInterval. Suppressed only grows while the cgroup
// is tracked; the caller keeps what it read before and reports the
// difference. Last* describe the latest call counted.
type Repeat struct {
	CgroupID   uint64
	Arch       profiles.Arch
	Nr         int
	Syscall    string
	Suppressed uint64
	// LastTime, LastRet (the -errno it returned), and the caller's
	// LastPID, LastTID, LastUID and LastGID (effective ids).
	LastTime         time.Time
	LastRet          int64
	LastPID, LastTID uint32
	LastUID, LastGID uint32
}

// RepeatBurst denied calls per (cgroup, syscall) per RepeatInterval are sent
// as events; the rest are counted (REPEAT_BURST, REPEAT_INTERVAL_NS in
// bpf/profiler.bpf.c).
const (
	RepeatBurst    = 8
	RepeatInterval = time.Second
)

// Repeats returns the repeat counters of every (cgroup, syscall) that has
// one. A counter and its Last* fields are read together but not
// atomically: Last* may already describe a call counted after Suppressed
// was read.
func (p *Profiler) Repeats() ([]Repeat, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, ErrClosed
	}
	var (
		out []Repeat
		k   profilerRepeatKey
		v   profilerRepeatVal
	)
	it := p.objs.Repeats.Iterate()
	for it.Next(&k, &v) {
		if v.Suppressed == 0 || int(k.Arch) >= numArches {
			continue
		}
		a := archOrder[k.Arch]
		nr := tableNr(a, int(k.Nr))
		out = append(out, Repeat{
			CgroupID: k.CgroupId, Arch: a, Nr: nr, Syscall: syscallName(a, nr), Suppressed: v.Suppressed,
			LastTime: time.Unix(0, int64(v.LastNs)+p.bootOff), LastRet: v.LastRet,
			LastPID: v.LastPid, LastTID: v.LastTid, LastUID: v.LastUid, LastGID: v.LastGid,
		})
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("reading repeat counters: %w", err)
	}
	return out, nil
}

// deleteRepeats drops the repeat counters of cgroupID. Called with p.mu held.
func (p *Profiler) deleteRepeats(cgroupID uint64) error {
	var (
		k    profilerRepeatKey
		v    profilerRepeatVal
		keys []profilerRepeatKey
	)
	it := p.objs.Repeats.Iterate()
	for it.Next(&k, &v) {
		if k.CgroupId == cgroupID {
			keys = append(keys, k)
		}
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("reading repeat counters: %w", err)
	}
	for i := range keys {
		if err := p.objs.Repeats.Delete(&keys[i]); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return fmt.Errorf("deleting repeat counter: %w", err)
		}
	}
	return nil
}

// State is a snapshot of one tracked cgroup's kernel state.
type State struct {
	Mode  Mode
	Flags Flags
	// Seen holds every syscall recorded (both modes).
	Seen SyscallSet
	// Allowed is what Track installed.
	Allowed SyscallSet
	// Deviations (watch) holds every syscall outside Allowed, whether it
	// reached sys_enter or was refused by seccomp.
	Deviations SyscallSet
	// Denied (watch) holds those refused by seccomp.
	Denied SyscallSet
	// DeviationCount and DeniedCount count calls (not distinct syscalls).
	DeviationCount, DeniedCount uint64
}

// State reads the kernel state of cgroupID.
func (p *Profiler) State(cgroupID uint64) (*State, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, ErrClosed
	}
	slot, ok := p.slots[cgroupID]
	if !ok {
		return nil, fmt.Errorf("reading cgroup %d: %w", cgroupID, ErrNotTracked)
	}
	var st profilerCgroupState
	if err := p.objs.States.Lookup(slot, &st); err != nil {
		return nil, fmt.Errorf("reading cgroup %d: %w", cgroupID, err)
	}
	return stateOf(&st), nil
}

func stateOf(st *profilerCgroupState) *State {
	out := &State{
		Mode: Mode(st.Mode), Flags: Flags(st.Flags),
		DeviationCount: st.DeviationCount, DeniedCount: st.DeniedCount,
	}
	out.Seen.bits = st.Seen
	out.Allowed.bits = st.Allowed
	out.Deviations.bits = st.Deviated
	out.Denied.bits = st.Denied
	return out
}

// Seen returns the syscalls recorded so far for cgroupID.
func (p *Profiler) Seen(cgroupID uint64) (*SyscallSet, error) {
	st, err := p.State(cgroupID)
	if err != nil {
		return nil, err
	}
	return &st.Seen, nil
}

// Deviations returns the syscalls outside the allowed set seen so far for
// cgroupID (watch mode): complete even when events were dropped.
func (p *Profiler) Deviations(cgroupID uint64) (*SyscallSet, error) {
	st, err := p.State(cgroupID)
	if err != nil {
		return nil, err
	}
	return &st.Deviations, nil
}

// Drops is the number of events the kernel could not reserve in the ring
// buffer since Load (summed over CPUs).
func (p *Profiler) Drops() (uint64, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return 0, ErrClosed
	}
	var per []uint64
	if err := p.objs.Drops.Lookup(uint32(0), &per); err != nil {
		return 0, fmt.Errorf("reading drop counter: %w", err)
	}
	var n uint64
	for _, v := range per {
		n += v
	}
	return n, nil
}

// bootOffset is wall clock minus CLOCK_BOOTTIME, to convert
// bpf_ktime_get_boot_ns stamps.
func bootOffset() int64 {
	var bt unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_BOOTTIME, &bt)
	var rt unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_REALTIME, &rt)
	return rt.Nano() - bt.Nano()
}
