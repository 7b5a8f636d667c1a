// SPDX-License-Identifier: GPL-2.0
/*
 * sysward's kernel side: learn and watch the syscalls of tracked cgroups.
 *
 * Every syscall on the host runs sys_enter, so its untracked path must cost
 * (almost) nothing on top of an empty program. On this class of machine
 * (AMD EPYC, SRSO/retbleed mitigations) every helper call costs ~18 ns
 * because of the return thunk, bpf_get_current_cgroup_id() ~31 ns and a hash
 * lookup ~30 ns more, against ~70 ns for an empty program: a
 * helper-per-syscall design cannot meet "untracked <= 1.05x". So the answer
 * to "is the current task tracked, and where is its state" is memoised per
 * CPU, in `cpu_current`, and checked without helpers:
 *
 *   sys_enter (tp_btf: same dispatch cost as raw_tp, typed pt_regs): one
 *   per-CPU array lookup (inlined by the verifier). The entry names the task
 *   it describes by the address of its pt_regs (the top of its kernel stack:
 *   fixed for the task's lifetime, and sys_enter's first argument, so the
 *   check is one compare) and the `generation` it was filled under. If both
 *   match, return at once when untracked. Tracked: one array lookup of
 *   `states[slot]` (inlined), check its cgroup id still matches, test the
 *   seen bit and set it only when clear (atomic fetch-or; reading first
 *   keeps a hot bit from dirtying a shared cache line). No helper call on
 *   either path for native syscalls.
 *
 *   Otherwise (another task ran a syscall on this CPU since, or the
 *   generation moved) refresh the entry: read current->cgroups->dfl_cgrp->
 *   kn->id (what bpf_get_current_cgroup_id() returns) through the BTF task
 *   pointer, find its slot in the direct-mapped `cg_index` array (cgroup id
 *   & (INDEX_SIZE-1), inlined; the `tracked` hash only when two tracked
 *   cgroups share an entry). One helper call, once per task per CPU stint.
 *
 * User space bumps `generation` on Track/Untrack, cgroup_attach_task bumps
 * it on every migration and sched_process_fork on every new task (which may
 * reuse a dead task's kernel stack, hence its pt_regs address), so tracking
 * changes and migrations take effect at the next syscall and a memo never
 * outlives the identity of its task. (A first version filled the cache from
 * sched_switch instead; it cost ~70 ns per context switch, and about one
 * learn session in 100 under load lost syscalls when a switch to a new task
 * never reached the program.)
 *
 * Nothing goes to user space per syscall invocation: the ring buffer carries
 * only rare events (a bit flipping for the first time, exec, SIGSYS deaths).
 *
 * See profiler/doc.go for the runtime boundary and denied-call reasoning.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

#define NR_BITS 1024
#define NR_WORDS (NR_BITS / 64)
#define N_ARCH 3
#define MAX_FILENAME 256
/* Exec events carry argv up to this many bytes (NUL-separated, as in
 * /proc/PID/cmdline); longer ones are cut and marked EVF_ARGV_TRUNCATED.
 * Falco's drivers cap argv at a few KB too; 2 KiB keeps an exec event
 * (~2.6 KB) inside a one-page ring buffer. */
#define ARGV_MAX 2048
/* Denied calls: at most REPEAT_BURST events per (cgroup, syscall) per
 * REPEAT_INTERVAL_NS go to the ring buffer; the rest are counted in
 * `repeats`, which user space reads into one summary event per interval. */
#define REPEAT_INTERVAL_NS 1000000000ULL
#define REPEAT_BURST 8

/* x86: arch/x86/include/asm/thread_info.h; in_ia32_syscall() tests this. */
#define TS_COMPAT 0x0002
/* x86: arch/x86/include/uapi/asm/unistd.h */
#define X32_SYSCALL_BIT 0x40000000
#define SECCOMP_MODE_FILTER 2
#define SIGSYS 31

enum arch_index {
	ARCH_NATIVE = 0, /* x86_64 */
	ARCH_IA32 = 1,   /* int 0x80 / sysenter from any task: TS_COMPAT */
	ARCH_X32 = 2,    /* 64-bit entry with __X32_SYSCALL_BIT in the number */
};

enum mode {
	MODE_LEARN = 1,
	MODE_WATCH = 2,
	/* A new cgroup held by cgroup_mkdir until user space classifies it
	 * (hold_new): records seen (under a filter), calls its filter refused,
	 * exec and SIGSYS events. */
	MODE_PENDING = 3,
};

enum state_flag {
	/* Record nothing until a task of the cgroup execs; execve/execveat
	 * themselves are recorded. Cleared by sched_process_exec. */
	FLAG_WAIT_EXEC = 1 << 0,
	/* Record only syscalls of tasks that have a seccomp filter installed
	 * (the runtime boundary: runc's setup before seccomp() is skipped). */
	FLAG_WAIT_SECCOMP = 1 << 1,
	/* Emit EVENT_FIRST_SEEN when a seen bit flips 0 -> 1. */
	FLAG_FIRST_SEEN = 1 << 2,
	/* Watch: emit every deviating/denied call, not only the first per
	 * syscall. */
	FLAG_ALL_EVENTS = 1 << 3,
};

