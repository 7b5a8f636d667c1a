package profiler

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/sysward/sysward/internal/version"
	"github.com/sysward/sysward/profiles"
)

// A container runtime written in Go (runc) installs the container's seccomp
// filter on all its threads (TSYNC) and then keeps running Go code until it
// execs the entrypoint: the exec fifo handshake, and whatever its Go runtime
// does meanwhile (futex wake-ups, sysmon's preemption signals and the
// handlers' rt_sigreturn, a new thread when a blocking call hands its P
// off, heap growth). Learning under FlagWaitSeccomp records exactly what
// this one start did; the Go runtime's part differs from start to start, so
// a profile that happened not to see a call kills a later start. A runtime
// base is the set of calls the runtime itself may make in that window,
// merged into every profile learned from one of its containers.

// RuntimeBase names, for LearnOptions.RuntimeBase and `learn --runtime-base`.
const (
	RuntimeBaseAuto = "auto" // by the container's runtime ("" means auto too)
	RuntimeBaseNone = "none"
	RuntimeBaseRunc = "runc"
)

// ErrUnknownRuntimeBase is returned for a RuntimeBase name that is not one
// of RuntimeBaseNames.
var ErrUnknownRuntimeBase = errors.New("unknown runtime base")

// RuntimeBaseNames lists the accepted LearnOptions.RuntimeBase values.
func RuntimeBaseNames() []string {
	return []string{RuntimeBaseAuto, RuntimeBaseNone, RuntimeBaseRunc}
}

// RuntimeBase is the set of syscalls a container runtime may make after it
// installed the container's filter and before the entrypoint's execve.
type RuntimeBase struct {
	// Name is the RuntimeBase name ("runc").
	Name string
	// Runtime says which runtime and version it was measured on.
	Runtime string
	// Measured says how.
	Measured string
	// Syscalls are the calls, x86_64 names, sorted.
	Syscalls []BaseSyscall
}

// BaseSyscall is one call of a RuntimeBase and why it is there.
type BaseSyscall struct {
	Name string
	// Observed is how many of the measured starts made it (0: not seen in
	// the measurement, added because the runtime can make it: see Why).
	Observed int
	// Why names what in the runtime makes the call.
	Why string
}

// Names returns the base's syscall names, sorted.
func (b *RuntimeBase) Names() []string {
	out := make([]string, 0, len(b.Syscalls))
	for _, s := range b.Syscalls {
		out = append(out, s.Name)
	}
	return out
}

// runcStarts is how many starts the runc measurement made.
const runcStarts = 220

