package enforcer

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/sysward/sysward/profiles"
)

// LauncherSyscall is a syscall the launcher itself makes after the filter
// is installed, with why.
type LauncherSyscall struct {
	Name   string
	Reason string
}

// LauncherSyscalls are every syscall Launch.Exec makes on the filtered thread
// after seccomp(2) returns, in order. Nothing else runs there: the Go
// runtime is kept off the thread (it is locked, signals are blocked, GC is
// off) and the other threads are not filtered (no TSYNC) and die in execve.
var LauncherSyscalls = []LauncherSyscall{
	{"rt_sigprocmask", "restores the signal mask blocked around seccomp(2), so the command starts with sysward's original mask"},
	{"execve", "starts the command"},
	{"exit_group", "only if execve fails: ends sysward with status 126/127"},
}

// LaunchOptions tune PrepareLaunch; nil means defaults.
type LaunchOptions struct {
	Mode Mode
	// Force runs a profile that blocks execve or explicitly denies a
	// launcher syscall instead of refusing it (the kernel then refuses
	// the exec, which is what a test of the profile may want to see).
	Force bool
	// Env is the command's environment; nil means os.Environ().
	Env []string
}

// Launch is a command resolved and a filter compiled, ready to Exec. It is
// built entirely before anything is installed, so every error happens while
// nothing has been applied.
type Launch struct {
	// Path is the resolved executable; Argv and Env what it gets.
	Path string
	Argv []string
	Env  []string
	// Filter is the compiled program (Filter.Profile is the effective
	// profile: complain mode and launcher syscalls applied).
	Filter *Filter
	// Added lists the launcher syscalls the profile did not allow and
	// that were added; Present those it already allowed.
	Added, Present []LauncherSyscall
	// Mode is the mode the filter was compiled for.
	Mode Mode
	// Warnings are things the caller should tell the user (printed by
	// Explain too), e.g. complain mode on a kernel that does not log LOG.
	Warnings []string

	flags uint
}

// PrepareLaunch resolves argv[0] on PATH (as the command's environment
// sets it), checks that p lets the command start (execve allowed; unless
// opts.Force), adds the launcher's own syscalls, and compiles p. Problems
// with p or argv satisfy IsBadInput.
func PrepareLaunch(p *profiles.Profile, argv []string, opts *LaunchOptions) (*Launch, error) {
	if opts == nil {
		opts = &LaunchOptions{}
	}
	if opts.Mode == "" {
		opts.Mode = Enforce
	}
	if len(argv) == 0 {
		return nil, fmt.Errorf("%w: no command given", ErrBadCommand)
	}
	env := opts.Env
	if env == nil {
		env = os.Environ()
	}
	path, err := lookPath(argv[0], env)
	if err != nil {
		return nil, err
	}
	if err := Check(p); err != nil {
		return nil, err
	}
	arch := profiles.NativeArch()
	l := &Launch{Path: path, Argv: argv, Env: env, Mode: opts.Mode}
	var extra []string
	for _, ls := range LauncherSyscalls {
		if _, ok := profiles.SyscallNumber(arch, ls.Name); !ok {
			continue
		}
		d := p.Decide(arch, ls.Name)
		switch {
		case d.Allowed() && len(d.Conditional) == 0:
			l.Present = append(l.Present, ls)
		case ls.Name == "execve":
			if opts.Mode == Enforce && !opts.Force {
				return nil, fmt.Errorf("%w: %s on %s is %s%s: the command could not start (allow execve, or --force to run it anyway)",
					ErrExecveBlocked, ls.Name, arch, d.Action, conditionalNote(d))
			}
			if opts.Mode == Complain {
				l.Present = append(l.Present, ls) // LOG lets it run
			}
		case d.Entry >= 0 || len(d.Conditional) > 0:
			// Named explicitly with a denying action (or only under conditions).
			if opts.Mode == Enforce && !opts.Force {
				return nil, fmt.Errorf("%w: syscalls[%d] gives %s %s%s; the launcher calls it after installing the filter (%s); --force runs it anyway",
					ErrLauncherBlocked, entryIndex(d), ls.Name, d.Action, conditionalNote(d), ls.Reason)
			}
		default:
			extra = append(extra, ls.Name)
			l.Added = append(l.Added, ls)
		}
	}
	f, err := Compile(p, &CompileOptions{Mode: opts.Mode, ExtraAllow: extra})
	if err != nil {
		return nil, err
	}
	if opts.Mode == Complain {
		if w := checkActionsLogged(actionsLoggedPath); w != "" {
			l.Warnings = append(l.Warnings, w)
		}
	}
	l.Filter = f
	l.flags = f.Flags &^ FlagTSync // see Exec: only the exec'ing thread is filtered
	return l, nil
}