enum event_kind {
	EVENT_DEVIATION = 1,
	EVENT_DENIED = 2,
	EVENT_EXEC = 3,
	EVENT_EXIT_SIGSYS = 4,
	EVENT_FIRST_SEEN = 5,
};

enum event_flag {
	/* exec: the task's parent is not in the workload's cgroup (the
	 * runtime or sysward started it: the workload's entrypoint). */
	EVF_PARENT_OUTSIDE = 1 << 0,
	/* exec: argv was longer than ARGV_MAX and was cut. */
	EVF_ARGV_TRUNCATED = 1 << 1,
};

struct cgroup_state {
	/* The cgroup this slot belongs to (0: free). */
	__u64 cgroup_id;
	__u32 mode;
	__u32 flags;
	/* Watch: calls outside the allowed set that reached sys_enter. */
	__u64 deviation_count;
	/* Watch: calls outside the allowed set refused before sys_enter. */
	__u64 denied_count;
	__u64 allowed[N_ARCH][NR_WORDS];
	__u64 seen[N_ARCH][NR_WORDS];
	__u64 deviated[N_ARCH][NR_WORDS];
	__u64 denied[N_ARCH][NR_WORDS];
};

/* What the last syscall on this CPU found about its task.
 *
 * A tracing program runs with migration disabled but, on a preemptible kernel
 * (PREEMPT_DYNAMIC in full mode, PREEMPT_RT), not necessarily with preemption
 * disabled: a task can be preempted in the middle of sys_enter and another
 * task's sys_enter can run on the same CPU, read the entry, and rewrite it.
 * So the entry is a sequence lock: `seq` is odd while a fill is in progress;
 * a writer claims it with one compare-and-swap (even -> odd; if that fails,
 * or a fill is already in progress, it just does not publish its result), a
 * reader snapshots the fields between two reads of `seq` and trusts them only
 * if both reads are equal and even. A torn or interleaved entry is a cache
 * miss, never a wrong answer. */
struct cpu_current {
	__u64 seq;
	/* The task the entry describes, by the address of its pt_regs (the
	 * top of its kernel stack: fixed for its lifetime, and what sys_enter
	 * and sys_exit receive), so a syscall can check the entry is its own
	 * without a helper call. */
	__u64 regs;
	/* `generation` read before the task's cgroup was read. */
	__u64 gen;
	__u64 cgroup_id;
	__u32 slot;
	__u32 tracked;
};

/* Bumped (atomically) by user space on Track/Untrack (bump_generation), by
 * cgroup_attach_task on every migration and by sched_process_fork on every
 * new task: an entry filled under an older generation is refreshed before
 * use, so tracking changes and migrations take effect at the next syscall.
 * It only ever increases: a value seen again means nothing changed. */
volatile __u64 generation;

/* Set at load time when sys_exit is attached (Options.Watch): only then is
 * the `entered` marker read, so only then is it written. */
const volatile __u32 exits_attached = 0;

#define barrier() asm volatile("" ::: "memory")
#define READ_ONCE_U64(x) (*(volatile __u64 *)&(x))
#ifndef barrier_var
#define barrier_var(var) asm volatile("" : "+r"(var))
#endif

struct event {
	__u64 ts_boot_ns;
	__u64 cgroup_id;
	__u64 args[6];
	/* denied: the syscall's return value (-errno); exit: exit_code. */
	__s64 ret;
	__u32 kind;
	__u32 pid;
	__u32 tid;
	__u32 ppid;
	/* Effective uid and gid of the task at the time of the event. */
	__u32 uid;
	__u32 gid;
	__s32 nr;
	__u32 arch;
	/* EVF_* */
	__u32 flags;
	__u32 pad;
	char comm[16];
	/* The parent's comm at the time of the event. */
	char pcomm[16];
	char filename[MAX_FILENAME];
};

/* EVENT_EXEC: struct event, then what the kernel knows at exec that /proc
 * may no longer have when user space reads the event. */
struct exec_event {
	struct event ev;
	/* Bytes of argv used (NUL-separated). */
	__u32 argv_len;
	__u32 pad;
	/* For a #! script, the interpreter as the kernel resolved it (bprm->
	 * interp differs from bprm->filename); empty for a binary. */
	char interp[MAX_FILENAME];
	char argv[ARGV_MAX];
};

/* Denied-call repeats of one (cgroup, syscall), see REPEAT_BURST. The
 * counters only grow (user space keeps what it read before); `last_*`
 * describe the latest suppressed call. */
struct repeat_key {
	__u64 cgroup_id;
	__u32 arch;
	__u32 nr;
};

