package elfhints

import (
	"strings"

	"github.com/sysward/sysward/profiles"
)

// goPackages are the packages whose functions are syscall wrappers. The
// linker drops functions nothing calls, so a wrapper in the binary's
// function table is one the program can reach.
var goPackages = []string{
	"syscall.",
	"golang.org/x/sys/unix.",
	"vendor/golang.org/x/sys/unix.",
	"internal/syscall/unix.",
}

// splitGoWrapper splits "syscall.Fsync" into its package and function, for
// plain functions of goPackages (methods and closures are not wrappers).
func splitGoWrapper(fn string) (pkg, name string, ok bool) {
	for _, p := range goPackages {
		if rest, found := strings.CutPrefix(fn, p); found {
			if rest == "" || strings.ContainsAny(rest, ".()*[]") {
				return "", "", false
			}
			return strings.TrimSuffix(p, "."), rest, true
		}
	}
	return "", "", false
}

// goRaw are the raw entry points: the number is an argument, so the
// function table cannot say which calls go through them (every Go binary
// links them: the os package uses them for a few calls).
var goRaw = map[string]bool{
	"Syscall": true, "Syscall6": true, "RawSyscall": true, "RawSyscall6": true,
	"rawSyscallNoError": true, "RawSyscallNoError": true, "rawVforkSyscall": true,
	"Syscall9": true, "runtime_doAllThreadsSyscall": true, "AllThreadsSyscall": true,
	"AllThreadsSyscall6": true,
}

// goForkExec is what syscall.forkExec does on linux/amd64 (Go 1.21–1.26):
// a pipe to report exec errors, clone (CLONE_VFORK|CLONE_VM; clone3 for
// cgroup fds and pidfds), and in the child the fd shuffling, credentials,
// rlimit restore and execve; the parent reads the pipe and may wait.
var goForkExec = []string{
	"pipe2", "clone", "clone3", "read", "close", "dup3", "fcntl", "execve", "exit",
	"rt_sigprocmask", "setpgid", "setsid", "ioctl", "chdir", "prlimit64", "wait4",
	"waitid", "pidfd_open", "pidfd_send_signal",
}

// goWrappers are the wrappers whose syscall is not their lowercased name
// (Go's *at forms on linux/amd64, renamed or composite calls).
var goWrappers = map[string][]string{
	"Open": {"openat"}, "Creat": {"openat"}, "open": {"openat"}, "Openat": {"openat"}, "openat": {"openat"},
	"Stat": {"newfstatat"}, "Lstat": {"newfstatat"}, "Fstatat": {"newfstatat"}, "fstatat": {"newfstatat"},
	"Fstat": {"fstat", "newfstatat"},
	"Mkdir": {"mkdirat"}, "Rmdir": {"unlinkat"}, "Unlink": {"unlinkat"}, "Unlinkat": {"unlinkat"}, "unlinkat": {"unlinkat"},
	"Rename": {"renameat", "renameat2"}, "Link": {"linkat"}, "Symlink": {"symlinkat"},
	"Readlink": {"readlinkat"}, "readlinkat": {"readlinkat"}, "Chmod": {"fchmodat"}, "Chown": {"fchownat"},
	"Lchown": {"fchownat"}, "Access": {"faccessat", "faccessat2"}, "Faccessat": {"faccessat", "faccessat2"},
	"Eaccess": {"faccessat", "faccessat2"}, "Mknod": {"mknodat"}, "Mkfifo": {"mknodat"},
	"Pipe": {"pipe2"}, "Pipe2": {"pipe2"}, "pipe2": {"pipe2"},
	"Dup2": {"dup2", "dup3"}, "Accept": {"accept4"},
	"Getdents": {"getdents64"}, "ReadDirent": {"getdents64"}, "getdents": {"getdents64"},
	"Seek": {"lseek"}, "Pread": {"pread64"}, "pread": {"pread64"}, "Pwrite": {"pwrite64"}, "pwrite": {"pwrite64"},
	"Getrlimit": {"prlimit64"}, "Setrlimit": {"prlimit64"}, "prlimit1": {"prlimit64"}, "Prlimit": {"prlimit64"}, "prlimit": {"prlimit64"},
	"Utimes": {"utimes", "utimensat"}, "UtimesNano": {"utimensat"}, "Futimes": {"utimes"}, "Futimesat": {"futimesat"},
	"InotifyInit": {"inotify_init", "inotify_init1"}, "EpollCreate": {"epoll_create", "epoll_create1"},
	"EpollWait": {"epoll_wait", "epoll_pwait"}, "Eventfd": {"eventfd2"},
	"Exec": {"execve"}, "ForkExec": goForkExec, "StartProcess": goForkExec, "forkExec": goForkExec,
	"Getpagesize": nil, "Getwd": {"getcwd"}, "Getcwd": {"getcwd"},
	"KernelVersion": {"uname"}, "GetRandom": {"getrandom"}, "PidFDOpen": {"pidfd_open"},
	"PidFDSendSignal": {"pidfd_send_signal"}, "Fcntl": {"fcntl"}, "fcntl": {"fcntl"}, "IsNonblock": {"fcntl"},
	"SetNonblock": {"fcntl"}, "CloseOnExec": {"fcntl"}, "Tcsetpgrp": {"ioctl"}, "Tcgetpgrp": {"ioctl"},
	"MemfdCreate": {"memfd_create"}, "CopyFileRange": {"copy_file_range"}, "PosixFallocate": {"fallocate"},
	"Sendfile": {"sendfile"}, "Sysinfo": {"sysinfo"}, "Time": {"time"}, "Gettimeofday": {"gettimeofday"},
	"Getpgrp": {"getpgrp"}, "Setpgid": {"setpgid"}, "Socketpair": {"socketpair"},
	"Sendto": {"sendto"}, "sendto": {"sendto"}, "Recvfrom": {"recvfrom"}, "recvfrom": {"recvfrom"},
	"Send": {"sendto"}, "Renameat": {"renameat"}, "Renameat2": {"renameat2"},
	"Klogctl": {"syslog"}, "Unmount": {"umount2"}, "Openat2": {"openat2"},
	"Setuid": setxidGo("setuid"), "Setgid": setxidGo("setgid"), "Setreuid": setxidGo("setreuid"),
	"Setregid": setxidGo("setregid"), "Setresuid": setxidGo("setresuid"), "Setresgid": setxidGo("setresgid"),
	"Seteuid": setxidGo("setresuid"), "Setegid": setxidGo("setresgid"), "Setgroups": setxidGo("setgroups"),
}

