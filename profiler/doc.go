// Package profiler learns which system calls a workload makes, and watches
// it for calls outside its profile, with eBPF programs keyed by cgroup.
//
// # Kernel side
//
// bpf/profiler.bpf.c (compiled by bpf2go, output committed) attaches:
//
//   - raw_tp sys_enter, always. Hot path: bpf_get_current_cgroup_id(), one
//     hash lookup in the "cgroups" map, return if the cgroup is untracked.
//     For a tracked cgroup: classify the architecture, test the "seen" bit and
//     set it (atomic fetch-or) only when clear; in watch mode test the
//     "allowed" bit and on a miss set the "deviated" bit and emit one
//     ring-buffer event the first time that bit flips.
//   - tp_btf sched_process_exec, always: ends FlagWaitExec, and in watch mode
//     emits an exec event.
//   - tp_btf sys_exit and sched_process_exit, only with Options.Watch (every
//     syscall on the host would otherwise pay for a second program).
//
// The state of one cgroup is {mode, flags, allowed, seen, deviated, denied}
// with each set a bitmap of 1024 bits per architecture. Architectures are
// kept apart: x86_64 (native), ia32 (a task whose thread_info.status has
// TS_COMPAT, which is what the kernel's in_ia32_syscall() tests, so int 0x80
// from a 64-bit binary counts as ia32) and x32 (native entry with
// __X32_SYSCALL_BIT in the number). A profile lists an architecture only when
// a syscall of it was seen.
//
// Nothing reaches user space per syscall invocation. The ring buffer carries
// rare events only, submitted with BPF_RB_NO_WAKEUP (ReadEvent polls with a
// short deadline; a wakeup costs ~1.3 µs per event): the first time a seen
// bit flips (with FlagFirstSeen, which is how learning sessions get
// per-syscall first-seen times: one event per distinct syscall, cheap), the
// first deviation/denial per syscall (every one with FlagAllEvents), exec and
// death by SIGSYS. A failed reserve increments a per-CPU counter (Drops); the
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
// recorded, none that won't be. No list of runtime syscalls is involved.
//
// For a command (`sysward learn -- CMD`) there is no runtime: FlagWaitExec
// records nothing until the child's execve (execve/execveat themselves are
// recorded, as `sysward run` will need them), so the launcher's pre-exec
// calls in the fresh cgroup do not leak in.
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
// # Lifetimes, threading, errors
//
// Load returns a *Profiler that owns every kernel object (programs, maps,
// links); Close releases them all and is safe to call twice. Track, Untrack,
// Seen, Deviations, State and Drops are safe for concurrent use. ReadEvent
// must be called from one goroutine at a time. Learn owns its own Profiler
// unless LearnOptions.Profiler is set, and removes any cgroup directory it
// created, also when ctx is cancelled or an error occurs.
//
// Errors are wrapped naming the step; test them with errors.Is against
// ErrPermission (not root / no CAP_BPF+CAP_PERFMON), ErrNoBTF,
// cgroups.ErrNoCgroup2, ErrNotTracked, ErrUnknownTarget (pid, cgroup or
// container that does not exist: the CLI exits 2) and ErrAmbiguous.
//
// x86_64 only for now (pt_regs and TS_COMPAT are x86 facts).
package profiler