struct repeat_val {
	__u64 window_start;
	__u64 sent;
	__u64 suppressed;
	__u64 last_ns;
	__s64 last_ret;
	__u32 last_pid;
	__u32 last_tid;
	__u32 last_uid;
	__u32 last_gid;
};

#define INDEX_SIZE 4096 /* power of two */

/* Direct-mapped cgroup id -> slot, by cgroup id & (INDEX_SIZE-1). collide
 * is set (and stays set) once a second tracked cgroup maps to the same
 * entry: those go to the `tracked` hash. */
struct index_entry {
	__u64 cgroup_id;
	__u32 slot;
	__u32 collide;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, INDEX_SIZE);
	__type(key, __u32);
	__type(value, struct index_entry);
} cg_index SEC(".maps");

/* cgroup id -> slot in `states`, for every tracked cgroup; consulted at
 * context switches only when the index entry collides. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u64);
	__type(value, __u32);
} tracked SEC(".maps");

/* Per-cgroup state, by slot (user space allocates slots). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, struct cgroup_state);
} states SEC(".maps");

/* Follow (`learn -- runc run ...`): a container runtime moves the container
 * into a cgroup of its own. A migration requested by a task of a followed
 * cgroup tracks its destination from that moment, in a slot user space
 * reserved in a pool, and follows it in turn (podman -> conmon's cgroup ->
 * runc -> the container's). */
#define FOLLOW_SLOTS 8
struct follow_pool {
	/* Slots taken so far (may run past FOLLOW_SLOTS: those are lost). */
	__u32 next;
	__u32 slots[FOLLOW_SLOTS];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, struct follow_pool);
} follow_pools SEC(".maps");

/* Followed cgroup id -> its pool. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u64);
	__type(value, __u32);
} follow SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct cpu_current);
} cpu_current SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} drops SEC(".maps");

/* Watch: tid -> raw syscall id of an outside-profile call that reached
 * sys_enter, so sys_exit can tell it from one that seccomp refused. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 8192);
	__type(key, __u32);
	__type(value, __s64);
} entered SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__type(key, struct repeat_key);
	__type(value, struct repeat_val);
} repeats SEC(".maps");

/* Holding new cgroups (node agent, Options.HoldNewCgroups).
 *
 * A container's cgroup is created by its runtime before any task of the
 * container runs in it, but user space only learns which container it is
 * (and which profile holds it) from the runtime's state, later. So with
 * hold_new set, cgroup_mkdir on the cgroup2 hierarchy puts every new cgroup
 * in `pending` (mode MODE_PENDING, FLAG_WAIT_SECCOMP) and tells user space
 * on `new_cgroups`: from its first instruction the cgroup's seen set is
 * recorded, and the calls its filter refuses (sys_exit, with every call
 * under a filter marked in `entered`), its execs and SIGSYS deaths are
 * events. User space then
 * tracks it (Profiler.Adopt: inherits what was recorded, releases the
 * pending entry) or releases it (not a container). Pending entries are
 * bounded by the map's size; a cgroup that finds it full is counted in
 * pending_stats[0] and not held (it is found by discovery as before).
 *
 * The untracked hot path is unchanged: current_state's memo answers as
 * before; only a memo refresh whose index entry misses looks at
 * pending_buckets[h] (a global, no helper) and, when a pending cgroup shares
 * that bucket, does one hash lookup. */
const volatile __u32 hold_new = 0;

/* Number of pending cgroups per index bucket (cgroup id & (INDEX_SIZE-1)). */
__u32 pending_buckets[INDEX_SIZE];

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, __u64);
	__type(value, struct cgroup_state);
} pending SEC(".maps");

/* An all-zero state to insert pending entries from (too big for the stack). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct cgroup_state);
} pending_zero SEC(".maps");

/* [0]: new cgroups not held because `pending` was full; [1]: new-cgroup
 * notices lost because new_cgroups was full. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} pending_stats SEC(".maps");

#define CGROUP_PATH_MAX 256

/* A cgroup held pending: its id, the process that made it (a runtime: its
 * command line and working directory name the container's bundle) and its
 * path (relative to the cgroup2 root). */
struct new_cgroup {
	__u64 cgroup_id;
	__u32 pid;
	__u32 pad;
	char path[CGROUP_PATH_MAX];
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 * 1024);
} new_cgroups SEC(".maps");

/* Force BTF for the event structs so bpf2go -type can generate them. */
const struct event *unused_event __attribute__((unused));
const struct exec_event *unused_exec_event __attribute__((unused));
const struct repeat_key *unused_repeat_key __attribute__((unused));
const struct repeat_val *unused_repeat_val __attribute__((unused));
const struct new_cgroup *unused_new_cgroup __attribute__((unused));

/* native_entry reports whether regs come from the 64-bit SYSCALL entry:
 * entry_SYSCALL_64 saves the return RIP (in RCX) as both ip and cx, and
 * RFLAGS (in R11) as both flags and r11. int $0x80, SYSENTER and 32-bit
 * SYSCALL save the user's ecx instead. Two loads, no helper; when it says no
 * (or a tracer rewrote rcx), TS_COMPAT decides. */
