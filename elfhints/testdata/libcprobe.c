/* libcprobe calls glibc functions one by one between markers, so that
 * `strace -f` shows which syscalls each makes on this machine. A marker is
 * a raw write(-1, "@@B name") / write(-1, "@@E") that fails with EBADF;
 * a child marks "@@X" when the function it ran is over (the rest is the
 * child's own exit). Run it in an empty scratch directory (argv[1]) as
 * root. Used by libc_strace_test.go, which holds the table to it. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <execinfo.h>
#include <fcntl.h>
#include <glob.h>
#include <grp.h>
#include <ifaddrs.h>
#include <locale.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <sched.h>
#include <semaphore.h>
#include <setjmp.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/sendfile.h>
#include <sys/shm.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>
#include <utime.h>
#include <netinet/in.h>
#include <net/if.h>
#include <sys/times.h>
#include <sys/sysinfo.h>
#include <langinfo.h>
#include <libintl.h>
#include <ftw.h>
#include <iconv.h>
#include <malloc.h>
#include <termios.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/statvfs.h>
#include <sys/timerfd.h>
#include <sys/pidfd.h>

extern char **environ;

static void mark(const char *s) { syscall(SYS_write, -1, s, strlen(s)); }
#define B(n) mark("@@B " n)
#define E() mark("@@E")
/* child_done ends a child's attribution and exits without libc. */
static void child_done(void) { mark("@@X"); syscall(SYS_exit_group, 0); }

extern void __stack_chk_fail(void);
extern void __chk_fail(void);

static void *thread_fn(void *a) { return a; }
static void on_sig(int s) { (void)s; }
static int nftw_cb(const char *p, const struct stat *s, int f, struct FTW *w) { (void)p; (void)s; (void)f; (void)w; return 0; }
static int ftw_cb(const char *p, const struct stat *s, int f) { (void)p; (void)s; (void)f; return 0; }
static sigjmp_buf jb;