// runcBase is runc 1.1's window, measured with TestRuntimeBaseCoversRuncWindow
// (SYSWARD_MEASURE_RUNC=N) on runc 1.1.5+ds1-1+deb12u1 (Debian 12, built
// with go1.19.8), kernel 6.18, 2 CPUs. Each start ran in a fresh cgroup
// tracked in learn mode with FlagWaitSeccomp before runc's init joined it,
// with an entrypoint whose only call is exit_group (so everything recorded
// but execve and exit_group is runc's). 220 starts in two runs: 100 with
// `runc run`; 120 half `runc run`, half `runc create`, 300 ms, `runc start`
// (init waiting in the exec fifo meanwhile); in each run half with
// process.noNewPrivileges (filter installed just before the fifo), half
// without (installed before dropping privileges: capset, setuid, … run under
// it); half of all starts with 4 busy loops on the 2 CPUs. Observed counts
// are out of runcStarts. Entries with Observed 0 were not seen but the Go
// runtime makes them in that window under conditions the runs did not hit.
var runcBase = RuntimeBase{
	Name:    RuntimeBaseRunc,
	Runtime: "runc 1.1 (Go runtime; measured on runc 1.1.5, go1.19.8)",
	Measured: fmt.Sprintf("%d starts of runc 1.1.5 (run, and create+start 300 ms apart; with and without noNewPrivileges; half under CPU load), "+
		"calls after runc's seccomp() and before the entrypoint's execve, plus Go-runtime calls possible there", runcStarts),
	Syscalls: []BaseSyscall{
		{Name: "capget", Observed: 110, Why: "without noNewPrivileges runc installs the filter before finalizeNamespace, so this setup runs under it: capabilities"},
		{Name: "capset", Observed: 110, Why: "without noNewPrivileges runc installs the filter before finalizeNamespace, so this setup runs under it: capabilities"},
		{Name: "chdir", Observed: 110, Why: "without noNewPrivileges runc installs the filter before finalizeNamespace, so this setup runs under it: chdir to process.cwd"},
		{Name: "close", Observed: 220, Why: "runc init: closes the exec fifo and the fds it must not leak (CloseExecFrom)"},
		{Name: "epoll_ctl", Observed: 220, Why: "Go runtime netpoller: opening/closing an *os.File (runtime.netpollopen/netpollclose)"},
		{Name: "faccessat2", Observed: 110, Why: "without noNewPrivileges runc installs the filter before finalizeNamespace, so this setup runs under it: exec.LookPath of the entrypoint"},
		{Name: "fcntl", Observed: 110, Why: "without noNewPrivileges runc installs the filter before finalizeNamespace, so this setup runs under it: file descriptor flags"},
		{Name: "fstat", Observed: 110, Why: "without noNewPrivileges runc installs the filter before finalizeNamespace, so this setup runs under it: os.File stat"},
		{Name: "fstatfs", Observed: 220, Why: "runc init: checks /proc is procfs before reading /proc/self/fd (CloseExecFrom)"},
		{Name: "futex", Observed: 116, Why: "Go runtime: runtime.futexsleep/futexwakeup (notesleep/notewakeup, lock_futex) when goroutines park and wake; more often under CPU load"},
		{Name: "getcwd", Observed: 110, Why: "without noNewPrivileges runc installs the filter before finalizeNamespace, so this setup runs under it: the working directory check"},
		{Name: "getdents64", Observed: 220, Why: "runc init: lists /proc/self/fd to mark fds close-on-exec (CloseExecFrom)"},
		{Name: "getpid", Observed: 220, Why: "runc init: unix.Getpid for the start hooks' state; also runtime.signalM (getpid for tgkill)"},
		{Name: "getppid", Observed: 110, Why: "without noNewPrivileges runc installs the filter before finalizeNamespace, so this setup runs under it: Getppid check that runc is still its parent"},
		{Name: "newfstatat", Observed: 110, Why: "without noNewPrivileges runc installs the filter before finalizeNamespace, so this setup runs under it: exec.LookPath of the entrypoint"},
		{Name: "openat", Observed: 220, Why: "runc init: opens the exec fifo (/proc/self/fd/N) and /proc/self/fd"},
		{Name: "prctl", Observed: 110, Why: "without noNewPrivileges runc installs the filter before finalizeNamespace, so this setup runs under it: PR_SET_KEEPCAPS, the parent-death signal"},
		{Name: "read", Observed: 110, Why: "without noNewPrivileges runc installs the filter before finalizeNamespace, so this setup runs under it: the sync pipe with runc's parent"},
		{Name: "rt_sigreturn", Observed: 6, Why: "Go runtime: return from any signal handler (runtime.sigreturn__sigaction), e.g. sysmon's async preemption (SIGURG) of a goroutine running >10 ms; without it about 1 start in 3-15 died (SIGSEGV/SIGSYS)"},
		{Name: "setgid", Observed: 110, Why: "without noNewPrivileges runc installs the filter before finalizeNamespace, so this setup runs under it: setupUser"},
		{Name: "setgroups", Observed: 110, Why: "without noNewPrivileges runc installs the filter before finalizeNamespace, so this setup runs under it: setupUser"},
		{Name: "setuid", Observed: 110, Why: "without noNewPrivileges runc installs the filter before finalizeNamespace, so this setup runs under it: setupUser"},
		{Name: "write", Observed: 220, Why: "runc init: the exec fifo handshake (blocks until runc start)"},
		{Name: "execve", Observed: runcStarts, Why: "the entrypoint's execve itself, the end of the window (made and recorded by every start)"},
		// Not seen in the measurement; the Go runtime makes them in the window under conditions it did not hit.
		{Name: "tgkill", Why: "Go runtime: runtime.signalM sends SIGURG to a thread (preemptM, from sysmon's retake or a GC stop-the-world); the sender's half of the observed rt_sigreturn"},
		{Name: "nanosleep", Why: "Go runtime: runtime.usleep (sysmon's 20 us..10 ms sleep between checks; runqgrab before stealing a running goroutine)"},
		{Name: "sched_yield", Why: "Go runtime: runtime.osyield (lock_futex spinning, stopTheWorld/forEachP waiting for Ps)"},
		{Name: "mmap", Why: "Go runtime: runtime.sysReserve/sysMap/sysAlloc (heap growth, a new goroutine stack, span metadata)"},
		{Name: "munmap", Why: "Go runtime: runtime.sysFree (returning a mis-aligned or unused reservation)"},
		{Name: "madvise", Why: "Go runtime: runtime.sysUnused/sysUsed/sysHugePage (background scavenger returning pages, heap regrowth)"},
		{Name: "clone", Why: "Go runtime: runtime.newosproc (startm/newm: a new thread when a goroutine is runnable and every M is busy or blocked in a syscall, e.g. handoffp from sysmon's retake)"},
		{Name: "rt_sigprocmask", Why: "Go runtime: runtime.newosproc blocks signals around clone; runtime.minit sets a new M's mask (sigprocmask)"},
		{Name: "sigaltstack", Why: "Go runtime: runtime.minitSignalStack on a new M"},
		{Name: "gettid", Why: "Go runtime: runtime.minit on a new M (m.procid)"},
		{Name: "epoll_pwait", Why: "Go runtime: runtime.netpoll from findrunnable/sysmon (the netpoller is live: epoll_ctl is observed)"},
		{Name: "fchown", Why: "without noNewPrivileges runc installs the filter before finalizeNamespace, so this setup runs under it: setupUser's fixStdioPermissions chowns the stdio (the kubelet's pipes, owned by root) to a non-root process.user (the measurement's entrypoint ran as root, whose stdio needs no chown; refused to runc:[2:INIT] for redis-server as uid 102 in TestClusterLearningRealServer)"},
		{Name: "clock_gettime", Why: "Go runtime: runtime.nanotime1/walltime go through the vDSO, which makes the syscall when the clocksource has no vDSO mode (hpet, acpi_pm, some VMs)"},
	},
}