static __always_inline bool native_entry(struct pt_regs *regs)
{
	return regs->cx == regs->ip && regs->r11 == regs->flags;
}

/* classify maps a raw syscall id to (arch index, bitmap index). task may be
 * NULL: then it is looked up only if the fast check cannot decide. */
static __always_inline int classify(struct pt_regs *regs, struct task_struct *task, long id,
				    __u32 *arch, __u32 *nr)
{
	__u32 a = ARCH_NATIVE;

	if (id < 0)
		return -1;
	if (!native_entry(regs)) {
		if (!task)
			task = bpf_get_current_task_btf();
		if (task->thread_info.status & TS_COMPAT)
			a = ARCH_IA32;
	}
	if (a == ARCH_NATIVE && (id & X32_SYSCALL_BIT)) {
		a = ARCH_X32;
		id &= ~(long)X32_SYSCALL_BIT;
	}
	if (id >= NR_BITS)
		return -1;
	*arch = a;
	*nr = (__u32)id;
	return 0;
}

/* lookup_slot finds the slot of cgroup cg; 0 if it is not tracked. */
static __always_inline int lookup_slot(__u64 cg, __u32 *slot)
{
	__u32 h = cg & (INDEX_SIZE - 1);
	struct index_entry *e = bpf_map_lookup_elem(&cg_index, &h);

	if (!e)
		return 0;
	if (e->cgroup_id == cg) {
		*slot = e->slot;
		return 1;
	}
	if (!e->collide)
		return 0;
	__u32 *sp = bpf_map_lookup_elem(&tracked, &cg);
	if (!sp)
		return 0;
	*slot = *sp;
	return 1;
}

/* current_state returns the state of the current task's cgroup, or NULL if
 * it is not tracked. regs is the current task's pt_regs. Fast path: a
 * consistent snapshot of this CPU's entry describes this task under the
 * current generation. Otherwise work it out from the task (the slow path,
 * one helper call) and publish it unless another fill is in progress. */
static __always_inline struct cgroup_state *current_state(__u64 regs)
{
	__u32 zero = 0;
	struct cpu_current *c = bpf_map_lookup_elem(&cpu_current, &zero);

	if (!c)
		return 0;
	__u64 seq = READ_ONCE_U64(c->seq);
	barrier();
	__u64 r = c->regs, gen = c->gen, cg = c->cgroup_id;
	__u32 slot = c->slot, tr = c->tracked;
	barrier();
	if (r != regs || gen != generation || (seq & 1) || READ_ONCE_U64(c->seq) != seq) {
		/* The generation first: a migration or Track after this
		 * read bumps it, so what is read below can only be newer. */
		gen = generation;
		barrier();
		struct task_struct *t = bpf_get_current_task_btf();
		cg = t->cgroups->dfl_cgrp->kn->id;
		slot = 0;
		tr = lookup_slot(cg, &slot);
		if (!tr && pending_buckets[cg & (INDEX_SIZE - 1)] &&
		    bpf_map_lookup_elem(&pending, &cg))
			tr = 2; /* pending: looked up by id below */
		if (!(seq & 1) && __sync_val_compare_and_swap(&c->seq, seq, seq + 1) == seq) {
			barrier();
			c->regs = regs;
			c->gen = gen;
			c->cgroup_id = cg;
			c->slot = slot;
			c->tracked = tr;
			barrier();
			READ_ONCE_U64(c->seq) = seq + 2;
		}
	}
	if (!tr)
		return 0;
	if (tr == 2) {
		struct cgroup_state *ps = bpf_map_lookup_elem(&pending, &cg);
		return ps && ps->cgroup_id == cg ? ps : 0;
	}
	struct cgroup_state *st = bpf_map_lookup_elem(&states, &slot);
	if (!st || st->cgroup_id != cg)
		return 0;
	return st;
}

/* current_regs is the current task's pt_regs, for programs that do not get
 * them as an argument (rare events: helpers are fine). */
static __always_inline __u64 current_regs(void)
{
	return (__u64)bpf_task_pt_regs(bpf_get_current_task_btf());
}

/* A new task may get a recycled kernel stack (the kernel caches freed
 * stacks per CPU), so its pt_regs can sit where a dead task's did and match
 * a memo that still names the dead task. Invalidate all memos on every new
 * task; the trace point fires before the task is first woken. */
/* bump_generation is run by user space (BPF_PROG_RUN) after Track/Untrack:
 * an atomic add, so it can never undo a concurrent kernel bump (a plain
 * read-modify-write from user space could move the value back to one a
 * stale entry was filled under). */
