package elfhints

import (
	"slices"
	"strings"
)

// The libc table: one row per glibc (libc, libpthread, librt, libdl)
// function that can enter the kernel, with every x86_64 syscall it can
// make. Functions that never make a syscall (strlen, memcpy, qsort on a
// warm heap, ...) have no row.
//
// The rows were written from glibc 2.36 (Debian 12) and are held to it by
// TestLibcTableMatchesStrace: testdata/libcprobe.c calls each function
// between markers under `strace -f`, and every syscall strace attributes to
// a function must be in its row. A row may hold more than this machine
// shows, for the paths one run does not take; each such addition is named
// in a comment:
//   - fallbacks inside glibc: clone when clone3 says ENOSYS (pthread_create,
//     posix_spawn, system, popen), the syscall behind a vDSO call when the
//     vDSO is missing (time, gettimeofday, clock_gettime), /dev/urandom when
//     getrandom is missing, posix_fallocate's write loop where fallocate is
//     unsupported;
//   - the other outcome of a call: contention (futex in locks, semaphores,
//     joins), a delivered signal (rt_sigreturn), a name service that answers
//     over a socket (nscd, systemd's nss module, DNS), a fatal error
//     (__*_chk, __stack_chk_fail, assert, abort: the message and SIGABRT).
//
// Memory for malloc (brk, mmap, munmap, mremap, madvise, mprotect) is in
// malloc's rows, not in every row that allocates: the dynamic loader makes
// all of them before main, so every profile learned from a dynamic binary
// already has them.
//
// Older glibc made some of these calls differently (stat and fstat before
// 2.33, pipe, select, nanosleep): those are siblings in the profile's
// syscall families, which learn widens to; the table does not repeat them.
var libcTable = map[string][]string{
	// files and descriptors
	"open":            {"openat"},
	"open64":          {"openat"},
	"openat":          {"openat"},
	"openat64":        {"openat"},
	"creat":           {"creat"},
	"creat64":         {"creat"},
	"close":           {"close"},
	"close_range":     {"close_range"},
	"closefrom":       {"close_range", "openat", "getdents64", "close"}, // /proc/self/fd walk without close_range
	"read":            {"read"},
	"write":           {"write"},
	"pread":           {"pread64"},
	"pread64":         {"pread64"},
	"pwrite":          {"pwrite64"},
	"pwrite64":        {"pwrite64"},
	"readv":           {"readv"},
	"writev":          {"writev"},
	"preadv":          {"preadv"},
	"preadv64":        {"preadv"},
	"pwritev":         {"pwritev"},
	"pwritev64":       {"pwritev"},
	"preadv2":         {"preadv2"},
	"pwritev2":        {"pwritev2"},
	"lseek":           {"lseek"},
	"lseek64":         {"lseek"},
	"fsync":           {"fsync"},
	"fdatasync":       {"fdatasync"},
	"sync":            {"sync"},
	"syncfs":          {"syncfs"},
	"sync_file_range": {"sync_file_range"},
	"ftruncate":       {"ftruncate"},
	"ftruncate64":     {"ftruncate"},
	"truncate":        {"truncate"},
	"truncate64":      {"truncate"},
	"fallocate":       {"fallocate"},
	"fallocate64":     {"fallocate"},
	// Where the filesystem cannot fallocate, glibc writes a byte per block
	// after fstatfs/fstat.
	"posix_fallocate":        {"fallocate", "fstatfs", "newfstatat", "pwrite64"},
	"posix_fallocate64":      {"fallocate", "fstatfs", "newfstatat", "pwrite64"},
	"posix_fadvise":          {"fadvise64"},
	"posix_fadvise64":        {"fadvise64"},
	"readahead":              {"readahead"},
	"fstat":                  {"newfstatat"},
	"fstat64":                {"newfstatat"},
	"stat":                   {"newfstatat"},
	"stat64":                 {"newfstatat"},
	"lstat":                  {"newfstatat"},
	"lstat64":                {"newfstatat"},
	"fstatat":                {"newfstatat"},
	"fstatat64":              {"newfstatat"},
	"__fxstat":               {"newfstatat"},
	"__fxstat64":             {"newfstatat"},
	"__xstat":                {"newfstatat"},
	"__xstat64":              {"newfstatat"},
	"__lxstat":               {"newfstatat"},
	"__lxstat64":             {"newfstatat"},
	"__fxstatat":             {"newfstatat"},
	"__fxstatat64":           {"newfstatat"},
	"statx":                  {"statx"},
	"statfs":                 {"statfs"},
	"statfs64":               {"statfs"},
	"fstatfs":                {"fstatfs"},
	"fstatfs64":              {"fstatfs"},
	"statvfs":                {"statfs"},
	"statvfs64":              {"statfs"},
	"fstatvfs":               {"fstatfs"},
	"fstatvfs64":             {"fstatfs"},
	"access":                 {"access"},
	"faccessat":              {"faccessat2", "faccessat"}, // faccessat when the kernel lacks faccessat2 (5.8)
	"euidaccess":             {"getuid", "geteuid", "getgid", "getegid", "newfstatat", "faccessat2", "faccessat", "access"},
	"eaccess":                {"getuid", "geteuid", "getgid", "getegid", "newfstatat", "faccessat2", "faccessat", "access"},
	"flock":                  {"flock"},
	"lockf":                  {"fcntl"},
	"lockf64":                {"fcntl"},
	"fcntl":                  {"fcntl"},
	"fcntl64":                {"fcntl"},
	"dup":                    {"dup"},
	"dup2":                   {"dup2"},
	"dup3":                   {"dup3"},
	"fchmod":                 {"fchmod"},
	"fchmodat":               {"fchmodat"},
	"chmod":                  {"chmod"},
	"fchown":                 {"fchown"},
	"chown":                  {"chown"},
	"lchown":                 {"lchown"},
	"fchownat":               {"fchownat"},
	"isatty":                 {"ioctl"},
	"ioctl":                  {"ioctl"},
	"tcgetattr":              {"ioctl"},
	"tcsetattr":              {"ioctl"},
	"tcflush":                {"ioctl"},
	"tcgetpgrp":              {"ioctl"},
	"tcsetpgrp":              {"ioctl"},
	"ttyname":                {"readlink", "newfstatat", "ioctl", "openat", "getdents64", "close"}, // searches /dev/pts when /proc is missing
	"ttyname_r":              {"readlink", "newfstatat", "ioctl", "openat", "getdents64", "close"},
	"getxattr":               {"getxattr"},
	"lgetxattr":              {"lgetxattr"},
	"fgetxattr":              {"fgetxattr"},
	"setxattr":               {"setxattr"},
	"lsetxattr":              {"lsetxattr"},
	"fsetxattr":              {"fsetxattr"},
	"listxattr":              {"listxattr"},
	"llistxattr":             {"llistxattr"},
	"flistxattr":             {"flistxattr"},
	"removexattr":            {"removexattr"},
	"fremovexattr":           {"fremovexattr"},
	"link":                   {"link"},
	"linkat":                 {"linkat"},
	"rename":                 {"rename"},
	"renameat":               {"renameat"},
	"renameat2":              {"renameat2", "renameat"}, // renameat when flags are 0
	"symlink":                {"symlink"},
	"symlinkat":              {"symlinkat"},
	"readlink":               {"readlink"},
	"readlinkat":             {"readlinkat"},
	"realpath":               {"getcwd", "readlink", "newfstatat"}, // newfstatat: glibc before 2.33
	"canonicalize_file_name": {"getcwd", "readlink", "newfstatat"},
	"unlink":                 {"unlink"},
	"unlinkat":               {"unlinkat"},
	"remove":                 {"unlink", "rmdir"}, // rmdir when unlink says EISDIR
	"mkdir":                  {"mkdir"},
	"mkdirat":                {"mkdirat"},
	"rmdir":                  {"rmdir"},
	"mknod":                  {"mknodat"},
	"mknodat":                {"mknodat"},
	"mkfifo":                 {"mknodat"},
	"utime":                  {"utimensat"},
	"utimes":                 {"utimensat"},
	"lutimes":                {"utimensat"},
	"futimes":                {"utimensat"},
	"utimensat":              {"utimensat"},
	"futimens":               {"utimensat"},
	"umask":                  {"umask"},
	"chdir":                  {"chdir"},
	"fchdir":                 {"fchdir"},
	"chroot":                 {"chroot"},
	"getcwd":                 {"getcwd"},
	"get_current_dir_name":   {"getcwd", "newfstatat"},
	"getwd":                  {"getcwd"},
	"opendir":                {"openat", "newfstatat"},
	"fdopendir":              {"newfstatat", "fcntl"},
	"readdir":                {"getdents64"},
	"readdir64":              {"getdents64"},
	"readdir_r":              {"getdents64"},
	"readdir64_r":            {"getdents64"},
	"rewinddir":              {"lseek"},
	"seekdir":                {"lseek"},
	"closedir":               {"close"},
	"scandir":                {"openat", "newfstatat", "getdents64", "close"},
	"scandir64":              {"openat", "newfstatat", "getdents64", "close"},
	"scandirat":              {"openat", "newfstatat", "getdents64", "close"},
	"glob":                   {"openat", "newfstatat", "getdents64", "close"},
	"glob64":                 {"openat", "newfstatat", "getdents64", "close"},
	"nftw":                   {"openat", "newfstatat", "getdents64", "close", "fcntl", "chdir", "fchdir"},
	"nftw64":                 {"openat", "newfstatat", "getdents64", "close", "fcntl", "chdir", "fchdir"},
	"ftw":                    {"openat", "newfstatat", "getdents64", "close", "fcntl"},
	"fts_open":               {"openat", "newfstatat", "getdents64", "close", "fchdir"},
	"fts_read":               {"openat", "newfstatat", "getdents64", "close", "fchdir"},
	"mkstemp":                {"openat", "getrandom"},
	"mkstemp64":              {"openat", "getrandom"},
	"mkostemp":               {"openat", "getrandom"},
	"mkostemp64":             {"openat", "getrandom"},
	"mkstemps":               {"openat", "getrandom"},
	"mkdtemp":                {"mkdir", "getrandom"},
	"tmpfile":                {"openat", "fcntl", "unlink"}, // unlink: a named file where O_TMPFILE is unsupported
	"tmpfile64":              {"openat", "fcntl", "unlink"},
	"pipe":                   {"pipe2"},
	"pipe2":                  {"pipe2"},
	"sendfile":               {"sendfile"},
	"sendfile64":             {"sendfile"},
	"splice":                 {"splice"},
	"tee":                    {"tee"},
	"vmsplice":               {"vmsplice"},
	"copy_file_range":        {"copy_file_range"},
	"memfd_create":           {"memfd_create"},
	"name_to_handle_at":      {"name_to_handle_at"},
	"open_by_handle_at":      {"open_by_handle_at"},
	"fanotify_init":          {"fanotify_init"},
	"fanotify_mark":          {"fanotify_mark"},

	// memory: malloc and friends use brk for the main arena, mmap for big
	// blocks and new arenas, mprotect/madvise to grow and trim them.
	"malloc":         {"brk", "mmap", "munmap", "mprotect", "madvise"},
	"calloc":         {"brk", "mmap", "munmap", "mprotect", "madvise"},
	"realloc":        {"brk", "mmap", "munmap", "mremap", "mprotect", "madvise"},
	"reallocarray":   {"brk", "mmap", "munmap", "mremap", "mprotect", "madvise"},
	"free":           {"brk", "munmap", "madvise"},
	"posix_memalign": {"brk", "mmap", "munmap", "mprotect", "madvise"},
	"aligned_alloc":  {"brk", "mmap", "munmap", "mprotect", "madvise"},
	"memalign":       {"brk", "mmap", "munmap", "mprotect", "madvise"},
	"valloc":         {"brk", "mmap", "munmap", "mprotect", "madvise"},
	"malloc_trim":    {"brk", "madvise"},
	"mmap":           {"mmap"},
	"mmap64":         {"mmap"},
	"munmap":         {"munmap"},
	"mprotect":       {"mprotect"},
	"mremap":         {"mremap"},
	"madvise":        {"madvise"},
	"posix_madvise":  {"madvise"},
	"msync":          {"msync"},
	"mincore":        {"mincore"},
	"mlock":          {"mlock"},
	"mlock2":         {"mlock2", "mlock"}, // mlock when flags are 0
	"munlock":        {"munlock"},
	"mlockall":       {"mlockall"},
	"munlockall":     {"munlockall"},
	"brk":            {"brk"},
	"sbrk":           {"brk"},
	"shm_open":       {"openat"},
	"shm_unlink":     {"unlink"},
	"shmget":         {"shmget"},
	"shmat":          {"shmat"},
	"shmdt":          {"shmdt"},
	"shmctl":         {"shmctl"},
	"semget":         {"semget"},
	"semop":          {"semtimedop"},
	"semtimedop":     {"semtimedop"},
	"semctl":         {"semctl"},
	"msgget":         {"msgget"},
	"msgsnd":         {"msgsnd"},
	"msgrcv":         {"msgrcv"},
	"msgctl":         {"msgctl"},

	// process identity and limits
	"getpid":                 {"getpid"},
	"getppid":                {"getppid"},
	"gettid":                 {"gettid"},
	"getuid":                 {"getuid"},
	"geteuid":                {"geteuid"},
	"getgid":                 {"getgid"},
	"getegid":                {"getegid"},
	"getresuid":              {"getresuid"},
	"getresgid":              {"getresgid"},
	"getgroups":              {"getgroups"},
	"getpgrp":                {"getpgrp"},
	"getpgid":                {"getpgid"},
	"getsid":                 {"getsid"},
	"setsid":                 {"setsid"},
	"setpgid":                {"setpgid"},
	"setpgrp":                {"setpgid"},
	"getrlimit":              {"prlimit64"},
	"getrlimit64":            {"prlimit64"},
	"setrlimit":              {"prlimit64"},
	"setrlimit64":            {"prlimit64"},
	"prlimit":                {"prlimit64"},
	"prlimit64":              {"prlimit64"},
	"getrusage":              {"getrusage"},
	"times":                  {"times"},
	"clock":                  {"clock_gettime"},
	"prctl":                  {"prctl"},
	"personality":            {"personality"},
	"capget":                 {"capget"},
	"capset":                 {"capset"},
	"sched_getaffinity":      {"sched_getaffinity"},
	"sched_setaffinity":      {"sched_setaffinity"},
	"pthread_setaffinity_np": {"sched_setaffinity"},
	"pthread_getaffinity_np": {"sched_getaffinity"},
	"sched_yield":            {"sched_yield"},
	"sched_getparam":         {"sched_getparam"},
	"sched_setparam":         {"sched_setparam"},
	"sched_getscheduler":     {"sched_getscheduler"},
	"sched_setscheduler":     {"sched_setscheduler"},
	"sched_get_priority_max": {"sched_get_priority_max"},
	"sched_get_priority_min": {"sched_get_priority_min"},
	"sched_getcpu":           {"getcpu"}, // vDSO normally
	"getpriority":            {"getpriority"},
	"setpriority":            {"setpriority"},
	"nice":                   {"getpriority", "setpriority"},
	"uname":                  {"uname"},
	"gethostname":            {"uname"},
	"getdomainname":          {"uname"},
	"sethostname":            {"sethostname"},
	// sysconf(_SC_NPROCESSORS_*) reads /sys/devices/system/cpu (a directory
	// walk for _CONF), _SC_OPEN_MAX asks prlimit64, _SC_PHYS_PAGES sysinfo.
	"sysconf":          {"openat", "read", "close", "newfstatat", "getdents64", "prlimit64", "sysinfo", "sched_getaffinity"},
	"__sysconf":        {"openat", "read", "close", "newfstatat", "getdents64", "prlimit64", "sysinfo", "sched_getaffinity"},
	"get_nprocs":       {"openat", "read", "close", "sched_getaffinity"},
	"get_nprocs_conf":  {"openat", "read", "close", "newfstatat", "getdents64"},
	"get_phys_pages":   {"sysinfo"},
	"get_avphys_pages": {"sysinfo"},
	"sysinfo":          {"sysinfo"},
	"getloadavg":       {"sysinfo"},
	"getentropy":       {"getrandom"},
	"getrandom":        {"getrandom"},
	// arc4random falls back to /dev/urandom without getrandom (kernel < 3.17).
	"arc4random":         {"getrandom", "openat", "read", "close", "poll"},
	"arc4random_buf":     {"getrandom", "openat", "read", "close", "poll"},
	"arc4random_uniform": {"getrandom", "openat", "read", "close", "poll"},
	// vDSO calls: the syscall only when the vDSO is missing.
	"time":             {"time"},
	"gettimeofday":     {"gettimeofday"},
	"clock_gettime":    {"clock_gettime"},
	"clock_getres":     {"clock_getres"},
	"clock_settime":    {"clock_settime"},
	"settimeofday":     {"settimeofday"},
	"stime":            {"settimeofday"},
	"adjtimex":         {"adjtimex"},
	"clock_adjtime":    {"clock_adjtime"},
	"nanosleep":        {"clock_nanosleep"},
	"clock_nanosleep":  {"clock_nanosleep"},
	"usleep":           {"clock_nanosleep"},
	"sleep":            {"clock_nanosleep"},
	"alarm":            {"alarm"},
	"setitimer":        {"setitimer"},
	"getitimer":        {"getitimer"},
	"timer_create":     {"timer_create", "clone3", "clone", "mmap", "mprotect", "rt_sigprocmask", "set_robust_list", "rseq", "futex"}, // SIGEV_THREAD starts a helper thread
	"timer_settime":    {"timer_settime"},
	"timer_gettime":    {"timer_gettime"},
	"timer_getoverrun": {"timer_getoverrun"},
	"timer_delete":     {"timer_delete"},
	"timerfd_create":   {"timerfd_create"},
	"timerfd_settime":  {"timerfd_settime"},
	"timerfd_gettime":  {"timerfd_gettime"},
	// Time zones: the first conversion reads /etc/localtime (or $TZ), later
	// ones stat it to see whether it changed.
	"tzset":       tzRead,
	"localtime":   tzRead,
	"localtime_r": tzRead,
	"mktime":      tzRead,
	"timelocal":   tzRead,
	"ctime":       tzRead,
	"ctime_r":     tzRead,
	"strftime":    tzRead,
	"strftime_l":  tzRead,

	// signals
	"sigaction":       {"rt_sigaction"},
	"signal":          {"rt_sigaction"},
	"bsd_signal":      {"rt_sigaction"},
	"sysv_signal":     {"rt_sigaction"},
	"sigset":          {"rt_sigaction", "rt_sigprocmask"},
	"siginterrupt":    {"rt_sigaction"},
	"sigprocmask":     {"rt_sigprocmask"},
	"pthread_sigmask": {"rt_sigprocmask"},
	"sigpending":      {"rt_sigpending"},
	"sigsuspend":      {"rt_sigsuspend", "rt_sigreturn"},
	"pause":           {"pause", "rt_sigreturn"},
	"sigwait":         {"rt_sigtimedwait"},
	"sigwaitinfo":     {"rt_sigtimedwait"},
	"sigtimedwait":    {"rt_sigtimedwait"},
	"sigaltstack":     {"sigaltstack"},
	"sigsetjmp":       {"rt_sigprocmask"},
	"__sigsetjmp":     {"rt_sigprocmask"},
	"siglongjmp":      {"rt_sigprocmask"},
	"longjmp":         {"rt_sigprocmask"},
	"_longjmp":        {"rt_sigprocmask"},
	// __longjmp_chk checks it does not jump onto another signal stack.
	"__longjmp_chk": {"rt_sigprocmask", "sigaltstack"},
	// A signal sent to oneself is delivered before the call returns: the
	// handler's return is rt_sigreturn.
	"raise":             {"getpid", "gettid", "tgkill", "rt_sigprocmask", "rt_sigreturn"},
	"kill":              {"kill", "rt_sigreturn"},
	"killpg":            {"kill", "rt_sigreturn"},
	"pthread_kill":      {"getpid", "gettid", "tgkill", "rt_sigprocmask", "rt_sigreturn"},
	"tgkill":            {"tgkill"},
	"sigqueue":          {"getpid", "getuid", "rt_sigqueueinfo", "rt_sigreturn"},
	"signalfd":          {"signalfd4"},
	"abort":             fatal,
	"pidfd_open":        {"pidfd_open"},
	"pidfd_send_signal": {"pidfd_send_signal"},
	"pidfd_getfd":       {"pidfd_getfd"},

	// waiting for I/O and events
	"poll":              {"poll"},
	"ppoll":             {"ppoll"},
	"select":            {"pselect6"},
	"pselect":           {"pselect6"},
	"epoll_create":      {"epoll_create"},
	"epoll_create1":     {"epoll_create1"},
	"epoll_ctl":         {"epoll_ctl"},
	"epoll_wait":        {"epoll_wait"},
	"epoll_pwait":       {"epoll_pwait"},
	"epoll_pwait2":      {"epoll_pwait2"},
	"eventfd":           {"eventfd2"},
	"eventfd_read":      {"read"},
	"eventfd_write":     {"write"},
	"inotify_init":      {"inotify_init"},
	"inotify_init1":     {"inotify_init1"},
	"inotify_add_watch": {"inotify_add_watch"},
	"inotify_rm_watch":  {"inotify_rm_watch"},
	"io_setup":          {"io_setup"},
	"io_submit":         {"io_submit"},
	"io_getevents":      {"io_getevents"},
	"io_destroy":        {"io_destroy"},
	// POSIX AIO runs the I/O on helper threads.
	"aio_read":    {"clone3", "clone", "mmap", "mprotect", "rt_sigprocmask", "set_robust_list", "rseq", "futex", "pread64"},
	"aio_write":   {"clone3", "clone", "mmap", "mprotect", "rt_sigprocmask", "set_robust_list", "rseq", "futex", "pwrite64"},
	"aio_suspend": {"futex"},

	// sockets
	"socket":      {"socket"},
	"socketpair":  {"socketpair"},
	"bind":        {"bind"},
	"listen":      {"listen"},
	"accept":      {"accept"},
	"accept4":     {"accept4"},
	"connect":     {"connect"},
	"shutdown":    {"shutdown"},
	"getsockname": {"getsockname"},
	"getpeername": {"getpeername"},
	"getsockopt":  {"getsockopt"},
	"setsockopt":  {"setsockopt"},
	"send":        {"sendto"},
	"sendto":      {"sendto"},
	"sendmsg":     {"sendmsg"},
	"sendmmsg":    {"sendmmsg"},
	"recv":        {"recvfrom"},
	"recvfrom":    {"recvfrom"},
	"recvmsg":     {"recvmsg"},
	"recvmmsg":    {"recvmmsg"},
	// Name resolution: files (/etc/hosts, nsswitch.conf, resolv.conf,
	// gai.conf), nscd's socket, DNS over UDP/TCP, and for AI_ADDRCONFIG the
	// interface addresses over netlink.
	"getaddrinfo":      resolver,
	"getnameinfo":      resolver,
	"gethostbyname":    resolver,
	"gethostbyname2":   resolver,
	"gethostbyname_r":  resolver,
	"gethostbyname2_r": resolver,
	"gethostbyaddr":    resolver,
	"gethostbyaddr_r":  resolver,
	"res_init":         resolver,
	"res_query":        resolver,
	"res_search":       resolver,
	"__res_init":       resolver,
	"getservbyname":    nss,
	"getservbyname_r":  nss,
	"getservbyport":    nss,
	"getprotobyname":   nss,
	"getprotobynumber": nss,
	"getifaddrs":       {"socket", "bind", "getsockname", "sendto", "recvmsg", "close"},
	"if_nametoindex":   {"socket", "ioctl", "close"},
	"if_indextoname":   {"socket", "ioctl", "close"},
	"if_nameindex":     {"socket", "bind", "getsockname", "sendto", "recvmsg", "close"},

	// users and groups (files, nscd, systemd's nss module over varlink)
	"getpwnam":     nss,
	"getpwnam_r":   nss,
	"getpwuid":     nss,
	"getpwuid_r":   nss,
	"getpwent":     nss,
	"getgrnam":     nss,
	"getgrnam_r":   nss,
	"getgrgid":     nss,
	"getgrgid_r":   nss,
	"getgrent":     nss,
	"getspnam":     nss,
	"getspnam_r":   nss,
	"getgrouplist": nss,
	"initgroups":   append(slices.Clone(nss), "setgroups"),
	"getlogin":     {"openat", "read", "close"},
	"getlogin_r":   {"openat", "read", "close"},
	"cuserid":      nss,
	// set*id in a threaded process signals every thread to change too.
	"setuid":    setxid("setuid"),
	"setgid":    setxid("setgid"),
	"seteuid":   setxid("setresuid"),
	"setegid":   setxid("setresgid"),
	"setreuid":  setxid("setreuid"),
	"setregid":  setxid("setregid"),
	"setresuid": setxid("setresuid"),
	"setresgid": setxid("setresgid"),
	"setgroups": setxid("setgroups"),
	"setfsuid":  {"setfsuid"},
	"setfsgid":  {"setfsgid"},

	// processes
	"fork":   {"clone", "set_robust_list"},
	"_Fork":  {"clone", "set_robust_list"},
	"vfork":  {"vfork"},
	"clone":  {"clone"},
	"clone3": {"clone3"},
	"daemon": {"clone", "set_robust_list", "setsid", "chdir", "openat", "newfstatat", "dup2", "close", "exit_group"},
	// posix_spawn: clone3 (CLONE_VM|CLONE_VFORK), clone where clone3 says
	// ENOSYS; the child resets signals and exec's.
	"posix_spawn":       spawn,
	"posix_spawnp":      spawn,
	"system":            append(slices.Clone(spawn), "wait4"),
	"popen":             append(slices.Clone(spawn), "pipe2", "dup2", "close", "fcntl", "prlimit64"),
	"pclose":            {"close", "wait4"},
	"execve":            {"execve"},
	"execv":             {"execve"},
	"execvp":            {"execve"},
	"execvpe":           {"execve"},
	"execl":             {"execve"},
	"execlp":            {"execve"},
	"execle":            {"execve"},
	"fexecve":           {"execveat", "execve"},
	"execveat":          {"execveat"},
	"wait":              {"wait4"},
	"waitpid":           {"wait4"},
	"wait3":             {"wait4"},
	"wait4":             {"wait4"},
	"waitid":            {"waitid"},
	"exit":              {"exit_group"},
	"_exit":             {"exit_group"},
	"_Exit":             {"exit_group"},
	"quick_exit":        {"exit_group"},
	"ptrace":            {"ptrace"},
	"process_vm_readv":  {"process_vm_readv"},
	"process_vm_writev": {"process_vm_writev"},
	"unshare":           {"unshare"},
	"setns":             {"setns"},
	"mount":             {"mount"},
	"umount":            {"umount2"},
	"umount2":           {"umount2"},
	"pivot_root":        {"pivot_root"},
	"reboot":            {"reboot"},
	"swapon":            {"swapon"},
	"swapoff":           {"swapoff"},
	"init_module":       {"init_module"},
	"finit_module":      {"finit_module"},
	"delete_module":     {"delete_module"},
	"iopl":              {"iopl"},
	"ioperm":            {"ioperm"},
	"acct":              {"acct"},
	"quotactl":          {"quotactl"},
	"klogctl":           {"syslog"},
	"vhangup":           {"vhangup"},
	"syscall":           nil, // raw: any number; see Hints

	// threads: a new thread maps its stack with a guard page, the thread
	// itself registers its robust list and rseq area, and gives back its
	// stack (madvise) and exits. clone when clone3 says ENOSYS.
	"pthread_create":             {"clone3", "clone", "mmap", "mprotect", "munmap", "madvise", "rt_sigprocmask", "rt_sigaction", "set_robust_list", "rseq", "futex", "exit"},
	"pthread_join":               {"futex"},
	"pthread_timedjoin_np":       {"futex"},
	"pthread_tryjoin_np":         {"futex"},
	"pthread_detach":             {"futex"},
	"pthread_exit":               {"madvise", "munmap", "futex", "rt_sigprocmask", "exit"},
	"pthread_cancel":             {"getpid", "gettid", "tgkill", "rt_sigaction", "futex", "madvise", "exit"},
	"pthread_testcancel":         {"madvise", "futex", "exit"},
	"pthread_once":               {"futex"},
	"pthread_mutex_lock":         {"futex"},
	"pthread_mutex_timedlock":    {"futex"},
	"pthread_mutex_unlock":       {"futex"},
	"pthread_mutex_trylock":      {"futex"},
	"pthread_mutex_consistent":   {"futex"},
	"pthread_cond_wait":          {"futex"},
	"pthread_cond_timedwait":     {"futex"},
	"pthread_cond_clockwait":     {"futex"},
	"pthread_cond_signal":        {"futex"},
	"pthread_cond_broadcast":     {"futex"},
	"pthread_rwlock_rdlock":      {"futex"},
	"pthread_rwlock_wrlock":      {"futex"},
	"pthread_rwlock_unlock":      {"futex"},
	"pthread_rwlock_timedrdlock": {"futex"},
	"pthread_rwlock_timedwrlock": {"futex"},
	"pthread_barrier_wait":       {"futex"},
	"pthread_spin_lock":          nil,
	"sem_wait":                   {"futex"},
	"sem_timedwait":              {"futex"},
	"sem_clockwait":              {"futex"},
	"sem_post":                   {"futex"},
	"sem_open":                   {"openat", "newfstatat", "mmap", "close", "write", "link", "unlink", "getrandom"},
	"sem_close":                  {"munmap"},
	"sem_unlink":                 {"unlink"},
	"pthread_setname_np":         {"prctl", "openat", "write", "close"}, // another thread's: /proc/self/task/TID/comm
	"pthread_getname_np":         {"prctl", "openat", "read", "close"},
	"pthread_getattr_np":         {"openat", "read", "close", "newfstatat", "prlimit64", "sched_getaffinity"},
	"pthread_setschedparam":      {"sched_setscheduler"},
	"pthread_getschedparam":      {"sched_getscheduler", "sched_getparam"},
	"pthread_setschedprio":       {"sched_setparam"},
	"pthread_atfork":             nil,

	// stdio: a stream's buffer is sized from fstat on first use.
	"fopen":            {"openat"},
	"fopen64":          {"openat"},
	"fdopen":           {"fcntl"},
	"freopen":          {"openat", "close", "dup3", "lseek", "fcntl"},
	"freopen64":        {"openat", "close", "dup3", "lseek", "fcntl"},
	"fclose":           stdioWrite,
	"fflush":           {"write", "lseek"},
	"fflush_unlocked":  {"write", "lseek"},
	"fread":            stdioRead,
	"fread_unlocked":   stdioRead,
	"fgets":            stdioRead,
	"fgets_unlocked":   stdioRead,
	"fgetc":            stdioRead,
	"getc":             stdioRead,
	"getc_unlocked":    stdioRead,
	"getchar":          stdioRead,
	"getline":          stdioRead,
	"getdelim":         stdioRead,
	"__getdelim":       stdioRead,
	"fscanf":           stdioRead,
	"scanf":            stdioRead,
	"vfscanf":          stdioRead,
	"__isoc99_fscanf":  stdioRead,
	"__isoc99_scanf":   stdioRead,
	"__uflow":          stdioRead,
	"fseek":            {"lseek", "write", "newfstatat"},
	"fseeko":           {"lseek", "write", "newfstatat"},
	"fseeko64":         {"lseek", "write", "newfstatat"},
	"fsetpos":          {"lseek", "write", "newfstatat"},
	"rewind":           {"lseek", "write", "newfstatat"},
	"ftell":            {"lseek"},
	"ftello":           {"lseek"},
	"ftello64":         {"lseek"},
	"fgetpos":          {"lseek"},
	"fwrite":           stdioWrite,
	"fwrite_unlocked":  stdioWrite,
	"fputs":            stdioWrite,
	"fputs_unlocked":   stdioWrite,
	"fputc":            stdioWrite,
	"fputc_unlocked":   stdioWrite,
	"putc":             stdioWrite,
	"putc_unlocked":    stdioWrite,
	"putchar":          stdioWrite,
	"putchar_unlocked": stdioWrite,
	"puts":             stdioWrite,
	"printf":           stdioWrite,
	"fprintf":          stdioWrite,
	"vprintf":          stdioWrite,
	"vfprintf":         stdioWrite,
	"dprintf":          {"write", "newfstatat", "lseek"},
	"vdprintf":         {"write", "newfstatat", "lseek"},
	"__overflow":       stdioWrite,
	"perror":           {"write", "newfstatat", "dup", "fcntl", "close", "lseek"},
	"psignal":          {"write", "newfstatat"},
	"tmpnam":           {"newfstatat", "getrandom"},
	"setvbuf":          nil,
	"setbuf":           nil,

	// dynamic loading: mapping a library and running its constructors
	// (they may take the loader lock: futex).
	"dlopen":  dlLoad,
	"dlmopen": dlLoad,
	"dlclose": {"munmap", "futex"},
	"dlsym":   {"futex"},
	"dlvsym":  {"futex"},
	// backtrace loads libgcc_s on first use to unwind.
	"backtrace":            dlLoad,
	"backtrace_symbols_fd": {"writev"},

	// locales and messages: locale archive, .mo catalogs
	"setlocale":               localeLoad,
	"newlocale":               localeLoad,
	"dcgettext":               localeLoad,
	"dcngettext":              localeLoad,
	"dgettext":                localeLoad,
	"dngettext":               localeLoad,
	"gettext":                 localeLoad,
	"ngettext":                localeLoad,
	"bindtextdomain":          nil,
	"bind_textdomain_codeset": nil,
	"textdomain":              nil,
	"strerror":                localeLoad, // translated messages: dcgettext
	"strerror_r":              localeLoad,
	"__xpg_strerror_r":        localeLoad,
	"strsignal":               localeLoad,
	"gai_strerror":            localeLoad,
	"iconv_open":              dlLoad,

	// syslog: /dev/log datagram socket; when it is unreachable with
	// LOG_CONS, the console.
	"openlog":       {"socket", "connect", "close"},
	"syslog":        syslogSend,
	"vsyslog":       syslogSend,
	"__syslog_chk":  syslogSend,
	"__vsyslog_chk": syslogSend,
	"closelog":      {"close"},

	// fatal paths: the message goes to stderr (writev), then abort.
	"__stack_chk_fail":     fatal,
	"__chk_fail":           fatal,
	"__fortify_fail":       fatal,
	"__assert_fail":        fatal,
	"__assert_perror_fail": fatal,
	"__assert":             fatal,
}

