package profiles

import (
	"fmt"
	"sort"
	"strings"
)

// A learned profile allows exactly what one session did; a workload under a
// different, legitimate load then often makes a sibling of a learned call
// (writev for write, epoll_pwait for epoll_wait, mremap for mmap) or a
// harmless query of its own state (gettid, getrusage) and is refused. The
// tables below are what `sysward learn` widens a traced set with (see
// WidenFamilies and AddBaseline): each entry says why it adds no capability.
//
// Rules the tables follow (checked by tests): no member is in
// DangerousSyscalls; every name is in sysward's syscall table of at least
// one architecture (a member missing on an architecture is simply not added
// for it); a syscall is in at most one family. Calls whose variants change
// what they can do are left out and say why here:
//
//   - clone, clone3, fork: clone takes namespace flags (CLONE_NEWUSER …) that
//     fork cannot express, and clone3's flags sit in a struct seccomp cannot
//     read (the lint calls it dangerous); widening fork to clone would let a
//     profile create namespaces. Only fork and vfork are a family.
//   - execve, execveat: execveat runs a file descriptor (a memfd: code that
//     never touched the filesystem); left out.
//   - open_by_handle_at: opens files outside the container's root; dangerous.
//   - splice, tee, vmsplice, copy_file_range: move data between pipes and
//     files in ways read and write do not (vmsplice maps user pages); left out.
//   - prlimit64: sets other processes' limits; only getrlimit is a baseline
//     query.
//   - io_uring_*: performs I/O seccomp never sees; dangerous.

// Family is a set of syscalls that are alternative ways to do the same
// thing: a profile that allows one member gains no capability by allowing
// the others.
type Family struct {
	// Name is the family's name (its most common member or the concept).
	Name string
	// Members are syscall names on any architecture sysward knows.
	Members []string
	// Why says why the members add no capability over each other.
	Why string
}