SEC("syscall")
int bump_generation(void *ctx)
{
	__sync_fetch_and_add(&generation, 1);
	return 0;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(sched_process_fork, struct task_struct *parent, struct task_struct *child)
{
	__sync_fetch_and_add(&generation, 1);
	return 0;
}

/* A task changed cgroups: the cached entry of any CPU may now be wrong (the
 * task may be running elsewhere). Invalidate them all; each refreshes at its
 * next syscall. Migrations are rare (a container start, a systemd unit). */
SEC("tp_btf/cgroup_attach_task")
int BPF_PROG(cgroup_attach_task, struct cgroup *dst, const char *path, struct task_struct *task,
	     bool threadgroup)
{
	__sync_fetch_and_add(&generation, 1);

	/* Follow: the task writing cgroup.procs (current) is in a followed
	 * cgroup, so the destination is the container being placed. */
	__u64 actor = bpf_get_current_cgroup_id();
	__u32 *pool = bpf_map_lookup_elem(&follow, &actor);
	if (!pool)
		return 0;
	__u64 id = dst->kn->id;
	/* On a hybrid host the runtime joins every v1 hierarchy too: only a
	 * move on the default (cgroup2) hierarchy is the container's cgroup.
	 * The trace point fires once the task is moved, so its dfl_cgrp is
	 * dst exactly then. */
	if (id != task->cgroups->dfl_cgrp->kn->id)
		return 0;
	if (id == actor || bpf_map_lookup_elem(&follow, &id))
		return 0;
	__u32 pool_id = *pool;
	struct follow_pool *fp = bpf_map_lookup_elem(&follow_pools, &pool_id);
	if (!fp)
		return 0;
	__u32 n = __sync_fetch_and_add(&fp->next, 1);
	if (n >= FOLLOW_SLOTS)
		return 0;
	__u32 slot = fp->slots[n];
	struct cgroup_state *st = bpf_map_lookup_elem(&states, &slot);
	if (!st)
		return 0;
	/* User space filled the slot's mode and flags when it reserved it. */
	st->cgroup_id = id;
	if (bpf_map_update_elem(&follow, &id, &pool_id, BPF_NOEXIST) ||
	    bpf_map_update_elem(&tracked, &id, &slot, BPF_ANY))
		return 0;
	/* Found through the tracked hash: mark the index entry as shared
	 * rather than claim it (user space owns the entries' other fields). */
	__u32 h = id & (INDEX_SIZE - 1);
	struct index_entry *e = bpf_map_lookup_elem(&cg_index, &h);
	if (e)
		__sync_fetch_and_or(&e->collide, 1);
	__sync_fetch_and_add(&generation, 1);
	return 0;
}

static __always_inline void count_pending_stat(__u32 i)
{
	__u64 *n = bpf_map_lookup_elem(&pending_stats, &i);

	if (n)
		__sync_fetch_and_add(n, 1);
}

/* A cgroup was created. With hold_new, hold every new cgroup of the cgroup2
 * hierarchy (the one bpf_get_current_cgroup_id() names) pending: its
 * runtime creates it before putting the container's first task in, so
 * nothing the container runs escapes. */
SEC("tp_btf/cgroup_mkdir")
int BPF_PROG(cgroup_mkdir, struct cgroup *cgrp, const char *path)
{
	if (!hold_new)
		return 0;
	struct task_struct *t = bpf_get_current_task_btf();
	if (cgrp->root != t->cgroups->dfl_cgrp->root)
		return 0; /* a cgroup v1 hierarchy (hybrid host) */
	__u64 cg = cgrp->kn->id;
	__u32 zero = 0;
	struct cgroup_state *z = bpf_map_lookup_elem(&pending_zero, &zero);
	if (!z)
		return 0;
	if (bpf_map_update_elem(&pending, &cg, z, BPF_NOEXIST)) {
		count_pending_stat(0); /* full (or an id seen twice) */
		return 0;
	}
	struct cgroup_state *st = bpf_map_lookup_elem(&pending, &cg);
	if (!st)
		return 0;
	st->mode = MODE_PENDING;
	st->flags = FLAG_WAIT_SECCOMP;
	barrier();
	st->cgroup_id = cg;
	__sync_fetch_and_add(&pending_buckets[cg & (INDEX_SIZE - 1)], 1);
	__sync_fetch_and_add(&generation, 1);

	struct new_cgroup *n = bpf_ringbuf_reserve(&new_cgroups, sizeof(*n), 0);
	if (!n) {
		count_pending_stat(1);
		return 0;
	}
	n->cgroup_id = cg;
	n->pid = bpf_get_current_pid_tgid() >> 32;
	n->pad = 0;
	bpf_probe_read_kernel_str(n->path, sizeof(n->path), path);
	bpf_ringbuf_submit(n, 0); /* rare: wake the reader */
	return 0;
}

struct release_args {
	__u64 cgroup_id;
};

/* release_pending is run by user space (BPF_PROG_RUN) to drop a pending
 * cgroup: classified (then tracked in `states`) or not a container. */
SEC("syscall")
int release_pending(struct release_args *ctx)
{
	__u64 cg = ctx->cgroup_id;

	if (bpf_map_delete_elem(&pending, &cg))
		return 1;
	__sync_fetch_and_sub(&pending_buckets[cg & (INDEX_SIZE - 1)], 1);
	__sync_fetch_and_add(&generation, 1);
	return 0;
}

static __always_inline bool is_exec(__u32 arch, __u32 nr)
{
	switch (arch) {
	case ARCH_NATIVE:
		return nr == 59 || nr == 322; /* execve, execveat */
	case ARCH_IA32:
		return nr == 11 || nr == 358;
	case ARCH_X32:
		return nr == 520 || nr == 545;
	}
	return false;
}

/* test_and_set reads the word first and only writes when the bit is clear.
 * It returns true when this call flipped the bit 0 -> 1. */
static __always_inline bool test_and_set(__u64 *word, __u64 mask)
{
	if (*word & mask)
		return false;
	return !(__sync_fetch_and_or(word, mask) & mask);
}

static __always_inline void count_drop(void)
{
	__u32 zero = 0;
	__u64 *d = bpf_map_lookup_elem(&drops, &zero);

	if (d)
		__sync_fetch_and_add(d, 1); /* per-CPU, but preemptible */
}

/* fill sets the fields every event has, from the current task at the time
 * of the event: the kernel's word on who made the call, whatever /proc says
 * later (a daemon drops privileges after exec; a short command is gone). */
static __always_inline void fill(struct event *e, __u32 kind, __u64 cg)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct task_struct *task = bpf_get_current_task_btf();

	e->ts_boot_ns = bpf_ktime_get_boot_ns();
	e->cgroup_id = cg;
	e->kind = kind;
	e->pid = pid_tgid >> 32;
	e->tid = (__u32)pid_tgid;
	/* Effective ids, as Falco's user.uid and /proc/PID/status's second
	 * column (bpf_get_current_uid_gid returns the real ones). */
	const struct cred *cred = task->cred; /* BTF loads, no helper */
	e->uid = cred->euid.val;
	e->gid = cred->egid.val;
	e->ppid = BPF_CORE_READ(task, real_parent, tgid);
	e->nr = -1;
	e->arch = 0;
	e->ret = 0;
	e->flags = 0;
	e->pad = 0;
	__builtin_memset(e->args, 0, sizeof(e->args));
	e->filename[0] = 0;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	bpf_probe_read_kernel_str(e->pcomm, sizeof(e->pcomm), BPF_CORE_READ(task, real_parent, comm));
}