// setxidGo: Go applies credential changes to every thread (the runtime
// signals each one, which makes the same call).
func setxidGo(name string) []string {
	return []string{name, "tgkill", "getpid", "futex", "rt_sigreturn"}
}

// goPrefixes map wrapper families to their syscall (GetsockoptInt,
// PtraceAttach, IoctlSetTermios, SendmsgN ...).
var goPrefixes = []struct{ prefix, syscall string }{
	{"Getsockopt", "getsockopt"}, {"Setsockopt", "setsockopt"}, {"Ptrace", "ptrace"},
	{"ptrace", "ptrace"}, {"Ioctl", "ioctl"}, {"ioctl", "ioctl"}, {"Sendmsg", "sendmsg"},
	{"sendmsg", "sendmsg"}, {"Recvmsg", "recvmsg"}, {"recvmsg", "recvmsg"}, {"Prctl", "prctl"},
	{"Keyctl", "keyctl"}, {"keyctl", "keyctl"}, {"Bpf", "bpf"}, {"PerfEventOpen", "perf_event_open"},
}

// goRuntime are the calls Go's runtime makes on its own on linux/amd64
// (Go 1.21–1.26, runtime/sys_linux_amd64.s and the netpoller): threads,
// memory, signals, timers and the epoll netpoller. Every Go binary has them.
var goRuntime = []string{
	"read", "write", "openat", "close", "pread64", "mmap", "munmap", "madvise", "mincore",
	"futex", "clone", "exit", "exit_group", "rt_sigaction", "rt_sigprocmask", "rt_sigreturn",
	"sigaltstack", "gettid", "getpid", "tgkill", "nanosleep", "sched_yield", "sched_getaffinity",
	"setitimer", "timer_create", "timer_settime", "timer_delete", "clock_gettime",
	"epoll_create1", "epoll_ctl", "epoll_pwait", "eventfd2", "pipe2", "fcntl", "prlimit64",
	"arch_prctl", "getrandom",
	"prctl", // PR_SET_VMA: names anonymous mappings (Go 1.25+)
}

// goWrapperSyscalls returns the syscalls of wrapper name, and whether name
// is a raw entry point (number unknown).
func goWrapperSyscalls(name string) (calls []string, raw bool) {
	if goRaw[name] {
		return nil, true
	}
	if c, ok := goWrappers[name]; ok {
		return c, false
	}
	for _, p := range goPrefixes {
		if strings.HasPrefix(name, p.prefix) {
			return []string{p.syscall}, false
		}
	}
	if l := strings.ToLower(name); profiles.KnownSyscall(l) {
		if _, ok := profiles.SyscallNumber(profiles.ArchX86_64, l); ok {
			return []string{l}, false
		}
	}
	return nil, false
}