var families = []Family{
	{"read", []string{"read", "readv", "pread64", "preadv", "preadv2"},
		"read bytes from a descriptor the process already holds; vectors and offsets only change where the bytes land (pread is lseek+read)"},
	{"write", []string{"write", "writev", "pwrite64", "pwritev", "pwritev2", "sendfile", "sendfile64"},
		"write bytes to a descriptor the process already holds; sendfile is a read of one held descriptor and a write to another, done in the kernel"},
	{"stat", []string{"stat", "lstat", "fstat", "newfstatat", "statx", "stat64", "lstat64", "fstat64", "fstatat64"},
		"read a file's metadata by path, by descriptor or relative to a directory descriptor: the same information through different ABIs"},
	{"statfs", []string{"statfs", "fstatfs", "statfs64", "fstatfs64"},
		"read a filesystem's metadata, by path or by descriptor"},
	{"open", []string{"open", "openat", "openat2", "creat"},
		"open a path; openat resolves it from a directory descriptor, openat2 adds restrictions on resolution, creat is open with O_CREAT|O_WRONLY|O_TRUNC"},
	{"poll", []string{"poll", "ppoll", "ppoll_time64", "select", "_newselect", "pselect6", "pselect6_time64", "epoll_wait", "epoll_pwait", "epoll_pwait2"},
		"wait until descriptors the process holds are ready; the p-variants also set the signal mask for the wait, the epoll ones read the set from an epoll descriptor"},
	{"epoll_create", []string{"epoll_create", "epoll_create1"},
		"create an epoll descriptor; epoll_create1 only adds the close-on-exec flag"},
	{"accept", []string{"accept", "accept4"},
		"accept a connection on a listening socket the process holds; accept4 only adds descriptor flags"},
	{"send", []string{"send", "sendto", "sendmsg", "sendmmsg"},
		"send on a socket the process holds; sendmsg can pass descriptors the process already has to the peer it is already connected to, sendmmsg batches"},
	{"recv", []string{"recv", "recvfrom", "recvmsg", "recvmmsg"},
		"receive on a socket the process holds; recvmsg can receive descriptors a peer chose to pass, recvmmsg batches"},
	{"dup", []string{"dup", "dup2", "dup3"},
		"duplicate a descriptor the process holds onto a free or chosen number"},
	{"pipe", []string{"pipe", "pipe2"},
		"create a pipe; pipe2 only adds flags"},
	{"wait", []string{"wait4", "waitid", "waitpid"},
		"wait for the process's own children; the variants differ in how the status is reported"},
	{"getdents", []string{"getdents", "getdents64"},
		"list a directory the process opened; getdents64 only widens the inode field"},
	{"rename", []string{"rename", "renameat", "renameat2"},
		"rename a path; renameat2's RENAME_EXCHANGE is two renames done atomically and RENAME_WHITEOUT needs CAP_MKNOD"},
	{"link", []string{"link", "linkat"},
		"make a hard link, by path or relative to directory descriptors"},
	{"symlink", []string{"symlink", "symlinkat"},
		"make a symbolic link, by path or relative to a directory descriptor"},
	{"unlink", []string{"unlink", "unlinkat", "rmdir"},
		"remove a directory entry; unlinkat with AT_REMOVEDIR already is rmdir"},
	{"mkdir", []string{"mkdir", "mkdirat"},
		"make a directory, by path or relative to a directory descriptor"},
	{"chmod", []string{"chmod", "fchmod", "fchmodat", "fchmodat2"},
		"change a file's mode, by path or by descriptor; the kernel's ownership check is the same"},
	{"chown", []string{"chown", "fchown", "lchown", "fchownat", "chown32", "fchown32", "lchown32"},
		"change a file's owner, by path, by descriptor or without following a link; the same CAP_CHOWN check"},
	{"access", []string{"access", "faccessat", "faccessat2"},
		"check access to a path; faccessat2 only adds flags"},
	{"readlink", []string{"readlink", "readlinkat"},
		"read a symbolic link, by path or relative to a directory descriptor"},
	{"utime", []string{"utime", "utimes", "futimesat", "utimensat", "utimensat_time64"},
		"set a file's timestamps, at different resolutions and by path or descriptor"},
	{"eventfd", []string{"eventfd", "eventfd2"},
		"create an event counter descriptor; eventfd2 only adds flags"},
	{"signalfd", []string{"signalfd", "signalfd4"},
		"receive the process's own signals through a descriptor; signalfd4 only adds flags"},
	{"inotify_init", []string{"inotify_init", "inotify_init1"},
		"create an inotify descriptor; inotify_init1 only adds flags"},
	{"sleep", []string{"nanosleep", "clock_nanosleep", "clock_nanosleep_time64"},
		"suspend the calling thread for a time, on a chosen clock or not"},
	{"time", []string{"time", "gettimeofday", "clock_gettime", "clock_gettime64", "clock_getres", "clock_getres_time64"},
		"read a clock (the vDSO does it without a syscall on most machines)"},
	{"mmap", []string{"mmap", "mmap2", "mremap"},
		"map memory; mremap grows, shrinks or moves a mapping the process already made, which mmap could make anew"},
	{"truncate", []string{"truncate", "ftruncate", "truncate64", "ftruncate64"},
		"set a file's length, by path or by a descriptor opened for writing; the same write permission"},
	{"fsync", []string{"fsync", "fdatasync"},
		"flush a held descriptor's file to disk; fdatasync skips metadata"},
	{"seek", []string{"lseek", "_llseek"},
		"move a held descriptor's offset; _llseek is the 32-bit ABI's 64-bit offset"},
	{"fcntl", []string{"fcntl", "fcntl64"},
		"operate on a held descriptor; fcntl64 is the 32-bit ABI's name"},
	{"chdir", []string{"chdir", "fchdir"},
		"change the working directory, by path or to a held directory descriptor"},
	{"kill", []string{"kill", "tkill", "tgkill"},
		"send a signal; tkill and tgkill target one thread, kill a process; the kernel's permission check (same user or CAP_KILL) is the same (abort() and raise() use tgkill)"},
	{"exit", []string{"exit", "exit_group"},
		"end the calling thread or all of its process's threads"},
	{"fork", []string{"fork", "vfork"},
		"start a child process sharing nothing but what fork copies; vfork only suspends the parent until the child execs (clone is left out: namespace flags)"},
	{"futex", []string{"futex", "futex_time64"},
		"wait on or wake a futex word; futex_time64 is the 32-bit ABI's 64-bit time"},
	{"sigaction", []string{"rt_sigaction", "sigaction"},
		"set the process's own signal handlers; sigaction is the old 32-bit ABI"},
	{"sigprocmask", []string{"rt_sigprocmask", "sigprocmask"},
		"set the calling thread's own signal mask; sigprocmask is the old 32-bit ABI"},
}

