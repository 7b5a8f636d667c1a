// Package enforcer turns a profiles.Profile into a kernel-enforced seccomp
// filter and proves the filter does what the profile says.
//
// # Compile
//
// Compile builds the program with libseccomp (libseccomp-golang, cgo;
// Debian 12 ships libseccomp 2.5.4) with runc's semantics, so `sysward run`,
// runc, containerd and the kubelet agree on what a profile means:
//
//   - KILL is KILL_THREAD; ERRNO and TRACE default their data to EPERM;
//     NOTIFY is refused (ErrUnsupportedAction): sysward runs no agent.
//   - The native architecture is always in the filter (libseccomp adds it);
//     the listed ones are added. A syscall from another architecture or
//     ABI (int $0x80 without x86 listed, an x32 number without x32) gets
//     the bad-arch action (BadArchAction): KILL_PROCESS in enforce mode
//     (runc keeps libseccomp's KILL_THREAD, which leaves a multi-threaded
//     process hung), LOG in complain mode.
//   - A syscall name libseccomp does not know on any architecture is bad
//     input. runc skips such names silently (a debug log); sysward refuses
//     them, so a typo never silently changes a profile. A name known on some
//     listed architecture but not another is fine (libseccomp skips it there).
//   - What a profile means is profiles.Profile.Evaluate's statement of
//     runc 1.1 + libseccomp 2.5.4 (see the profiles package documentation):
//     entries repeating the default action are skipped (runc), an
//     unconditional entry beats argument-conditioned ones for the same
//     syscall (libseccomp drops the conditions), conditions in one entry
//     AND unless two test the same argument (then runc adds one rule per
//     condition and they OR, because libseccomp refuses two checks on one
//     argument in a rule), on 32-bit architectures (x86, arm, x32) only the
//     low 32 bits count, and on x86 socketcall/ipc get the rules of the
//     calls they multiplex (argument 0 == call number). TestLibseccompFacts
//     pins these against libseccomp itself; TestEvaluateMatchesFilter
//     compares Evaluate with compiled programs on random profiles.
//   - Argument-conditioned entries for one syscall that give different
//     verdicts are refused (conservatively, without proving they overlap)
//     (ErrAmbiguous, profiles.Decision.Conflict): libseccomp resolves them
//     by its rule tree (argument index, operator), not by entry order, and
//     refuses some combinations outright (EEXIST).
//   - Flags: SECCOMP_FILTER_FLAG_LOG and _SPEC_ALLOW become libseccomp
//     attributes and seccomp(2) flags; TSYNC is recorded (libseccomp-golang
//     always sets it; `sysward run` filters one thread, see below);
//     WAIT_KILLABLE_RECV is accepted and has no effect (it needs a notify
//     listener, which sysward never creates).
//   - More than 32 named syscalls use libseccomp's binary-tree layout
//     (SetOptimize(2)), runc's threshold.
//   - Complain mode replaces every denying action with LOG, the default
//     and the bad-arch action included: it never stops a call on any ABI.
//
// Compile then runs the program on every argument-conditioned syscall and
// refuses a wrong one (ErrMiscompiled; each syscall is decided once, the
// argument vectors are deduplicated, and the low words tried under each
// high word are found by following the program (explorer) rather than
// taken from every condition value, so 1000 conditioned entries compile in
// well under a second, see BenchmarkCompileConditioned): libseccomp 2.5.4 miscompiles a
// syscall with several conditional entries where one compares two or more
// arguments (a false branch reuses the accumulator after another argument
// was loaded into it), and some with two ordering comparisons on one
// argument (the low word compared after the high word had decided, or
// against another value's high word: TestCompileRefusesHighWordAsLowWord). The
// property and differential tests found them.
//
// Errors about the profile's content are *profiles.Error values (JSON path,
// value, sentinel); IsBadInput recognises them and the other bad-input
// sentinels. A Filter is a plain value: nothing to close.
//
// # Verify
//
// Verify runs the exported program in golang.org/x/net/bpf's VM (no root)
// for every syscall number of every architecture in the filter, the gaps
// between them, numbers above the highest, and an architecture outside the
// filter, with argument values on both sides of every condition and values
// mixing the high and low words of the conditions on one argument. Each
// verdict must equal Expect: profiles.Profile.EvaluateNr, plus the filter's
// bad-architecture action (Filter.BadArch), also checked for x32 numbers
// when the filter has x86_64 but not x32.
// The VM loads words big-endian (it was written for packets), so
// SeccompData is laid out word by word in that order; seccomp programs only
// load aligned 32-bit words, which NewProgram checks. CacheEligible
// re-implements the kernel's seccomp_is_const_allow (Linux ≥ 5.11): an
// allowed syscall with no conditions must reach RET_ALLOW reading only nr
// and arch, or the kernel's per-filter allow bitmap will not cache it.
//
// # Run
//
// PrepareLaunch resolves the command, checks that the profile allows execve
// (ErrExecveBlocked unless forced), adds the syscalls the launcher makes
// after the filter (LauncherSyscalls: rt_sigprocmask, execve, and
// exit_group if execve fails) and compiles. Launch.Exec then, on a locked
// thread with the GC off: restores the RLIMIT_NOFILE soft limit Go raised
// at start-up (saved by a C constructor before the runtime ran), blocks all
// signals, sets NO_NEW_PRIVS, calls seccomp(SET_MODE_FILTER) without TSYNC,
// restores the signal mask and calls execve, all as raw syscalls with no Go
// code between them. Only the exec'ing thread carries the filter; the other
// runtime threads never run under it and die in execve. syscall.Exec is not
// used: it may call prlimit64 after the filter. Command and
// RunChildIfRequested do the same in a re-executed child for callers that
// keep running (watch mode).
//
// Real filters are only installed in child processes (tests re-execute the
// test binary): a filter cannot be removed.
//
// # Runtimes and the kubelet
//
// ApplyToSpec/ApplyToBundle set linux.seccomp for runc (or any OCI
// runtime); WriteRuntimeFile writes the file for `ctr run --seccomp
// --seccomp-profile` (CtrArgs) and podman/docker `--security-opt seccomp=`
// (PodmanArgs). Install writes a content-hashed file under the kubelet's
// seccomp root; an existing file with that name is never overwritten.
// Everything a runtime receives was compiled first, so it is something
// sysward itself would enforce.
//
// Threading: all functions are safe for concurrent use except Launch.Exec,
// which replaces the process.
package enforcer