const actionsLoggedPath = "/proc/sys/kernel/seccomp/actions_logged"

// checkActionsLogged warns when the kernel will not log SCMP_ACT_LOG
// (the "log" action missing from the sysctl): complain mode would then
// allow silently.
func checkActionsLogged(path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("complain mode: cannot read %s (%v): LOG records may not be written", path, err)
	}
	for _, a := range strings.Fields(string(data)) {
		if a == "log" {
			return ""
		}
	}
	return fmt.Sprintf("complain mode: %s is %q, without \"log\": the kernel will allow without logging (echo log >> it to fix)", path, strings.TrimSpace(string(data)))
}

func entryIndex(d profiles.Decision) int {
	if d.Entry >= 0 {
		return d.Entry
	}
	if len(d.Conditional) > 0 {
		return d.Conditional[0]
	}
	return -1
}

func conditionalNote(d profiles.Decision) string {
	if len(d.Conditional) > 0 {
		return " (allowed only under argument conditions)"
	}
	return ""
}

// lookPath resolves name the way execvp would with env's PATH, and checks
// it is an executable regular file, so execve cannot fail for a reason
// known in advance.
func lookPath(name string, env []string) (string, error) {
	path := name
	if !strings.Contains(name, "/") {
		pathEnv := "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
		for _, kv := range env {
			if v, ok := strings.CutPrefix(kv, "PATH="); ok {
				pathEnv = v
			}
		}
		found := ""
		for _, dir := range filepath.SplitList(pathEnv) {
			if dir == "" {
				dir = "."
			}
			cand := filepath.Join(dir, name)
			if isExecutable(cand) == nil {
				found = cand
				break
			}
		}
		if found == "" {
			return "", fmt.Errorf("%w: %q: %v", ErrBadCommand, name, exec.ErrNotFound)
		}
		path = found
	}
	if err := isExecutable(path); err != nil {
		return "", fmt.Errorf("%w: %q: %v", ErrBadCommand, name, err)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", fmt.Errorf("%w: %q: %v", ErrBadCommand, name, err)
	}
	return abs, nil
}

func isExecutable(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	if !st.Mode().IsRegular() {
		return errors.New("not a regular file")
	}
	return unix.Access(path, unix.X_OK)
}

// Explain writes what Exec will do: the command, the mode, the filter size
// and each launcher syscall (already allowed by the profile, or added).
func (l *Launch) Explain(w io.Writer) {
	fmt.Fprintf(w, "command: %s (argv %q)\n", l.Path, l.Argv)
	fmt.Fprintf(w, "mode: %s; filter: %d instructions, architectures %v", l.Mode, l.Filter.Len(), l.Filter.Arches)
	if l.Filter.Optimized {
		fmt.Fprint(w, ", binary tree")
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "before the filter: resolve the command, compile, restore RLIMIT_NOFILE, block signals, prctl(PR_SET_NO_NEW_PRIVS); then seccomp(SECCOMP_SET_MODE_FILTER) on the exec'ing thread only")
	for _, warn := range l.Warnings {
		fmt.Fprintln(w, "warning:", warn)
	}
	fmt.Fprintln(w, "after the filter, the launcher calls:")
	for _, ls := range LauncherSyscalls {
		state := "not on this architecture"
		for _, a := range l.Added {
			if a.Name == ls.Name {
				state = "ADDED to the profile"
			}
		}
		for _, a := range l.Present {
			if a.Name == ls.Name {
				state = "allowed by the profile"
			}
		}
		fmt.Fprintf(w, "  %-15s %-24s %s\n", ls.Name, state, ls.Reason)
	}
}