// Legacy members. x86_64 kept, for old binaries, syscalls that a newer
// member of the same family does with fixed arguments (open is openat at
// AT_FDCWD, poll is ppoll without a mask, pipe is pipe2 without flags ...).
// The kernel's generic syscall table, which arm64 and riscv64 use, never had
// them. Which form a call takes is decided by the C library function that
// makes it, not by the program: glibc 2.36 on x86_64 opens with openat and
// stats with newfstatat, but still unlinks with unlink, polls with poll and
// waits with epoll_wait; Go makes the modern forms. So when every binary of
// the workload makes its calls through glibc or Go (WidenOptions.Generations),
// a seed widens within its generation only: a modern seed to the
// modern members, a legacy seed to the legacy ones (epoll_wait to poll and
// select: glibc's poll() and select() are imports the same code may use; not
// to epoll_pwait, which only glibc's epoll_pwait() makes). A member of the
// other generation is reached through another libc function, which static
// hints see among the binary's imports (elfhints' table, checked against
// strace, says which form each function makes). Widening across would allow
// calls the workload can never make: open, creat, stat and lstat for nearly
// every glibc program. With a binary whose C library is not described (a
// static non-Go binary, musl), or without static hints (--static off), seeds
// widen to every member.
//
// What this cannot see: code in a library static hints do not read (only a
// library the program is a front end to is read by default) that calls a
// libc function of the other generation the program itself does not
// import. Complain mode and `sysward profile absorb` are the answer there.
//
// Every name here is a member of a family, an x86_64 syscall, absent from
// arm64's table, with a sibling that is there (TestLegacyMembers); fork and
// vfork, whose modern form clone is no family member, are not listed.
var legacyMembers = map[string]bool{
	"open": true, "creat": true, "stat": true, "lstat": true,
	"access": true, "unlink": true, "rmdir": true, "mkdir": true,
	"rename": true, "link": true, "symlink": true, "readlink": true,
	"chmod": true, "chown": true, "lchown": true,
	"utime": true, "utimes": true, "futimesat": true, "getdents": true,
	"select": true, "poll": true, "epoll_wait": true, "epoll_create": true,
	"eventfd": true, "signalfd": true, "inotify_init": true,
	"dup2": true, "pipe": true, "time": true,
}

// LegacyMember reports whether name is a legacy member of its family (see
// legacyMembers).
func LegacyMember(name string) bool { return legacyMembers[name] }

// WidenOptions configure WidenFamiliesWith. A nil *WidenOptions means the
// defaults.
type WidenOptions struct {
	// Generations widens each seed within its generation only (legacy or
	// modern, see legacyMembers): every binary of the workload makes its
	// calls through glibc or Go, and static hints read their imports.
	// False (the default, and --static off) widens to every member.
	Generations bool
	// Member, when not nil, says whether seed may widen to member (after
	// Generations): learn's rule for seeds static hints explain.
	Member func(seed, member string) bool
}

// BaselineSyscall is one call of the self-query baseline and why it is
// harmless.
type BaselineSyscall struct {
	Name string
	Why  string
}

// baseline are calls that only query the calling process's own state (or
// return from a signal handler or restart an interrupted call): a denial
// breaks a program (nginx logs thread id -1 without gettid) and allowing
// them gives nothing a process does not already know.
var baseline = []BaselineSyscall{
	{"getpid", "the process's own id"},
	{"getppid", "its parent's id"},
	{"gettid", "the calling thread's id"},
	{"getuid", "its own credentials"},
	{"geteuid", "its own credentials"},
	{"getgid", "its own credentials"},
	{"getegid", "its own credentials"},
	{"getresuid", "its own credentials"},
	{"getresgid", "its own credentials"},
	{"getgroups", "its own supplementary groups"},
	{"getuid32", "its own credentials (32-bit ABI)"},
	{"geteuid32", "its own credentials (32-bit ABI)"},
	{"getgid32", "its own credentials (32-bit ABI)"},
	{"getegid32", "its own credentials (32-bit ABI)"},
	{"getresuid32", "its own credentials (32-bit ABI)"},
	{"getresgid32", "its own credentials (32-bit ABI)"},
	{"getgroups32", "its own supplementary groups (32-bit ABI)"},
	{"getpgrp", "its own process group"},
	{"getrusage", "resource usage of itself, its threads or its children only"},
	{"getrlimit", "its own resource limits (read only, unlike prlimit64)"},
	{"ugetrlimit", "its own resource limits (32-bit ABI)"},
	{"uname", "the kernel's name and version (the UTS namespace's hostname)"},
	{"getcwd", "its own working directory"},
	{"getsockname", "the local address of a socket it holds"},
	{"getpeername", "the remote address of a socket it holds"},
	{"clock_gettime", "read a clock"},
	{"clock_gettime64", "read a clock (32-bit ABI)"},
	{"clock_getres", "a clock's resolution"},
	{"clock_getres_time64", "a clock's resolution (32-bit ABI)"},
	{"gettimeofday", "read the clock"},
	{"time", "read the clock"},
	{"nanosleep", "sleep"},
	{"clock_nanosleep", "sleep on a clock"},
	{"clock_nanosleep_time64", "sleep on a clock (32-bit ABI)"},
	{"rt_sigreturn", "return from a signal handler (any handler the process set up; without it a handled signal kills it)"},
	{"sigreturn", "return from a signal handler (32-bit ABI)"},
	{"restart_syscall", "the kernel restarting a call a signal interrupted (a sleep)"},
	{"fadvise64", "a hint about how a held file will be read"},
	{"fadvise64_64", "a hint about how a held file will be read (32-bit ABI)"},
	{"arm_fadvise64_64", "a hint about how a held file will be read (32-bit ARM)"},
}