// Shared row contents (each still named in every row that uses it).
var (
	tzRead     = []string{"openat", "newfstatat", "read", "lseek", "close"}
	stdioRead  = []string{"read", "newfstatat", "lseek"}
	stdioWrite = []string{"write", "newfstatat", "lseek", "close"}
	dlLoad     = []string{"openat", "read", "newfstatat", "mmap", "mprotect", "munmap", "close", "futex"}
	localeLoad = []string{"openat", "read", "newfstatat", "mmap", "munmap", "close", "futex"}
	spawn      = []string{"clone3", "clone", "mmap", "munmap", "rt_sigaction", "rt_sigprocmask", "execve", "exit_group"}
	syslogSend = []string{"socket", "connect", "sendto", "close", "getpid", "openat", "newfstatat", "read", "lseek", "write"}
	// nss: files, nscd over a unix socket (connect fails quickly without
	// it), dlopen'ed modules such as libnss_systemd (varlink: sendto,
	// recvfrom, ppoll, getrandom for its ids).
	nss = []string{
		"openat", "read", "newfstatat", "lseek", "close", "mmap", "mprotect", "munmap", "futex",
		"socket", "connect", "sendto", "sendmsg", "recvfrom", "recvmsg", "poll", "ppoll", "getrandom",
		"getpid", "rt_sigprocmask", "prctl", "fcntl", "getsockopt",
	}
	// resolver: nss (files, mdns/dns modules) plus DNS over UDP and TCP and
	// the netlink dump behind AI_ADDRCONFIG.
	resolver = append(slices.Clone(nss),
		"uname", "bind", "getsockname", "setsockopt", "sendmmsg", "ioctl", "writev", "clock_gettime")
	// fatal: glibc's fatal message (writev to stderr, or /dev/tty; a buffer
	// from mmap), then abort: unblock SIGABRT, tgkill itself, reset the
	// handler and try again, and exit_group if even that returns.
	fatal = []string{"writev", "write", "openat", "mmap", "getpid", "gettid", "tgkill", "rt_sigprocmask", "rt_sigaction", "exit_group"}
)

