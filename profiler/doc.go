// Package profiler learns which system calls a workload makes, and watches
// it for calls outside its profile, with eBPF programs keyed by cgroup.
//
// # Kernel side
//
// bpf/profiler.bpf.c (compiled by bpf2go, output committed) attaches:
//
//   - tp_btf sys_enter, always. Hot path: one per-CPU array lookup (inlined
//     by the verifier) of a memo describing the task that last made a
//     syscall on this CPU, checked with one compare (the task's pt_regs
//     address, which sys_enter gets as an argument) and one load (the
//     generation); return if the task is untracked. No helper call. Tracked:
//     one array lookup of the cgroup's state (inlined), check the slot still
//     belongs to that cgroup, classify the architecture, test the "seen" bit
//     and set it (atomic fetch-or) only when clear; in watch mode test the
//     "allowed" bit and on a miss set the "deviated" bit and emit one
//     ring-buffer event the first time that bit flips. When the memo is for
//     another task or an older generation, refresh it: the task's cgroup id
//     (current->cgroups->dfl_cgrp->kn->id, what bpf_get_current_cgroup_id()
//     returns) through the BTF task pointer, and its slot from a
//     direct-mapped index array (a hash only on collisions).
//   - tp_btf cgroup_attach_task and sched_process_fork, always: any migration
//     or new task bumps the generation (a new task may reuse a dead task's
//     kernel stack, so its pt_regs address alone does not identify it).
//     cgroup_attach_task also follows (Profiler.Follow): a migration on the
//     cgroup2 hierarchy requested by a task of a followed cgroup (runc
//     writing the container's init into its cgroup.procs) tracks the
//     destination from that moment, in a slot reserved in the followed
//     cgroup's pool, and follows it in turn. The index entry is only marked
//     collide (found through the tracked hash): user space owns the rest.
//   - tp_btf sched_process_exec, always: ends FlagWaitExec, and in watch mode
//     emits an exec event (struct exec_event): argv as the kernel copied it
//     to the new stack (mm->arg_start..arg_end, up to ArgvMax = 2 KiB,
//     cut ones flagged), bprm->filename, bprm->interp for a #! script, and
//     whether the parent is outside the cgroup (the entrypoint). The cwd is
//     not taken: bpf_d_path is not allowed in tp_btf programs, and walking
//     dentries and mounts by hand is not cheap; user space reads /proc.
//   - tp_btf sys_exit and sched_process_exit, only with Options.Watch (every
//     syscall on the host would otherwise pay for a second program).
//
// Why a memo and not a lookup per syscall: every syscall on the host runs
// sys_enter, tracked or not. Measured on the CI VM (AMD EPYC, kernel 6.18,
// SRSO/retbleed mitigations, which make every function return expensive): an
// empty program costs ~70 ns per syscall, any helper call ~18 ns more,
// bpf_get_current_cgroup_id() ~31 ns and a hash lookup another ~30 ns: the
// obvious design costs ~1.25x the empty program for every process on the
// node. With the memo the untracked path is ~1.01x and the tracked one
// ~1.02x (BenchmarkSyscallOverhead); the refresh after a context switch
// is within noise on a pipe ping-pong (BenchmarkContextSwitch). tp_btf is
// dispatched exactly like raw_tp (same cost, measured) but gives typed
// pt_regs, read with plain loads. A first version filled the memo from
// sched_switch: it cost ~70 ns per context switch for every task, and about
// one learn session in 100 under load lost syscalls when a switch to a new
// task never reached the program; the checked memo has neither problem.
//
// The memo is a per-CPU sequence lock (seq odd while a fill is in progress,
// a writer claims it with one compare-and-swap, a reader trusts a snapshot
// taken between two equal even reads of seq): a tracing program runs with
// migration disabled but may be preempted on a preemptible kernel, and then
// another task's program can rewrite the entry under it; a torn or
// interleaved entry is a cache miss, never a wrong answer. The fill reads
// the generation before the task's cgroup, so a migration after the read
// invalidates what it stores. TestExactUnderLoad checks exact counts and
// complete seen sets under load (syscalls and forks on every CPU).
//
// Track and Untrack bump the generation from user space (atomically, by
// running the bump_generation program: a read-modify-write could move it
// back to a value a stale entry was filled under), and every cgroup
// migration and new task bumps it in the kernel, so tracking takes effect at each task's
// next syscall and a task moved to another cgroup while running counts in
// the new one from its next syscall. Untrack also clears the slot, so a memo
// still naming it no longer matches its cgroup id.
//
// The state of one cgroup is {cgroup id, mode, flags, counters, allowed,
// seen, deviated, denied} with each set a bitmap of 1024 bits per
// architecture. Architectures are kept apart: x86_64 (native), ia32 and x32.
// A 64-bit SYSCALL entry is recognised for free (entry_SYSCALL_64 saves the
// return address and flags in both pt_regs->ip/cx and flags/r11); anything
// else reads TS_COMPAT from the task's thread_info, which is exactly what
// the kernel's in_ia32_syscall() tests, so int $0x80 from a 64-bit binary
// counts as ia32. x32 is a native entry with __X32_SYSCALL_BIT in the
// number. A profile lists an architecture only when a syscall of it was
// seen. SyscallSet numbers follow the profiles tables (x32 numbers carry the
// bit).
//
// Nothing reaches user space per syscall invocation. The ring buffer carries
// rare events only, submitted with BPF_RB_NO_WAKEUP (ReadEvent polls with a
// short deadline; a wakeup costs ~1.3 µs per event): the first time a seen
// bit flips (with FlagFirstSeen, which is how learning sessions get
// per-syscall first-seen times: one event per distinct syscall, cheap), the
// first deviation/denial per syscall (every one with FlagAllEvents), exec and
// death by SIGSYS. Every event carries what the task was at the time: pid,
// ppid and the parent's comm, effective uid/gid (task->cred). With
// FlagAllEvents, refused calls are events only RepeatBurst times per
// RepeatInterval per (cgroup, syscall); the rest are counted in the `repeats`
// hash (Repeats), which user space turns into one summary per interval: a
// workload spinning on a refused call costs a hash lookup per call, not an
// event (a full map falls back to events). A failed reserve increments a per-CPU counter (Drops); the
// bitmaps still hold every syscall, so sets are complete even when events are
// dropped.
//
// # Runtime boundary
//
// A container runtime sets up the container (mount, pivot_root,
// sethostname, …), installs the seccomp filter late, then makes a few calls
// before execve of the entrypoint (runc 1.1.5: execve, fstatfs, …). The
// profile must contain the latter and not the former. With FlagWaitSeccomp a
// syscall is recorded only if the calling task has a seccomp filter
// (task->seccomp.mode == SECCOMP_MODE_FILTER, one load through the BTF task
// pointer, only for tracked cgroups). Learn a container under an allow-all
// profile and the runtime's own seccomp() call marks the boundary exactly
// where enforcement will start: every syscall that will be filtered is
// recorded, none that won't be. The boundary comes from the trace, not a
// list; a runc container's profile then gets runc's measured runtime base
// merged in (runtimebase.go), because runc's Go runtime makes calls in that
// window that vary from start to start (futex, rt_sigreturn, …).
//
// For a command (`sysward learn -- CMD`) there is no runtime: FlagWaitExec
// records nothing until the child's execve (execve/execveat themselves are
// recorded, as `sysward run` will need them), so the launcher's pre-exec
// calls in the fresh cgroup do not leak in.
//
// # From the trace to the profile
//
// The learned set becomes a profile in one place (Learn: buildProfile,
// then mergeRuntimeBase, then generalize in coverage.go): every traced call
// has the source "traced"; the runtime base's calls "runtime-base"; unless
// LearnOptions.Generalize or Baseline say none, the traced calls' family
// siblings and the self-query baseline are added (profiles.WidenFamiliesWith,
// profiles.AddBaselineWith). Static hints run first: when they read every
// binary and each goes through glibc or Go, families widen within a
// generation (legacy or modern), and a traced call an import explains only
// to what a library static hints do not read can reach (explainedRule).
// Result.Coverage counts the sources and says how long before the end the
// last new syscall came.
//
// # Denied calls (watch)
//
// seccomp runs before the sys_enter tracepoint, so a refused call never
// reaches sys_enter; it does reach sys_exit. At sys_enter an outside-profile
// call stores its number in the "entered" map under the thread id; at sys_exit
// an outside-profile call without that marker, from a task with a filter, was
// refused: a "denied" event with its return value (-errno; for SECCOMP_RET_KILL
// the kernel rolls registers back, so ret is not an errno and an
// EventExitSigsys follows). Calls skipped by ptrace or user notification
// (SECCOMP_RET_USER_NOTIF without CONTINUE) look the same; documented, not
// distinguished. The allowed path at sys_exit costs the same lookup and one
// bit test as sys_enter; the "entered" map is touched only by outside-profile
// calls.
//
// # API
//
//	Load(*Options) (*Profiler, error)            // nil Options: defaults
//	(*Profiler).Close() error
//	(*Profiler).Track(cgroupID uint64, TrackOptions{Mode, Flags, Allowed *SyscallSet}) error
//	(*Profiler).Untrack(cgroupID uint64) error
//	(*Profiler).State(cgroupID) (*State, error)  // Seen, Allowed, Deviations, Denied, counts
//	(*Profiler).Seen(cgroupID) / Deviations(cgroupID) (*SyscallSet, error)
//	(*Profiler).ReadEvent(ctx) (Event, error)    // or Events(ctx) (<-chan Event, wait func() error); decoded field by field, no reflection
//	(*Profiler).Drops() (uint64, error)
//	AllowedSet(*profiles.Profile) (*SyscallSet, error)
//	Learn(ctx, Target{Command|Cgroup|PID|Container}, *LearnOptions) (*Result, error)
//	ResolveContainer(id, roots) (*Container, error); ResolvePID; ResolveCgroup
//	// Options.HoldNewCgroups (node agent): every new cgroup2 cgroup held pending
//	(*Profiler).ReadNewCgroup(ctx) (NewCgroup{ID, Path}, error)
//	(*Profiler).Adopt(cgroupID, TrackOptions) (*State, error) // Track; returns what it recorded pending
//	(*Profiler).Release(cgroupID) error; Pending(); PendingStats() // Overflows, LostNotices
//
// Pending cgroups (Options.HoldNewCgroups): tp_btf/cgroup_mkdir puts every
// cgroup created on the cgroup2 hierarchy in a bounded `pending` hash
// (MaxPending, default 256; a full map is counted, the cgroup is not held)
// in ModePending with the seccomp boundary: its seen set (under a filter),
// the calls its filter refuses (EventDenied: every call of its tasks under a
// filter is marked at sys_enter while pending, so sys_exit tells the
// refused ones), execs and SIGSYS deaths are recorded from its first task
// on, before user space knows which container it is. The notice names the
// process that made the cgroup (NewCgroup.PID): RuntimeBundle finds the
// container's bundle from it. The untracked fast path is unchanged;
// a memo refresh whose index misses reads the bucket's pending count (a
// global) and looks the hash up only when it is non-zero.
//
// A cgroup id is the inode of its cgroup2 directory (cgroups.ID). Modes:
// ModeLearn, ModeWatch. Flags: FlagWaitExec (record from the first exec;
// commands), FlagWaitSeccomp (record only tasks with a filter; containers),
// FlagFirstSeen (first-seen events), FlagAllEvents (every deviating or
// denied call, not only the first per syscall). Event kinds: EventDeviation,
// EventDenied (Errno), EventExec (Filename, Argv, Interp, ParentOutside),
// EventExitSigsys (ExitCode),
// EventFirstSeen; Arch/Nr/Syscall are resolved with the profiles tables.
//
// # Static hints (static.go)
//
// With LearnOptions.Static (hints or libs; the API's zero value is off, the
// CLI's default hints) Learn reads the workload's executables with package
// elfhints and allows the syscalls their imports reach that the session did
// not make, sourced "static:<binary>:<function>"; dangerous ones go to the
// profile's Reachable, and a reachable clone3 answers ENOSYS. Executables:
// the command (LookPath) and a container's entrypoint (bundle config.json,
// inside root.path) before they start, then each process's /proc/PID/exe,
// found by polling the cgroup tree every tick (50 ms; every pid's
// executable again every 20th tick, for in-place exec), on every first-seen
// event and on every exec event, read once per (device, inode), with
// libraries looked up in /proc/PID/root for a process in another mount
// namespace. The kernel sends exec events in watch mode only, so a session
// with static hints tracks its cgroup in ModeWatch with every syscall
// allowed: the seen bitmap and first-seen events are exactly learn mode's,
// nothing deviates, and each exec arrives with its path. When the process
// is gone by then, the path is read in the root it names (the host's for a
// command, the bundle's root.path for a container, a live sibling
// process's root for a cgroup or pid target; else a note says so). sysward's own executable (the command's
// pre-exec fork) and runtimes' /memfd: copies are never read. At most 64
// distinct executables and 32 notes per session. A shared
// LearnOptions.Profiler (whose ring buffer Learn does not read) gets
// polling only.
//
// # Lifetimes, threading, errors
//
// Load returns a *Profiler that owns every kernel object (programs, maps,
// links); Close releases them all and is safe to call twice. Track, Untrack,
// Seen, Deviations, State and Drops are safe for concurrent use. ReadEvent
// (or the one goroutine Events starts) must be the only reader; it returns
// ErrClosed after Close. Learn owns its own Profiler unless
// LearnOptions.Profiler is set (then it leaves the ring buffer alone and
// takes first-seen times from polling), and removes any cgroup directory it
// created, killing what is left in it, also when ctx is cancelled or an
// error occurs.
//
// Errors are wrapped naming the step; test them with errors.Is against
// ErrPermission (not root / no CAP_BPF+CAP_PERFMON), ErrNoBTF,
// cgroups.ErrNoCgroup2, ErrNotTracked, ErrUnknownTarget (pid, cgroup or
// container that does not exist: the CLI exits 2), ErrAmbiguous and
// ErrClosed.
//
// x86_64 only for now (pt_regs and TS_COMPAT are x86 facts); bpf2go builds
// for amd64 only.
package profiler