int main(int argc, char **argv)
{
	char buf[8192], path[4096];
	struct stat st;
	if (argc < 2 || chdir(argv[1]) != 0)
		return 2;
	/* Its own process group: killpg below signals only the probe. */
	setpgid(0, 0);
	/* Warm up: the first malloc sets up the arena (brk), the first stdio
	 * call on stderr nothing; rows list what a warm process does. */
	free(malloc(100));
	setvbuf(stdout, NULL, _IONBF, 0);

	int fd;
	B("open"); fd = open("f1", O_RDWR | O_CREAT, 0644); E(); close(fd);
	B("open64"); fd = open64("f1", O_RDWR); E(); close(fd);
	B("openat"); fd = openat(AT_FDCWD, "f1", O_RDWR); E(); close(fd);
	B("openat64"); fd = openat64(AT_FDCWD, "f1", O_RDWR); E();
	B("creat"); { int c = creat("f2", 0644); E(); close(c); }
	B("write"); write(fd, "hello\n", 6); E();
	B("lseek"); lseek(fd, 0, SEEK_SET); E();
	B("lseek64"); lseek64(fd, 0, SEEK_SET); E();
	B("read"); read(fd, buf, 6); E();
	struct iovec iov[2] = {{buf, 3}, {buf + 3, 3}};
	B("writev"); writev(fd, iov, 2); E();
	B("readv"); readv(fd, iov, 2); E();
	B("pread"); pread(fd, buf, 6, 0); E();
	B("pread64"); pread64(fd, buf, 6, 0); E();
	B("pwrite"); pwrite(fd, buf, 6, 0); E();
	B("pwrite64"); pwrite64(fd, buf, 6, 0); E();
	B("preadv"); preadv(fd, iov, 2, 0); E();
	B("pwritev"); pwritev(fd, iov, 2, 0); E();
	B("pwritev64"); pwritev64(fd, iov, 2, 0); E();
	B("fsync"); fsync(fd); E();
	B("fdatasync"); fdatasync(fd); E();
	B("syncfs"); syncfs(fd); E();
	B("sync_file_range"); sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE); E();
	B("ftruncate"); ftruncate(fd, 100); E();
	B("ftruncate64"); ftruncate64(fd, 100); E();
	B("truncate"); truncate("f1", 50); E();
	B("truncate64"); truncate64("f1", 50); E();
	B("posix_fallocate"); posix_fallocate(fd, 0, 4096); E();
	B("posix_fadvise"); posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL); E();
	B("posix_fadvise64"); posix_fadvise64(fd, 0, 0, POSIX_FADV_SEQUENTIAL); E();
	B("fstat"); fstat(fd, &st); E();
	B("fstat64"); fstat64(fd, (struct stat64 *)&st); E();
	B("stat"); stat("f1", &st); E();
	B("stat64"); stat64("f1", (struct stat64 *)&st); E();
	B("lstat"); lstat("f1", &st); E();
	B("lstat64"); lstat64("f1", (struct stat64 *)&st); E();
	B("fstatat64"); fstatat64(AT_FDCWD, "f1", (struct stat64 *)&st, 0); E();
	struct statfs sfs;
	B("statfs"); statfs(".", &sfs); E();
	B("statfs64"); statfs64(".", (struct statfs64 *)&sfs); E();
	B("fstatfs"); fstatfs(fd, &sfs); E();
	B("access"); access("f1", R_OK); E();
	B("faccessat"); faccessat(AT_FDCWD, "f1", R_OK, 0); E();
	B("flock"); flock(fd, LOCK_EX); E();
	B("fcntl"); fcntl(fd, F_GETFL); E();
	B("fcntl64"); fcntl64(fd, F_SETFD, FD_CLOEXEC); E();
	int d;
	B("dup"); d = dup(fd); E();
	B("dup2"); dup2(fd, d); E();
	B("dup3"); dup3(fd, d, O_CLOEXEC); E();
	B("close"); close(d); E();
	B("fchmod"); fchmod(fd, 0600); E();
	B("fchown"); fchown(fd, 0, 0); E();
	B("isatty"); isatty(fd); E();
	B("ioctl"); { int n; ioctl(fd, FIONREAD, &n); } E();
	B("getxattr"); getxattr("f1", "user.x", buf, sizeof buf); E();
	B("fgetxattr"); fgetxattr(fd, "user.x", buf, sizeof buf); E();
	B("setxattr"); setxattr("f1", "user.x", "1", 1, 0); E();
	B("chmod"); chmod("f1", 0644); E();
	B("chown"); chown("f1", 0, 0); E();
	B("lchown"); lchown("f1", 0, 0); E();
	B("link"); link("f1", "f3"); E();
	B("linkat"); linkat(AT_FDCWD, "f1", AT_FDCWD, "f4", 0); E();
	B("rename"); rename("f3", "f5"); E();
	B("renameat"); renameat(AT_FDCWD, "f5", AT_FDCWD, "f3"); E();
	B("symlink"); symlink("f1", "s1"); E();
	B("symlinkat"); symlinkat("f1", AT_FDCWD, "s2"); E();
	B("readlink"); readlink("s1", buf, sizeof buf); E();
	B("readlinkat"); readlinkat(AT_FDCWD, "s1", buf, sizeof buf); E();
	B("realpath"); realpath("s1", path); E();
	B("unlink"); unlink("f3"); E();
	B("unlinkat"); unlinkat(AT_FDCWD, "f4", 0); E();
	B("remove"); remove("s2"); E();
	B("mkdir"); mkdir("d1", 0755); E();
	B("mkdirat"); mkdirat(AT_FDCWD, "d2", 0755); E();
	B("rmdir"); rmdir("d2"); E();
	B("utime"); utime("f1", NULL); E();
	B("utimes"); utimes("f1", NULL); E();
	B("utimensat"); utimensat(AT_FDCWD, "f1", NULL, 0); E();
	B("futimens"); futimens(fd, NULL); E();
	B("umask"); umask(022); E();
	B("chdir"); chdir("d1"); E();
	int dfd = open("..", O_RDONLY | O_DIRECTORY);
	B("fchdir"); fchdir(dfd); E();
	B("getcwd"); getcwd(path, sizeof path); E();
	B("get_current_dir_name"); free(get_current_dir_name()); E();
	DIR *dir;
	B("opendir"); dir = opendir("."); E();
	B("readdir"); readdir(dir); E();
	B("closedir"); closedir(dir); E();
	dir = opendir(".");
	B("readdir64"); readdir64(dir); E();
	B("rewinddir"); rewinddir(dir); E();
	B("dirfd"); dirfd(dir); E();
	closedir(dir);
	{ int d2 = dup(dfd); B("fdopendir"); dir = fdopendir(d2); E(); closedir(dir); }
	B("scandir"); { struct dirent **nl; int n = scandir(".", &nl, NULL, alphasort); while (n-- > 0) free(nl[n]); free(nl); } E();
	glob_t g;
	B("glob"); glob("f*", 0, NULL, &g); E();
	B("globfree"); globfree(&g); E();
	glob64_t g64;
	B("glob64"); glob64("f*", 0, NULL, &g64); E();
	B("globfree64"); globfree64(&g64); E();
	B("mkstemp"); { char t[] = "tmpXXXXXX"; int t2 = mkstemp(t); E(); close(t2); unlink(t); }
	B("mkostemp64"); { char t[] = "tmpXXXXXX"; int t2 = mkostemp64(t, O_CLOEXEC); E(); close(t2); unlink(t); }
	B("mkdtemp"); { char t[] = "tmpXXXXXX"; mkdtemp(t); E(); rmdir(t); }
	int p[2];
	B("pipe"); pipe(p); E();
	B("pipe2"); { int q[2]; pipe2(q, O_CLOEXEC); E(); close(q[0]); close(q[1]); }
	int sfd = open("f1", O_RDONLY);
	B("sendfile"); sendfile(p[1], sfd, NULL, 10); E();
	B("sendfile64"); sendfile64(p[1], sfd, NULL, 10); E();
	{ int s2 = open("f2", O_WRONLY); B("splice"); splice(p[0], NULL, s2, NULL, 10, 0); E(); close(s2); }
	{ int q[2]; pipe(q); B("tee"); tee(p[0], q[1], 1, SPLICE_F_NONBLOCK); E(); close(q[0]); close(q[1]); }
	{ int s2 = open("f2", O_WRONLY); B("copy_file_range"); copy_file_range(sfd, NULL, s2, NULL, 4, 0); E(); close(s2); }
	close(sfd);


	/* more wrappers and variants */
	{
		struct statx sx;
		B("statx"); statx(AT_FDCWD, "f1", 0, STATX_BASIC_STATS, &sx); E();
		struct statvfs sv;
		B("statvfs"); statvfs(".", &sv); E();
		B("fstatvfs"); fstatvfs(fd, &sv); E();
		B("statvfs64"); statvfs64(".", (struct statvfs64 *)&sv); E();
		B("fstatfs64"); fstatfs64(fd, (struct statfs64 *)&sfs); E();
		B("memfd_create"); { int mf = memfd_create("probe", MFD_CLOEXEC); E(); close(mf); }
		int tf;
		B("timerfd_create"); tf = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC); E();
		struct itimerspec its = {0};
		B("timerfd_settime"); timerfd_settime(tf, 0, &its, NULL); E();
		B("timerfd_gettime"); timerfd_gettime(tf, &its); E();
		close(tf);
		uid_t ru, eu, su;
		B("getresuid"); getresuid(&ru, &eu, &su); E();
		B("getresgid"); getresgid((gid_t *)&ru, (gid_t *)&eu, (gid_t *)&su); E();
		B("getpgid"); getpgid(0); E();
		struct sched_param sp;
		B("sched_getparam"); sched_getparam(0, &sp); E();
		B("sched_getscheduler"); sched_getscheduler(0); E();
		B("sched_get_priority_max"); sched_get_priority_max(SCHED_FIFO); E();
		B("sched_get_priority_min"); sched_get_priority_min(SCHED_FIFO); E();
		B("sched_getcpu"); sched_getcpu(); E();
		B("sysinfo"); { struct sysinfo si; sysinfo(&si); } E();
		B("get_phys_pages"); get_phys_pages(); E();
		B("get_avphys_pages"); get_avphys_pages(); E();
		B("get_nprocs_conf"); get_nprocs_conf(); E();
		B("getdomainname"); getdomainname(buf, 64); E();
		B("readahead"); readahead(fd, 0, 4096); E();
		B("renameat2"); renameat2(AT_FDCWD, "f2", AT_FDCWD, "f6", 0); E();
		rename("f6", "f2");
		B("fchmodat"); fchmodat(AT_FDCWD, "f1", 0644, 0); E();
		B("fchownat"); fchownat(AT_FDCWD, "f1", 0, 0, 0); E();
		B("lgetxattr"); lgetxattr("f1", "user.x", buf, sizeof buf); E();
		B("listxattr"); listxattr("f1", buf, sizeof buf); E();
		B("llistxattr"); llistxattr("f1", buf, sizeof buf); E();
		B("flistxattr"); flistxattr(fd, buf, sizeof buf); E();
		B("fsetxattr"); fsetxattr(fd, "user.y", "1", 1, 0); E();
		B("lsetxattr"); lsetxattr("f1", "user.z", "1", 1, 0); E();
		B("removexattr"); removexattr("f1", "user.y"); E();
		B("fremovexattr"); fremovexattr(fd, "user.z"); E();
		B("mknod"); mknod("n1", S_IFIFO | 0600, 0); E();
		B("mknodat"); mknodat(AT_FDCWD, "n2", S_IFIFO | 0600, 0); E();
		B("mkfifo"); mkfifo("n3", 0600); E();
		B("lockf"); lockf(fd, F_TLOCK, 0); E();
		B("lockf64"); lockf64(fd, F_ULOCK, 0); E();
		B("preadv64"); preadv64(fd, iov, 1, 0); E();
		B("preadv2"); preadv2(fd, iov, 1, 0, 0); E();
		B("pwritev2"); pwritev2(fd, iov, 1, 0, 0); E();
		B("lutimes"); lutimes("f1", NULL); E();
		B("futimes"); futimes(fd, NULL); E();
		B("euidaccess"); euidaccess("f1", R_OK); E();
		B("eaccess"); eaccess("f1", R_OK); E();
		B("ttyname"); ttyname(fd); E();
		B("tcgetattr"); { struct termios tio; tcgetattr(fd, &tio); } E();
		B("getlogin_r"); getlogin_r(buf, 64); E();
		B("reallocarray"); free(reallocarray(NULL, 1 << 10, 1 << 10)); E();
		B("memalign"); free(memalign(4096, 1 << 20)); E();
		B("valloc"); free(valloc(1 << 20)); E();
		B("malloc_trim"); malloc_trim(0); E();
		B("strerror_r"); strerror_r(EIO, buf, 64); E();
		B("strsignal"); strsignal(SIGINT); E();
		B("gai_strerror"); gai_strerror(EAI_AGAIN); E();
		B("psignal"); psignal(SIGINT, ""); E();
		B("dprintf"); dprintf(fd, "%d", 1); E();
		B("sem_open"); { sem_t *s = sem_open("/syswardprobe", O_CREAT, 0600, 1); E(); B("sem_close"); sem_close(s); E(); B("sem_unlink"); sem_unlink("/syswardprobe"); E(); }
		int sid;
		B("semget"); sid = semget(IPC_PRIVATE, 1, IPC_CREAT | 0600); E();
		B("semop"); { struct sembuf sb = {0, 1, 0}; semop(sid, &sb, 1); } E();
		B("semctl"); semctl(sid, 0, IPC_RMID); E();
		int mq;
		B("msgget"); mq = msgget(IPC_PRIVATE, IPC_CREAT | 0600); E();
		struct { long t; char c[4]; } msg = {1, "x"};
		B("msgsnd"); msgsnd(mq, &msg, 4, 0); E();
		B("msgrcv"); msgrcv(mq, &msg, 4, 0, 0); E();
		B("msgctl"); msgctl(mq, IPC_RMID, NULL); E();
		{ int c1 = dup(fd); B("close_range"); close_range(c1, c1, 0); E(); }
		B("fputc_unlocked"); fputc_unlocked('x', stdout); E();
		B("fputs_unlocked"); fputs_unlocked("x", stdout); E();
		B("fwrite_unlocked"); fwrite_unlocked("x", 1, 1, stdout); E();
		B("putc_unlocked"); putc_unlocked('x', stdout); E();
		B("putchar_unlocked"); putchar_unlocked('\n'); E();
		B("fflush_unlocked"); fflush_unlocked(stdout); E();
		FILE *f2;
		B("fopen64"); f2 = fopen64("f1", "r"); E();
		B("fgets_unlocked"); fgets_unlocked(buf, 4, f2); E();
		B("fread_unlocked"); fread_unlocked(buf, 1, 4, f2); E();
		B("getc_unlocked"); getc_unlocked(f2); E();
		B("fseeko64"); fseeko64(f2, 0, SEEK_SET); E();
		B("ftello64"); ftello64(f2); E();
		{ fpos_t pos; B("fgetpos"); fgetpos(f2, &pos); E(); B("fsetpos"); fsetpos(f2, &pos); E(); }
		B("freopen64"); f2 = freopen64("f1", "r", f2); E();
		fclose(f2);
		B("scandir64"); { struct dirent64 **nl; int n = scandir64(".", &nl, NULL, NULL); while (n-- > 0) free(nl[n]); free(nl); } E();
		B("nftw"); nftw(".", nftw_cb, 4, FTW_PHYS); E();
		B("ftw"); ftw(".", ftw_cb, 4); E();
		B("getservbyname"); getservbyname("http", "tcp"); E();
		B("getprotobyname"); getprotobyname("tcp"); E();
		B("gethostbyname2"); gethostbyname2("localhost", AF_INET); E();
		B("gethostbyaddr"); { struct in_addr a = {htonl(INADDR_LOOPBACK)}; gethostbyaddr(&a, sizeof a, AF_INET); } E();
		B("if_indextoname"); if_indextoname(1, buf); E();
		B("if_nameindex"); if_freenameindex(if_nameindex()); E();
		B("getpwent"); getpwent(); endpwent(); E();
		B("getgrent"); getgrent(); endgrent(); E();
		B("iconv_open"); iconv_close(iconv_open("UTF-8", "ISO-8859-1")); E();
		B("sched_setparam"); sched_setparam(0, &sp); E();
		B("pthread_getaffinity_np"); { cpu_set_t c2; pthread_getaffinity_np(pthread_self(), sizeof c2, &c2); E(); B("pthread_setaffinity_np"); pthread_setaffinity_np(pthread_self(), sizeof c2, &c2); E(); }
		B("pthread_getschedparam"); { int pol; pthread_getschedparam(pthread_self(), &pol, &sp); E(); B("pthread_setschedparam"); pthread_setschedparam(pthread_self(), pol, &sp); E(); }
		B("sigtimedwait"); { sigset_t w; sigemptyset(&w); sigaddset(&w, SIGUSR2); struct timespec z = {0}; sigtimedwait(&w, NULL, &z); } E();
		{ pid_t me = getpid(), t = gettid(); B("tgkill"); tgkill(me, t, 0); E(); }
		{ pid_t me = getpid(); B("pidfd_open"); int pf = pidfd_open(me, 0); E(); B("pidfd_send_signal"); pidfd_send_signal(pf, 0, NULL, 0); E(); close(pf); }
		{ void *mm = malloc(8192); B("mlock2"); mlock2(mm, 4096, 0); E(); munlock(mm, 4096); free(mm); }
	}

	/* memory */
	void *m;
	B("mmap"); m = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0); E();
	B("mprotect"); mprotect(m, 4096, PROT_READ); E();
	B("madvise"); madvise(m, 4096, MADV_DONTNEED); E();
	B("posix_madvise"); posix_madvise(m, 4096, POSIX_MADV_NORMAL); E();
	B("msync"); msync(m, 4096, MS_ASYNC); E();
	B("mlock"); mlock(m, 4096); E();
	B("munlock"); munlock(m, 4096); E();
	B("mremap"); m = mremap(m, 8192, 16384, MREMAP_MAYMOVE); E();
	B("munmap"); munmap(m, 16384); E();
	B("mmap64"); m = mmap64(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0); E(); munmap(m, 4096);
	{ unsigned char v; m = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0); B("mincore"); mincore(m, 4096, &v); E(); }
	B("mlockall"); mlockall(MCL_CURRENT); E();
	B("munlockall"); munlockall(); E();
	B("malloc"); m = malloc(1 << 20); E();
	B("realloc"); m = realloc(m, 4 << 20); E();
	B("free"); free(m); E();
	B("calloc"); m = calloc(1, 1 << 20); E(); free(m);
	B("posix_memalign"); posix_memalign(&m, 4096, 1 << 20); E(); free(m);
	B("aligned_alloc"); m = aligned_alloc(4096, 1 << 20); E(); free(m);
	B("shm_open"); { int s = shm_open("/syswardprobe", O_RDWR | O_CREAT, 0600); E(); close(s); }
	B("shm_unlink"); shm_unlink("/syswardprobe"); E();
	int shm;
	B("shmget"); shm = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600); E();
	B("shmat"); m = shmat(shm, NULL, 0); E();
	B("shmdt"); shmdt(m); E();
	B("shmctl"); shmctl(shm, IPC_RMID, NULL); E();

	/* process */
	B("getpid"); getpid(); E();
	B("getppid"); getppid(); E();
	B("gettid"); gettid(); E();
	B("getuid"); getuid(); E();
	B("geteuid"); geteuid(); E();
	B("getgid"); getgid(); E();
	B("getegid"); getegid(); E();
	B("getgroups"); { gid_t gs[64]; getgroups(64, gs); } E();
	B("getpgrp"); getpgrp(); E();
	B("getsid"); getsid(0); E();
	struct rlimit rl;
	B("getrlimit"); getrlimit(RLIMIT_NOFILE, &rl); E();
	B("getrlimit64"); getrlimit64(RLIMIT_NOFILE, (struct rlimit64 *)&rl); E();
	B("setrlimit"); setrlimit(RLIMIT_NOFILE, &rl); E();
	B("setrlimit64"); setrlimit64(RLIMIT_NOFILE, (struct rlimit64 *)&rl); E();
	B("prlimit"); prlimit(0, RLIMIT_NOFILE, NULL, &rl); E();
	struct rusage ru;
	B("getrusage"); getrusage(RUSAGE_SELF, &ru); E();
	B("prctl"); prctl(PR_SET_NAME, "probe"); E();
	cpu_set_t cs;
	B("sched_getaffinity"); sched_getaffinity(0, sizeof cs, &cs); E();
	B("sched_setaffinity"); sched_setaffinity(0, sizeof cs, &cs); E();
	B("sched_yield"); sched_yield(); E();
	B("getpriority"); getpriority(PRIO_PROCESS, 0); E();
	B("setpriority"); setpriority(PRIO_PROCESS, 0, 0); E();
	B("nice"); nice(0); E();
	struct utsname un;
	B("uname"); uname(&un); E();
	B("gethostname"); gethostname(buf, sizeof buf); E();
	B("getpagesize"); getpagesize(); E();
	B("sysconf"); sysconf(_SC_NPROCESSORS_ONLN); sysconf(_SC_OPEN_MAX); sysconf(_SC_PHYS_PAGES); E();
	B("get_nprocs"); get_nprocs(); E();
	B("getloadavg"); { double la[3]; getloadavg(la, 3); } E();
	B("getentropy"); getentropy(buf, 16); E();
	B("getrandom"); getrandom(buf, 16, 0); E();
	B("arc4random"); arc4random(); E();
	B("arc4random_buf"); arc4random_buf(buf, 16); E();
	B("time"); time(NULL); E();
	struct timeval tv;
	B("gettimeofday"); gettimeofday(&tv, NULL); E();
	struct timespec ts = {0, 1000};
	B("clock_gettime"); clock_gettime(CLOCK_MONOTONIC, &ts); E();
	B("clock_getres"); clock_getres(CLOCK_MONOTONIC, &ts); E();
	ts.tv_sec = 0; ts.tv_nsec = 1000;
	B("nanosleep"); nanosleep(&ts, NULL); E();
	B("clock_nanosleep"); clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, NULL); E();
	B("usleep"); usleep(1); E();
	B("sleep"); sleep(0); E();
	B("times"); { struct tms t; times(&t); } E();
	B("clock"); clock(); E();
	time_t now = time(NULL);
	struct tm tmv;
	B("tzset"); tzset(); E();
	B("localtime"); localtime(&now); E();
	B("localtime_r"); localtime_r(&now, &tmv); E();
	B("gmtime_r"); gmtime_r(&now, &tmv); E();
	B("mktime"); mktime(&tmv); E();
	B("ctime_r"); ctime_r(&now, buf); E();
	B("strftime"); strftime(buf, sizeof buf, "%c %Z", &tmv); E();

	/* signals */
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_sig;
	B("sigaction"); sigaction(SIGUSR1, &sa, NULL); E();
	B("signal"); signal(SIGUSR2, on_sig); E();
	B("sigset"); sigset(SIGHUP, on_sig); E();
	B("siginterrupt"); siginterrupt(SIGUSR1, 1); E();
	sigset_t ss;
	sigemptyset(&ss);
	sigaddset(&ss, SIGUSR2);
	B("sigprocmask"); sigprocmask(SIG_BLOCK, &ss, NULL); E();
	B("pthread_sigmask"); pthread_sigmask(SIG_UNBLOCK, &ss, NULL); E();
	B("sigpending"); sigpending(&ss); E();
	B("raise"); raise(SIGUSR1); E();
	{ pid_t me = getpid(); B("kill"); kill(me, SIGUSR1); E(); }
	{ pid_t pg = getpgrp(); signal(SIGURG, on_sig); B("killpg"); killpg(pg, SIGURG); E(); }
	B("pthread_kill"); pthread_kill(pthread_self(), SIGUSR1); E();
	B("sigqueue"); { union sigval v = {0}; sigqueue(getpid(), SIGUSR1, v); } E();
	stack_t stk = {.ss_sp = malloc(65536), .ss_size = 65536};
	B("sigaltstack"); sigaltstack(&stk, NULL); E();
	B("alarm"); alarm(0); E();
	struct itimerval itv = {0};
	B("setitimer"); setitimer(ITIMER_REAL, &itv, NULL); E();
	B("getitimer"); getitimer(ITIMER_REAL, &itv); E();
	B("sigsetjmp"); if (sigsetjmp(jb, 1) == 0) { E(); B("siglongjmp"); siglongjmp(jb, 1); } E();
	{ sigset_t w; sigemptyset(&w); struct itimerval it = {{0, 0}, {0, 1000}}; signal(SIGALRM, on_sig); setitimer(ITIMER_REAL, &it, NULL); B("sigsuspend"); sigsuspend(&w); E(); }
	{ struct itimerval it = {{0, 0}, {0, 1000}}; setitimer(ITIMER_REAL, &it, NULL); B("pause"); pause(); E(); }
	B("signalfd"); { int s = signalfd(-1, &ss, SFD_CLOEXEC); E(); close(s); }
	B("timer_create"); { timer_t t; struct sigevent se = {.sigev_notify = SIGEV_NONE}; timer_create(CLOCK_MONOTONIC, &se, &t); E(); struct itimerspec its = {0}; B("timer_settime"); timer_settime(t, 0, &its, NULL); E(); B("timer_delete"); timer_delete(t); E(); }

	/* events */
	int ep;
	B("epoll_create"); ep = epoll_create(1); E(); close(ep);
	B("epoll_create1"); ep = epoll_create1(EPOLL_CLOEXEC); E();
	struct epoll_event ev = {.events = EPOLLIN, .data.fd = p[0]};
	B("epoll_ctl"); epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev); E();
	B("epoll_wait"); epoll_wait(ep, &ev, 1, 0); E();
	B("epoll_pwait"); epoll_pwait(ep, &ev, 1, 0, NULL); E();
	close(ep);
	struct pollfd pf = {.fd = p[0], .events = POLLIN};
	B("poll"); poll(&pf, 1, 0); E();
	B("ppoll"); { struct timespec z = {0}; ppoll(&pf, 1, &z, NULL); } E();
	fd_set rs;
	FD_ZERO(&rs); FD_SET(p[0], &rs);
	B("select"); { struct timeval z = {0}; select(p[0] + 1, &rs, NULL, NULL, &z); } E();
	B("pselect"); { struct timespec z = {0}; pselect(p[0] + 1, &rs, NULL, NULL, &z, NULL); } E();
	B("eventfd"); { int e = eventfd(0, EFD_CLOEXEC); E(); eventfd_t val = 1; B("eventfd_write"); eventfd_write(e, val); E(); B("eventfd_read"); eventfd_read(e, &val); E(); close(e); }
	int in;
	B("inotify_init"); in = inotify_init(); E(); close(in);
	B("inotify_init1"); in = inotify_init1(IN_CLOEXEC); E();
	int wd;
	B("inotify_add_watch"); wd = inotify_add_watch(in, ".", IN_CREATE); E();
	B("inotify_rm_watch"); inotify_rm_watch(in, wd); E();
	close(in);

	/* sockets */
	int ls, cs2, as;
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t sl = sizeof sin;
	int one = 1;
	B("socket"); ls = socket(AF_INET, SOCK_STREAM, 0); E();
	B("setsockopt"); setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one); E();
	B("getsockopt"); { socklen_t ol = sizeof one; getsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, &ol); } E();
	B("bind"); bind(ls, (struct sockaddr *)&sin, sizeof sin); E();
	B("listen"); listen(ls, 16); E();
	B("getsockname"); getsockname(ls, (struct sockaddr *)&sin, &sl); E();
	cs2 = socket(AF_INET, SOCK_STREAM, 0);
	B("connect"); connect(cs2, (struct sockaddr *)&sin, sizeof sin); E();
	B("accept"); as = accept(ls, NULL, NULL); E(); close(as);
	int cs3 = socket(AF_INET, SOCK_STREAM, 0);
	connect(cs3, (struct sockaddr *)&sin, sizeof sin);
	B("accept4"); as = accept4(ls, NULL, NULL, SOCK_CLOEXEC); E();
	B("getpeername"); getpeername(as, (struct sockaddr *)&sin, &sl); E();
	B("send"); send(cs3, "x", 1, 0); E();
	B("recv"); recv(as, buf, 1, 0); E();
	B("sendto"); sendto(cs3, "x", 1, 0, NULL, 0); E();
	B("recvfrom"); recvfrom(as, buf, 1, 0, NULL, NULL); E();
	struct msghdr mh = {.msg_iov = iov, .msg_iovlen = 1};
	iov[0].iov_len = 1;
	B("sendmsg"); sendmsg(cs3, &mh, 0); E();
	B("recvmsg"); recvmsg(as, &mh, 0); E();
	B("sendmmsg"); { struct mmsghdr mm = {.msg_hdr = mh}; sendmmsg(cs3, &mm, 1, 0); } E();
	B("recvmmsg"); { struct mmsghdr mm = {.msg_hdr = mh}; recvmmsg(as, &mm, 1, 0, NULL); } E();
	B("shutdown"); shutdown(cs3, SHUT_RDWR); E();
	close(as); close(cs3); close(cs2); close(ls);
	int sp[2];
	B("socketpair"); socketpair(AF_UNIX, SOCK_STREAM, 0, sp); E();
	close(sp[0]); close(sp[1]);
	struct addrinfo *ai = NULL, hints = {.ai_socktype = SOCK_STREAM};
	B("getaddrinfo"); getaddrinfo("localhost", "80", &hints, &ai); E();
	B("getnameinfo"); if (ai) getnameinfo(ai->ai_addr, ai->ai_addrlen, buf, 256, path, 64, 0); E();
	B("freeaddrinfo"); if (ai) freeaddrinfo(ai); E();
	B("gethostbyname"); gethostbyname("localhost"); E();
	struct ifaddrs *ifa;
	B("getifaddrs"); getifaddrs(&ifa); E();
	B("freeifaddrs"); freeifaddrs(ifa); E();
	B("if_nametoindex"); if_nametoindex("lo"); E();

	/* users */
	B("getpwnam"); getpwnam("root"); E();
	B("getpwuid"); getpwuid(0); E();
	B("getgrnam"); getgrnam("root"); E();
	B("getgrgid"); getgrgid(0); E();
	B("getpwnam_r"); { struct passwd pw, *r; getpwnam_r("root", &pw, buf, sizeof buf, &r); } E();
	B("getpwuid_r"); { struct passwd pw, *r; getpwuid_r(0, &pw, buf, sizeof buf, &r); } E();
	B("getgrnam_r"); { struct group gr, *r; getgrnam_r("root", &gr, buf, sizeof buf, &r); } E();
	B("getgrgid_r"); { struct group gr, *r; getgrgid_r(0, &gr, buf, sizeof buf, &r); } E();
	B("getgrouplist"); { gid_t gs[64]; int n = 64; getgrouplist("root", 0, gs, &n); } E();
	B("getlogin"); getlogin(); E();

	/* stdio */
	FILE *f;
	B("fopen"); f = fopen("f1", "r+"); E();
	B("fgets"); fgets(buf, 10, f); E();
	B("fseek"); fseek(f, 0, SEEK_SET); E();
	B("fread"); fread(buf, 1, 4, f); E();
	B("ftell"); ftell(f); E();
	B("rewind"); rewind(f); E();
	B("fgetc"); fgetc(f); E();
	B("getc"); getc(f); E();
	B("ungetc"); ungetc('h', f); E();
	B("fseeko"); fseeko(f, 0, SEEK_END); E();
	B("ftello"); ftello(f); E();
	B("fwrite"); fwrite("abc", 1, 3, f); E();
	B("fputs"); fputs("abc", f); E();
	B("fputc"); fputc('a', f); E();
	B("putc"); putc('a', f); E();
	B("fprintf"); fprintf(f, "%d", 1); E();
	B("fflush"); fflush(f); E();
	B("fileno"); fileno(f); E();
	B("fclose"); fclose(f); E();
	{ int d2 = dup(fd); B("fdopen"); f = fdopen(d2, "r"); E(); }
	B("getline"); { char *l = NULL; size_t n = 0; getline(&l, &n, f); free(l); } E();
	B("fscanf"); { int x; rewind(f); fscanf(f, "%d", &x); } E();
	B("freopen"); f = freopen("f2", "r", f); E();
	B("feof"); feof(f); E();
	B("ferror"); ferror(f); E();
	B("setvbuf"); setvbuf(f, NULL, _IOLBF, 0); E();
	fclose(f);
	B("printf"); printf("%s", ""); E();
	B("puts"); puts(""); E();
	B("putchar"); putchar('\n'); E();
	B("perror"); perror(""); E();
	B("vfprintf"); fprintf(stderr, "%s", ""); E();
	B("tmpfile"); f = tmpfile(); E(); fclose(f);
	B("fmemopen"); f = fmemopen(buf, 16, "w"); E(); fclose(f);
	B("open_memstream"); { char *mb; size_t ml; f = open_memstream(&mb, &ml); fputs("x", f); fclose(f); free(mb); } E();

	/* dynamic loading, locale, misc */
	void *h;
	B("dlopen"); h = dlopen("libz.so.1", RTLD_NOW); E();
	B("dlsym"); if (h) dlsym(h, "zlibVersion"); E();
	B("dlerror"); dlerror(); E();
	B("dladdr"); { Dl_info di; dladdr((void *)main, &di); } E();
	B("dlclose"); if (h) dlclose(h); E();
	B("setlocale"); setlocale(LC_ALL, "C.UTF-8"); E();
	B("newlocale"); { locale_t l = newlocale(LC_ALL_MASK, "C.UTF-8", 0); E(); B("uselocale"); uselocale(l); E(); uselocale(LC_GLOBAL_LOCALE); B("freelocale"); freelocale(l); E(); }
	B("nl_langinfo"); nl_langinfo(CODESET); E();
	B("strerror"); strerror(EIO); E();
	B("dcgettext"); dcgettext("probe", "x", LC_MESSAGES); E();
	B("bindtextdomain"); bindtextdomain("probe", "/usr/share/locale"); E();
	B("textdomain"); textdomain("probe"); E();
	void *bt[8];
	B("backtrace"); backtrace(bt, 8); E();
	B("backtrace_symbols"); free(backtrace_symbols(bt, 1)); E();
	B("backtrace_symbols_fd"); backtrace_symbols_fd(bt, 1, -1); E();
	B("openlog"); openlog("probe", LOG_NDELAY, LOG_USER); E();
	B("syslog"); syslog(LOG_DEBUG, "sysward libcprobe"); E();
	B("closelog"); closelog(); E();
	B("getenv"); getenv("HOME"); E();
	B("setenv"); setenv("PROBE", "1", 1); E();
	B("unsetenv"); unsetenv("PROBE"); E();
	B("getopt"); { char *av[] = {"x", NULL}; getopt(1, av, "a"); } E();
	sem_t sem;
	B("sem_init"); sem_init(&sem, 0, 1); E();
	B("sem_wait"); sem_wait(&sem); E();
	B("sem_post"); sem_post(&sem); E();
	B("sem_trywait"); sem_trywait(&sem); E();
	B("sem_destroy"); sem_destroy(&sem); E();
	pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
	B("pthread_mutex_lock"); pthread_mutex_lock(&mu); E();
	B("pthread_mutex_trylock"); pthread_mutex_trylock(&mu); E();
	B("pthread_mutex_unlock"); pthread_mutex_unlock(&mu); E();
	pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
	B("pthread_cond_signal"); pthread_cond_signal(&cv); E();
	B("pthread_cond_broadcast"); pthread_cond_broadcast(&cv); E();
	B("pthread_cond_timedwait"); { struct timespec dl; clock_gettime(CLOCK_REALTIME, &dl); pthread_mutex_lock(&mu); pthread_cond_timedwait(&cv, &mu, &dl); pthread_mutex_unlock(&mu); } E();
	B("pthread_self"); pthread_self(); E();
	B("pthread_setname_np"); pthread_setname_np(pthread_self(), "probe"); E();
	B("pthread_getname_np"); pthread_getname_np(pthread_self(), buf, 16); E();
	pthread_t th;
	B("pthread_create"); pthread_create(&th, NULL, thread_fn, NULL); E();
	B("pthread_join"); pthread_join(th, NULL); E();
	pthread_create(&th, NULL, thread_fn, NULL);
	B("pthread_setname_np"); pthread_setname_np(th, "probe2"); E();
	pthread_join(th, NULL);
	pthread_attr_t at;
	pthread_attr_init(&at);
	pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	B("pthread_create"); pthread_create(&th, &at, thread_fn, NULL); E();
	B("pthread_getattr_np"); { pthread_attr_t a2; pthread_getattr_np(pthread_self(), &a2); pthread_attr_destroy(&a2); } E();

	/* processes */
	pid_t pid;
	B("fork"); pid = fork(); if (pid == 0) child_done(); E();
	B("waitpid"); waitpid(pid, NULL, 0); E();
	B("vfork"); pid = vfork(); if (pid == 0) child_done(); E();
	B("wait"); wait(NULL); E();
	pid = fork(); if (pid == 0) { mark("@@B _exit"); _exit(0); }
	B("wait3"); wait3(NULL, 0, NULL); E();
	pid = fork(); if (pid == 0) { mark("@@B exit"); exit(0); }
	B("wait4"); wait4(pid, NULL, 0, NULL); E();
	pid = fork(); if (pid == 0) { mark("@@B abort"); signal(SIGABRT, SIG_DFL); abort(); }
	B("waitid"); { siginfo_t si; waitid(P_PID, pid, &si, WEXITED); } E();
	/* The fatal paths, each in a child that dies of SIGABRT. */
	pid = fork(); if (pid == 0) { signal(SIGABRT, SIG_DFL); mark("@@B __stack_chk_fail"); __stack_chk_fail(); }
	waitpid(pid, NULL, 0);
	pid = fork(); if (pid == 0) { signal(SIGABRT, SIG_DFL); mark("@@B __chk_fail"); __chk_fail(); }
	waitpid(pid, NULL, 0);
	pid = fork(); if (pid == 0) { signal(SIGABRT, SIG_DFL); mark("@@B __assert_fail"); __assert_fail("probe", "libcprobe.c", 1, "main"); }
	waitpid(pid, NULL, 0);
	pid = fork();
	if (pid == 0) { char *av[] = {"/bin/true", NULL}; mark("@@B execve"); execve("/bin/true", av, environ); _exit(1); }
	waitpid(pid, NULL, 0);
	pid = fork();
	if (pid == 0) { char *av[] = {"/bin/true", NULL}; mark("@@B execv"); execv("/bin/true", av); _exit(1); }
	waitpid(pid, NULL, 0);
	pid = fork();
	if (pid == 0) { mark("@@B execvp"); execlp("true", "true", (char *)NULL); _exit(1); }
	waitpid(pid, NULL, 0);
	pid = fork();
	if (pid == 0) { mark("@@B setsid"); setsid(); mark("@@E"); mark("@@B setpgid"); setpgid(0, 0); mark("@@E");
		mark("@@B chroot"); chroot("."); mark("@@E");
		mark("@@B setgroups"); setgroups(0, NULL); mark("@@E");
		mark("@@B initgroups"); initgroups("root", 0); mark("@@E");
		mark("@@B setgid"); setgid(0); mark("@@E"); mark("@@B setuid"); setuid(0); mark("@@E");
		mark("@@B setegid"); setegid(0); mark("@@E"); mark("@@B seteuid"); seteuid(0); mark("@@E");
		mark("@@B setresuid"); setresuid(0, 0, 0); mark("@@E"); mark("@@B setresgid"); setresgid(0, 0, 0); mark("@@E");
		mark("@@B setreuid"); setreuid(0, 0); mark("@@E"); mark("@@B setregid"); setregid(0, 0); mark("@@E");
		mark("@@B daemon"); if (daemon(1, 1) == 0) { mark("@@E"); child_done(); } mark("@@E");
		child_done(); }
	waitpid(pid, NULL, 0);
	B("posix_spawn"); { char *av[] = {"/bin/true", NULL}; posix_spawn(&pid, "/bin/true", NULL, NULL, av, environ); } E();
	waitpid(pid, NULL, 0);
	B("posix_spawnp"); { char *av[] = {"true", NULL}; posix_spawnp(&pid, "true", NULL, NULL, av, environ); } E();
	waitpid(pid, NULL, 0);
	B("system"); system("true"); E();
	B("popen"); f = popen("true", "r"); E();
	B("pclose"); pclose(f); E();
	B("sync"); sync(); E();
	B("exit"); exit(0);
}