// familyOf maps a member to its family's index in families.
var familyOf = func() map[string]int {
	m := map[string]int{}
	for i, f := range families {
		for _, n := range f.Members {
			m[n] = i
		}
	}
	return m
}()

// Families returns the syscall family table (a copy).
func Families() []Family {
	out := make([]Family, len(families))
	for i, f := range families {
		f.Members = append([]string(nil), f.Members...)
		out[i] = f
	}
	return out
}

// FamilyOf returns the family name belongs to.
func FamilyOf(name string) (Family, bool) {
	i, ok := familyOf[name]
	if !ok {
		return Family{}, false
	}
	f := families[i]
	f.Members = append([]string(nil), f.Members...)
	return f, true
}

// Baseline returns the self-query baseline (a copy).
func Baseline() []BaselineSyscall { return append([]BaselineSyscall(nil), baseline...) }

// Values of `learn --generalize` and `--baseline`.
const (
	GeneralizeFamilies = "families"
	GeneralizeNone     = "none"
	BaselineSelf       = "self"
	BaselineNone       = "none"
)

// CheckGeneralize returns an error unless s is "", GeneralizeFamilies or
// GeneralizeNone.
func CheckGeneralize(s string) error {
	if s == "" || s == GeneralizeFamilies || s == GeneralizeNone {
		return nil
	}
	return fmt.Errorf("generalize %q: want %s or %s", s, GeneralizeFamilies, GeneralizeNone)
}

// CheckBaseline returns an error unless s is "", BaselineSelf or BaselineNone.
func CheckBaseline(s string) error {
	if s == "" || s == BaselineSelf || s == BaselineNone {
		return nil
	}
	return fmt.Errorf("baseline %q: want %s or %s", s, BaselineSelf, BaselineNone)
}

// knownArches returns the architectures of p (CheckedArches) on which name
// is a syscall.
func knownArches(p *Profile, name string) []Arch {
	var out []Arch
	for _, a := range CheckedArches(p) {
		if _, ok := SyscallNumber(a, name); ok {
			out = append(out, a)
		}
	}
	return out
}

// addWithSource allows name in p (unless an entry already names it, with
// whatever action: widening never overrides a rule) and records source in
// its stats. added tracks the names this widening allowed, so that a name
// brought in twice gets both sources. It reports whether name is in added.
func addWithSource(p *Profile, named map[string]bool, added map[string]bool, name, source string) bool {
	if named[name] && !added[name] {
		return false
	}
	arches := knownArches(p, name)
	if len(arches) == 0 {
		return false
	}
	if p.Sysward == nil {
		p.Sysward = &Metadata{}
	}
	if p.Sysward.Stats == nil {
		p.Sysward.Stats = map[string]SyscallStats{}
	}
	st := p.Sysward.Stats[name]
	if !added[name] {
		p.Allow(name)
		named[name], added[name] = true, true
		st.Arches = arches
	}
	st.Sources = sortedUnique(append(st.Sources, source))
	p.Sysward.Stats[name] = st
	return true
}

// WidenFamilies is WidenFamiliesWith with the default options.
func WidenFamilies(p *Profile, seeds []string) []string {
	return WidenFamiliesWith(p, seeds, nil)
}

