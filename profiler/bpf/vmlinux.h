/* SPDX-License-Identifier: GPL-2.0 */
/*
 * vmlinux.h: the handful of kernel types sysward's eBPF programs touch,
 * written by hand instead of committing a 2.8 MB `bpftool btf dump` of one
 * build host's kernel. Every struct carries preserve_access_index, so field
 * offsets are CO-RE relocations resolved against the running kernel's BTF at
 * load time: only the field *names* must exist there, not these layouts.
 * Keeping the header small also makes `make generate` reproducible on any
 * host (the regeneration test compares bytes).
 *
 * x86_64 only for now: pt_regs register names and TS_COMPAT are x86.
 */
#ifndef SYSWARD_VMLINUX_H
#define SYSWARD_VMLINUX_H

typedef unsigned char __u8;
typedef signed char __s8;
typedef unsigned short __u16;
typedef short __s16;
typedef unsigned int __u32;
typedef int __s32;
typedef unsigned long long __u64;
typedef long long __s64;
typedef __u16 __be16;
typedef __u32 __be32;
typedef __u32 __wsum;
typedef _Bool bool;
typedef int pid_t;
enum { false = 0, true = 1 };

enum bpf_map_type {
	BPF_MAP_TYPE_HASH = 1,
	BPF_MAP_TYPE_ARRAY = 2,
	BPF_MAP_TYPE_PERCPU_ARRAY = 6,
	BPF_MAP_TYPE_LRU_HASH = 9,
	BPF_MAP_TYPE_RINGBUF = 27,
};

enum {
	BPF_ANY = 0,
	BPF_NOEXIST = 1,
	BPF_EXIST = 2,
	BPF_F_NO_PREALLOC = 1,
};

enum {
	BPF_RB_NO_WAKEUP = 1,
	BPF_RB_FORCE_WAKEUP = 2,
};

#pragma clang attribute push(__attribute__((preserve_access_index)), apply_to = record)

struct bpf_raw_tracepoint_args {
	__u64 args[0];
};

struct pt_regs {
	unsigned long r15, r14, r13, r12, bp, bx, r11, r10, r9, r8;
	unsigned long ax, cx, dx, si, di, orig_ax, ip;
	unsigned long flags;
};

struct thread_info {
	unsigned long flags;
	unsigned long syscall_work;
	__u32 status;
};

struct seccomp {
	int mode;
};

struct kernfs_node {
	__u64 id;
};

struct cgroup_root;

struct cgroup {
	struct kernfs_node *kn;
	struct cgroup_root *root; /* the hierarchy: cgroup2's or a v1 one */
};

struct css_set {
	struct cgroup *dfl_cgrp;
};

typedef struct {
	__u32 val;
} kuid_t;

typedef struct {
	__u32 val;
} kgid_t;

struct cred {
	kuid_t euid;
	kgid_t egid;
};

struct mm_struct {
	unsigned long arg_start;
	unsigned long arg_end;
};

struct task_struct {
	struct thread_info thread_info;
	struct css_set *cgroups;
	int exit_code;
	pid_t pid;
	pid_t tgid;
	struct task_struct *real_parent;
	struct seccomp seccomp;
	char comm[16];
	struct mm_struct *mm;
	const struct cred *cred;
};

struct linux_binprm {
	const char *filename;
	const char *interp;
};

#pragma clang attribute pop

#endif