// setxid: the call itself, plus the SIGSETXID broadcast to other threads
// of a threaded process (each thread changes its own credentials).
func setxid(name string) []string {
	return []string{name, "tgkill", "getpid", "futex", "rt_sigreturn"}
}

// aliases are exported names that are the same function as a row.
var aliases = map[string]string{
	"__open":           "open",
	"__open64":         "open64",
	"__read":           "read",
	"__write":          "write",
	"__close":          "close",
	"__connect":        "connect",
	"__send":           "send",
	"__recv":           "recv",
	"__poll":           "poll",
	"__select":         "select",
	"__fork":           "fork",
	"__libc_fork":      "fork",
	"__sigaction":      "sigaction",
	"__sysv_signal":    "sysv_signal",
	"__xpg_sigpause":   "pause",
	"sigpause":         "pause",
	"__isoc99_vfscanf": "vfscanf",
	"__getpagesize":    "",
	"__pthread_create": "pthread_create",
	"__nanosleep":      "nanosleep",
	"__sched_yield":    "sched_yield",
	"__getpid":         "getpid",
	"__wait":           "wait",
	"__waitpid":        "waitpid",
	"__fcntl":          "fcntl",
	"__lseek":          "lseek",
	"__pread64":        "pread64",
	"__pwrite64":       "pwrite64",
	"__mmap":           "mmap",
	"__munmap":         "munmap",
	"__mprotect":       "mprotect",
	"__madvise":        "madvise",
	"__sigsuspend":     "sigsuspend",
	"__sigsetjmp":      "sigsetjmp",
	"__errno_location": "",
}

// LibcFunction returns the syscalls glibc's function name (an import's
// symbol name, without version) can make, and whether the table knows it
// as one that enters the kernel. The fortified __NAME_chk variants are
// NAME plus the fatal path their checks end in.
func LibcFunction(name string) ([]string, bool) {
	if a, ok := aliases[name]; ok {
		if a == "" {
			return nil, false
		}
		name = a
	}
	if row, ok := libcTable[name]; ok {
		return row, row != nil
	}
	if base, ok := strings.CutSuffix(name, "_chk"); ok && strings.HasPrefix(base, "__") {
		base = strings.TrimPrefix(base, "__")
		row, ok := libcTable[base]
		if !ok {
			row, ok = libcTable["__"+base]
		}
		out := slices.Clone(fatal)
		if ok {
			out = append(out, row...)
		}
		slices.Sort(out)
		return slices.Compact(out), true
	}
	return nil, false
}

// LibcFunctions lists the functions with a row, sorted.
func LibcFunctions() []string {
	var out []string
	for n, r := range libcTable {
		if r != nil {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}