// Exec installs the filter on the calling thread and replaces the process
// with the command. It returns only on failure before the filter is
// installed (an error; nothing applied but NO_NEW_PRIVS on this thread). If
// execve itself fails after the filter is in place, the process exits with
// status 127 (not found) or 126, after a best-effort message on stderr.
//
// How: the goroutine is locked to its thread and the GC is stopped, so the
// runtime has no reason to run anything on it; every signal is blocked so no
// handler (and its rt_sigreturn) can run under the filter; RLIMIT_NOFILE is
// restored to the value before Go raised it (what syscall.Exec would do
// with prlimit64 after the filter). Then, with raw syscalls and no Go code
// in between: prctl(NO_NEW_PRIVS), seccomp(SET_MODE_FILTER) without TSYNC
// (the other runtime threads stay unfiltered; execve kills them, and the
// new image inherits this thread's filter), rt_sigprocmask(restore),
// execve. syscall.Exec is not used: it can call prlimit64 under the filter.
func (l *Launch) Exec() error {
	argv0, err := unix.BytePtrFromString(l.Path)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadCommand, err)
	}
	argvp, err := syscall.SlicePtrFromStrings(l.Argv)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadCommand, err)
	}
	envp, err := syscall.SlicePtrFromStrings(l.Env)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadCommand, err)
	}
	prog := l.Filter.SockFilters()
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	msg127 := []byte("sysward: execve " + l.Path + ": not found\n")
	msg126 := []byte("sysward: execve " + l.Path + ": failed under the filter\n")

	runtime.LockOSThread()
	// Never unlocked on success; on failure the thread carries
	// NO_NEW_PRIVS and an altered state, so it is not returned to the
	// pool either (the goroutine exits the program soon after).
	debug.SetGCPercent(-1)
	restoreNofile()
	// A fresh time slice: the runtime preempts a goroutine (SIGURG to its
	// thread) only after ~10 ms without a scheduling point, so none can be
	// pending when the mask is restored below and no Go signal handler
	// (nor its rt_sigreturn) runs under the filter.
	runtime.Gosched()

	var all, old unix.Sigset_t
	for i := range all.Val {
		all.Val[i] = ^uint64(0)
	}
	if _, _, e := unix.RawSyscall6(unix.SYS_RT_SIGPROCMASK, unix.SIG_SETMASK, uintptr(unsafe.Pointer(&all)), uintptr(unsafe.Pointer(&old)), kernelSigsetSize, 0, 0); e != 0 {
		return fmt.Errorf("blocking signals: %w", e)
	}
	if _, _, e := unix.RawSyscall6(unix.SYS_PRCTL, unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0, 0); e != 0 {
		unix.RawSyscall6(unix.SYS_RT_SIGPROCMASK, unix.SIG_SETMASK, uintptr(unsafe.Pointer(&old)), 0, kernelSigsetSize, 0, 0)
		return fmt.Errorf("setting no_new_privs: %w", e)
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, uintptr(l.flags), uintptr(unsafe.Pointer(&fprog))); e != 0 {
		unix.RawSyscall6(unix.SYS_RT_SIGPROCMASK, unix.SIG_SETMASK, uintptr(unsafe.Pointer(&old)), 0, kernelSigsetSize, 0, 0)
		return fmt.Errorf("installing seccomp filter: %w", e)
	}
	// ---- filtered from here on: raw syscalls only ----
	unix.RawSyscall6(unix.SYS_RT_SIGPROCMASK, unix.SIG_SETMASK, uintptr(unsafe.Pointer(&old)), 0, kernelSigsetSize, 0, 0)
	_, _, e := unix.RawSyscall(unix.SYS_EXECVE, uintptr(unsafe.Pointer(argv0)), uintptr(unsafe.Pointer(&argvp[0])), uintptr(unsafe.Pointer(&envp[0])))
	msg, code := msg126, uintptr(126)
	if e == syscall.ENOENT {
		msg, code = msg127, 127
	}
	unix.RawSyscall(unix.SYS_WRITE, 2, uintptr(unsafe.Pointer(&msg[0])), uintptr(len(msg)))
	for {
		unix.RawSyscall(unix.SYS_EXIT_GROUP, code, 0, 0)
	}
}

// kernelSigsetSize is the sigset size rt_sigprocmask accepts (_NSIG/8);
// unix.Sigset_t is larger (glibc's 1024-bit sigset_t).
const kernelSigsetSize = 8