func init() {
	sort.Slice(runcBase.Syscalls, func(i, j int) bool { return runcBase.Syscalls[i].Name < runcBase.Syscalls[j].Name })
}

// LookupRuntimeBase returns the base called name (RuntimeBaseRunc), nil for
// RuntimeBaseNone, and ErrUnknownRuntimeBase otherwise. Auto is resolved by
// Learn, per target.
func LookupRuntimeBase(name string) (*RuntimeBase, error) {
	switch name {
	case RuntimeBaseRunc:
		b := runcBase
		return &b, nil
	case RuntimeBaseNone:
		return nil, nil
	}
	return nil, fmt.Errorf("%w %q: want one of %s", ErrUnknownRuntimeBase, name, strings.Join(RuntimeBaseNames(), ", "))
}

// runtimeBaseFor picks the base for a learning session. With auto: runc's
// for a runc container learned from its filter on, none otherwise (a command
// is launched by sysward, whose launcher the enforcer's launch set covers).
// An explicit name applies to any target, a command included: that is how
// a program learned on the host is prepared for a runc container (the
// DaemonSet's agent profile, deploy/agent_test.go).
func runtimeBaseFor(name, kind string, c *Container, waitSeccomp bool) (*RuntimeBase, error) {
	switch name {
	case "", RuntimeBaseAuto:
		if kind == "container" && c != nil && c.Runtime == "runc" && waitSeccomp {
			return LookupRuntimeBase(RuntimeBaseRunc)
		}
		return nil, nil
	}
	return LookupRuntimeBase(name)
}

// mergeRuntimeBase adds base's calls to p (learned on arches). A call the
// trace did not see gets a stats entry with no firstSeen and sessions 0 (not
// from a session); every call of the base gets the source "runtime-base"
// (the only one for those it added); and p's provenance gets an entry with Target
// "runtime-base" naming the base. It returns the names added.
func mergeRuntimeBase(p *profiles.Profile, base *RuntimeBase) []string {
	if base == nil {
		return nil
	}
	if p.Sysward == nil {
		p.Sysward = &profiles.Metadata{}
	}
	if p.Sysward.Stats == nil {
		p.Sysward.Stats = map[string]profiles.SyscallStats{}
	}
	have := map[string]bool{}
	for _, n := range p.Names() {
		have[n] = true
	}
	var added []string
	for _, s := range base.Syscalls {
		if have[s.Name] {
			// Allowed for another reason too: record the base's.
			if st, ok := p.Sysward.Stats[s.Name]; ok {
				st.Sources = append(st.Sources, profiles.SourceRuntimeBase)
				p.Sysward.Stats[s.Name] = st
			}
			continue
		}
		added = append(added, s.Name)
		p.Sysward.Stats[s.Name] = profiles.SyscallStats{Arches: []profiles.Arch{profiles.ArchX86_64}, Sources: []string{profiles.SourceRuntimeBase}}
	}
	p.Allow(added...)
	p.AddArch(profiles.ArchX86_64)
	p.Sysward.Provenance = append(p.Sysward.Provenance, profiles.Provenance{
		Tool:     version.Tool(),
		Target:   "runtime-base",
		Workload: fmt.Sprintf("%s: %s (%d calls, %d not seen by this session)", base.Name, base.Runtime, len(base.Syscalls), len(added)),
	})
	return added
}

// MergeRuntimeBase adds base's calls to p, each with the source
// "runtime-base" (see mergeRuntimeBase), and returns the names added: for
// profiles built outside a learning session (the cluster store's, whose
// containers the kubelet starts with runc) that must let the runtime's
// window between its seccomp() and the entrypoint's execve pass.
func MergeRuntimeBase(p *profiles.Profile, base *RuntimeBase) []string {
	return mergeRuntimeBase(p, base)
}