static __always_inline struct event *reserve(__u32 kind, __u64 cg)
{
	struct event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);

	if (!e) {
		count_drop();
		return 0;
	}
	fill(e, kind, cg);
	return e;
}

static __always_inline void read_args(struct event *e, struct pt_regs *regs, __u32 arch)
{
	if (arch == ARCH_IA32) {
		e->args[0] = regs->bx;
		e->args[1] = regs->cx;
		e->args[2] = regs->dx;
		e->args[3] = regs->si;
		e->args[4] = regs->di;
		e->args[5] = regs->bp;
	} else {
		e->args[0] = regs->di;
		e->args[1] = regs->si;
		e->args[2] = regs->dx;
		e->args[3] = regs->r10;
		e->args[4] = regs->r8;
		e->args[5] = regs->r9;
	}
}

static __always_inline void emit_syscall(__u32 kind, __u64 cg, __u32 arch, __u32 nr,
					 struct pt_regs *regs, __s64 ret)
{
	struct event *e = reserve(kind, cg);

	if (!e)
		return;
	e->arch = arch;
	e->nr = nr;
	e->ret = ret;
	if (regs)
		read_args(e, regs, arch);
	bpf_ringbuf_submit(e, BPF_RB_NO_WAKEUP);
}

/* emit_denied reports a call seccomp refused, or counts it: the first
 * REPEAT_BURST per (cgroup, syscall) per REPEAT_INTERVAL_NS are events, the
 * rest only bump `repeats`, so a workload spinning on a refused call costs
 * a hash lookup per call instead of an event (issue #9). When the map is
 * full every call is an event again (and a full ring counts drops). */
static __always_inline void emit_denied(__u64 cg, __u32 arch, __u32 nr, struct pt_regs *regs, __s64 ret)
{
	struct repeat_key k = {.cgroup_id = cg, .arch = arch, .nr = nr};
	__u64 now = bpf_ktime_get_boot_ns();
	struct repeat_val *r = bpf_map_lookup_elem(&repeats, &k);

	if (!r) {
		struct repeat_val v = {.window_start = now, .sent = 1};
		bpf_map_update_elem(&repeats, &k, &v, BPF_NOEXIST);
		emit_syscall(EVENT_DENIED, cg, arch, nr, regs, ret);
		return;
	}
	if (now - r->window_start >= REPEAT_INTERVAL_NS) {
		r->window_start = now;
		r->sent = 0;
	}
	/* Read first: past the burst, a spinning workload only reads the line. */
	if (r->sent < REPEAT_BURST && __sync_fetch_and_add(&r->sent, 1) < REPEAT_BURST) {
		emit_syscall(EVENT_DENIED, cg, arch, nr, regs, ret);
		return;
	}
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct task_struct *task = bpf_get_current_task_btf();
	const struct cred *cred = task->cred; /* BTF loads, no helper */
	r->last_ns = now;
	r->last_ret = ret;
	r->last_pid = pid_tgid >> 32;
	r->last_tid = (__u32)pid_tgid;
	r->last_uid = cred->euid.val;
	r->last_gid = cred->egid.val;
	/* Last: user space reads the counter, then the fields above. */
	__sync_fetch_and_add(&r->suppressed, 1);
}