// WidenFamiliesWith allows, for each of seeds (syscalls the workload was
// seen making), the other members of its family that exist on p's
// architectures and that no entry of p names yet; with opts.Generations,
// only those of the seed's generation (LegacyMember). Each added syscall's
// stats get the source "family:<seed>" (one per seed that brought it) and
// the architectures it exists on. It returns the names added, sorted.
func WidenFamiliesWith(p *Profile, seeds []string, opts *WidenOptions) []string {
	if opts == nil {
		opts = &WidenOptions{}
	}
	named := map[string]bool{}
	for _, n := range p.Names() {
		named[n] = true
	}
	added := map[string]bool{}
	for _, seed := range sortedUnique(append([]string(nil), seeds...)) {
		i, ok := familyOf[seed]
		if !ok {
			continue
		}
		for _, m := range families[i].Members {
			if opts.Generations && legacyMembers[m] != legacyMembers[seed] {
				continue
			}
			if opts.Member != nil && m != seed && !opts.Member(seed, m) {
				continue
			}
			if m != seed {
				addWithSource(p, named, added, m, SourceFamilyPrefix+seed)
			}
		}
	}
	return sortedKeys(added)
}

// legacyBaseline are the baseline's calls absent from the generic table
// (arm64): glibc and Go make them only through their own wrapper (time(),
// getpgrp()), which static hints see; with WidenOptions.Generations they
// are not added.
var legacyBaseline = map[string]bool{"time": true, "getpgrp": true}

// AddBaseline is AddBaselineWith with the default options.
func AddBaseline(p *Profile) []string { return AddBaselineWith(p, nil) }

// AddBaselineWith allows the self-query baseline's calls that exist on p's
// architectures and that no entry of p names yet, with the source
// "baseline"; with opts.Generations, not the legacy ones (legacyBaseline).
// It returns the names added, sorted.
func AddBaselineWith(p *Profile, opts *WidenOptions) []string {
	if opts == nil {
		opts = &WidenOptions{}
	}
	named := map[string]bool{}
	for _, n := range p.Names() {
		named[n] = true
	}
	added := map[string]bool{}
	for _, b := range baseline {
		if opts.Generations && legacyBaseline[b.Name] {
			continue
		}
		addWithSource(p, named, added, b.Name, SourceBaseline)
	}
	return sortedKeys(added)
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Source kinds, the part of a SyscallStats source before any ':'.
const (
	KindTraced      = "traced"
	KindComplain    = "complain"
	KindFamily      = "family"
	KindStatic      = "static"
	KindBaseline    = "baseline"
	KindRuntimeBase = "runtime-base"
	KindUnknown     = "unrecorded"
)

// SourceKinds lists the kinds from strongest evidence to weakest: a syscall
// with several sources counts under the first of its kinds here.
func SourceKinds() []string {
	return []string{KindTraced, KindComplain, KindFamily, KindStatic, KindBaseline, KindRuntimeBase}
}

// SourceKind returns the kind of one source ("family:write" → "family").
func SourceKind(source string) string {
	if i := strings.IndexByte(source, ':'); i >= 0 {
		source = source[:i]
	}
	return source
}

// PrimarySource returns the kind of the strongest of sources (see
// SourceKinds); KindUnknown when there is none (a profile written by hand
// or before sysward recorded sources).
func PrimarySource(sources []string) string {
	have := map[string]bool{}
	for _, s := range sources {
		have[SourceKind(s)] = true
	}
	for _, k := range SourceKinds() {
		if have[k] {
			return k
		}
	}
	return KindUnknown
}

// SourcesByKind groups the syscalls p allows (by name, any entry that may
// allow it on one of its architectures) by the kind of their strongest
// source. Syscalls without stats or sources count as KindUnknown.
func SourcesByKind(p *Profile) map[string][]string {
	out := map[string][]string{}
	allowed := map[string]bool{}
	for _, a := range CheckedArches(p) {
		dc := p.decider()
		for _, n := range p.Names() {
			if dc.decide(a, n).MayAllow(p) {
				allowed[n] = true
			}
		}
	}
	for _, n := range sortedKeys(allowed) {
		var src []string
		if p.Sysward != nil {
			src = p.Sysward.Stats[n].Sources
		}
		k := PrimarySource(src)
		out[k] = append(out[k], n)
	}
	return out
}
