package enforcer

import "errors"

// Sentinel errors (test with errors.Is). Problems with a profile's content
// are returned as *profiles.Error values (naming the JSON path and value)
// that wrap one of these or one of the profiles package's sentinels
// (profiles.ErrUnknownSyscall, ErrUnknownArch, ErrUnknownFlag, ErrBadArg,
// ErrUnknownAction); IsBadInput recognises all of them.
var (
	// ErrUnsupportedAction: SCMP_ACT_NOTIFY needs a seccomp agent that
	// sysward does not run.
	ErrUnsupportedAction = errors.New("action not supported by sysward's enforcer")
	// ErrAmbiguous: a syscall has argument-conditioned entries (or, for
	// socketcall/ipc on x86, rules from the calls they multiplex) with
	// different verdicts, which may match the same arguments
	// (profiles.Decision.Conflict). libseccomp resolves such overlaps by
	// its rule tree (argument index, operator), not by entry order, and
	// refuses some outright (EEXIST), so the filter would not do what the
	// file appears to say.
	ErrAmbiguous = errors.New("ambiguous argument-conditioned entries")
	// ErrExecveBlocked: the profile does not let the launched command
	// start (execve is not allowed); refused unless forced.
	ErrExecveBlocked = errors.New("profile blocks execve")
	// ErrLauncherBlocked: the profile explicitly denies a syscall the
	// launcher needs between installing the filter and execve.
	ErrLauncherBlocked = errors.New("profile denies a syscall the launcher needs")
	// ErrMismatch: the compiled filter's verdict differs from the profile's.
	ErrMismatch = errors.New("filter verdict differs from profile")
	// ErrNotCacheable: an argument-free allowed syscall is not eligible for
	// the kernel's per-syscall allow cache.
	ErrNotCacheable = errors.New("allowed syscall not eligible for the seccomp allow cache")
	// ErrMiscompiled: libseccomp produced a program that does not do what
	// the profile says. libseccomp 2.5.4 does this for a syscall with
	// several argument-conditioned entries where one compares two or more
	// arguments: a false branch jumps to a comparison that assumes the
	// accumulator still holds the first argument, but it holds the one
	// loaded last. Compile checks every argument-conditioned syscall
	// and refuses such a program rather than install it.
	ErrMiscompiled = errors.New("libseccomp miscompiled argument conditions")
	// ErrBadProgram: the exported program is not a valid seccomp cBPF program.
	ErrBadProgram = errors.New("invalid seccomp program")
	// ErrBadCommand: the command to run cannot be resolved.
	ErrBadCommand = errors.New("cannot resolve command")
)