/* bit returns the word index into a [N_ARCH][NR_WORDS] bitmap, bounded for
 * the verifier. */
static __always_inline __u32 word_index(__u32 arch, __u32 nr)
{
	__u32 i = arch * NR_WORDS + (nr >> 6);

	return i < N_ARCH * NR_WORDS ? i : 0;
}

SEC("tp_btf/sys_enter")
int BPF_PROG(sys_enter, struct pt_regs *regs, long id)
{
	struct cgroup_state *st = current_state((__u64)regs);

	if (!st)
		return 0;

	/* Tracked: the slow path from here on. */
	__u32 arch, nr;
	if (classify(regs, 0, id, &arch, &nr))
		return 0;

	__u32 flags = st->flags;
	__u32 i = word_index(arch, nr);
	__u64 mask = 1ULL << (nr & 63);
	__u64 cg = st->cgroup_id;
	__u32 tid;
	__s64 raw = id;

	if (flags & (FLAG_WAIT_EXEC | FLAG_WAIT_SECCOMP)) {
		bool skip = (flags & FLAG_WAIT_EXEC) && !is_exec(arch, nr);
		if (!skip && (flags & FLAG_WAIT_SECCOMP)) {
			struct task_struct *task = bpf_get_current_task_btf();
			skip = task->seccomp.mode != SECCOMP_MODE_FILTER;
		}
		if (skip) {
			/* Not recorded, but it did reach sys_enter: mark it so
			 * sys_exit does not take it for a refused call (the
			 * seccomp() call that installs the filter returns with a
			 * filter in place; so does a call blocked while a sibling
			 * thread installs one with TSYNC). */
			if (exits_attached && st->mode == MODE_WATCH &&
			    !(((__u64 *)st->allowed)[i] & mask)) {
				tid = (__u32)bpf_get_current_pid_tgid();
				bpf_map_update_elem(&entered, &tid, &raw, BPF_ANY);
			}
			return 0;
		}
	}

	if (test_and_set(&((__u64 *)st->seen)[i], mask) && (flags & FLAG_FIRST_SEEN))
		emit_syscall(EVENT_FIRST_SEEN, cg, arch, nr, 0, 0);

	if (st->mode == MODE_PENDING) {
		/* The profile is not known yet: mark every call of a task under
		 * a filter, so sys_exit can tell the refused ones. */
		if (exits_attached) {
			tid = (__u32)bpf_get_current_pid_tgid();
			bpf_map_update_elem(&entered, &tid, &raw, BPF_ANY);
		}
		return 0;
	}
	if (st->mode != MODE_WATCH)
		return 0;
	if (((__u64 *)st->allowed)[i] & mask)
		return 0;

	/* Deviation: outside the profile, and it reached sys_enter, so no
	 * seccomp filter refused it (complain mode, or nothing enforcing). */
	__sync_fetch_and_add(&st->deviation_count, 1);
	if (exits_attached) {
		tid = (__u32)bpf_get_current_pid_tgid();
		bpf_map_update_elem(&entered, &tid, &raw, BPF_ANY);
	}
	if (test_and_set(&((__u64 *)st->deviated)[i], mask) || (flags & FLAG_ALL_EVENTS))
		emit_syscall(EVENT_DEVIATION, cg, arch, nr, regs, 0);
	return 0;
}

/* sys_exit is attached only when watching (Options.Watch). A syscall that a
 * seccomp filter refuses (ERRNO, TRAP, KILL) never reaches sys_enter but does
 * reach sys_exit: seccomp runs in syscall_trace_enter before the sys_enter
 * tracepoint, and the exit work always runs. So an outside-profile call seen
 * here without its sys_enter marker in `entered`, from a task that has a
 * filter, was refused by seccomp. */
SEC("tp_btf/sys_exit")
int BPF_PROG(sys_exit, struct pt_regs *regs, long ret)
{
	struct cgroup_state *st = current_state((__u64)regs);

	/* Pending: its allowed set is empty, so every call its filter refused
	 * is recorded and reported; user space judges them once it knows the
	 * profile. */
	if (!st || (st->mode != MODE_WATCH && st->mode != MODE_PENDING))
		return 0;

	long id = regs->orig_ax;
	__u32 arch, nr;
	if (classify(regs, 0, id, &arch, &nr))
		return 0;
	__u32 i = word_index(arch, nr);
	__u64 mask = 1ULL << (nr & 63);

	if (((__u64 *)st->allowed)[i] & mask)
		return 0;

	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	__s64 *marker = bpf_map_lookup_elem(&entered, &tid);
	if (marker) {
		bool same = *marker == (__s64)id;
		bpf_map_delete_elem(&entered, &tid);
		if (same)
			return 0; /* reached sys_enter: already a deviation */
	}
	/* Without a filter nothing can have been refused; a killed task's
	 * mode is SECCOMP_MODE_DEAD and its death is reported by
	 * sched_process_exit. A refused call returns an error (ERRNO: -errno;
	 * TRAP, TRACE without a tracer: -ENOSYS); a non-negative return came
	 * from a user-notification supervisor that handled the call. */
	if (ret >= 0)
		return 0;
	struct task_struct *task = bpf_get_current_task_btf();
	if (task->seccomp.mode != SECCOMP_MODE_FILTER)
		return 0;
	if (st->flags & FLAG_WAIT_EXEC)
		return 0;

	__sync_fetch_and_add(&st->denied_count, 1);
	test_and_set(&((__u64 *)st->deviated)[i], mask);
	bool first = test_and_set(&((__u64 *)st->denied)[i], mask);
	if (st->flags & FLAG_ALL_EVENTS)
		emit_denied(st->cgroup_id, arch, nr, regs, ret);
	else if (first)
		emit_syscall(EVENT_DENIED, st->cgroup_id, arch, nr, regs, ret);
	return 0;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(sched_process_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	struct cgroup_state *st = current_state(current_regs());

	if (!st)
		return 0;
	if (st->flags & FLAG_WAIT_EXEC)
		__sync_fetch_and_and(&st->flags, ~(__u32)FLAG_WAIT_EXEC);
	if (st->mode != MODE_WATCH && st->mode != MODE_PENDING)
		return 0;

	struct exec_event *x = bpf_ringbuf_reserve(&events, sizeof(*x), 0);
	if (!x) {
		count_drop();
		return 0;
	}
	struct event *e = &x->ev;
	fill(e, EVENT_EXEC, st->cgroup_id);
	bpf_probe_read_kernel_str(e->filename, sizeof(e->filename), bprm->filename);

	/* Started by something outside the workload (runtime, sysward)? */
	struct task_struct *task = bpf_get_current_task_btf();
	if (BPF_CORE_READ(task, real_parent, cgroups, dfl_cgrp, kn, id) != st->cgroup_id)
		e->flags |= EVF_PARENT_OUTSIDE;

	x->pad = 0;
	x->interp[0] = 0;
	const char *interp = BPF_CORE_READ(bprm, interp);
	if (interp != BPF_CORE_READ(bprm, filename))
		bpf_probe_read_kernel_str(x->interp, sizeof(x->interp), interp);

	/* argv of the new image: the kernel copied it to the top of the new
	 * stack (present: it was just written) before this tracepoint. */
	unsigned long start = BPF_CORE_READ(task, mm, arg_start);
	unsigned long end = BPF_CORE_READ(task, mm, arg_end);
	__u32 n = 0;
	if (end > start) {
		unsigned long len = end - start;
		if (len > ARGV_MAX) {
			len = ARGV_MAX;
			e->flags |= EVF_ARGV_TRUNCATED;
		}
		n = len;
		barrier_var(n);
		if (n > ARGV_MAX) /* for the verifier: clang may drop the first check */
			n = ARGV_MAX;
		if (bpf_probe_read_user(x->argv, n, (void *)start))
			n = 0;
	}
	x->argv_len = n;
	bpf_ringbuf_submit(x, BPF_RB_NO_WAKEUP);
	return 0;
}

/* Attached only when watching. A seccomp kill action ends the task with
 * SIGSYS in exit_code (low 7 bits; 0x80 marks a core dump). One event per
 * exiting thread of a killed process. */
SEC("tp_btf/sched_process_exit")
int BPF_PROG(sched_process_exit, struct task_struct *p)
{
	struct cgroup_state *st = current_state(current_regs());

	if (!st || (st->mode != MODE_WATCH && st->mode != MODE_PENDING))
		return 0;
	int code = p->exit_code;
	if ((code & 0x7f) != SIGSYS)
		return 0;

	struct event *e = reserve(EVENT_EXIT_SIGSYS, st->cgroup_id);
	if (!e)
		return 0;
	e->ret = code;
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(p);
	if (regs) {
		__u32 arch, nr;
		if (!classify(regs, p, (long)regs->orig_ax, &arch, &nr)) {
			e->arch = arch;
			e->nr = nr;
			read_args(e, regs, arch);
		}
	}
	bpf_ringbuf_submit(e, BPF_RB_NO_WAKEUP);
	return 0;
}
