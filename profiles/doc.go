// Package profiles is sysward's seccomp profile model: the OCI/Docker JSON
// format that runc, ctr, podman and the kubelet load unchanged, plus
// sysward's provenance and learning statistics under the top-level
// "sysward" key, which those runtimes ignore.
//
// # The model
//
// Profile embeds specs.LinuxSeccomp. Build one with New(defaultAction,
// arches...) and Allow(names...) / AddRule; ask it what it does with
// Decide(arch, name) (without argument values: Decision.Conditional lists
// the argument-conditioned entries that take effect, Decision.Ignored the
// entries that have none, Decision.Demuxed the rules x86's socketcall/ipc
// get from the calls they multiplex, Decision.Conflict the ambiguous
// ones), DecideNr(arch, nr), Evaluate(arch,
// name, args) and EvaluateNr(arch, nr, args) (with arguments), and
// AllowedSyscalls(arch) and AllowedNumbers(arch) (allowed
// for at least some arguments; ALLOW and LOG both let a syscall run). A name
// that does not exist on an architecture gets the default action there, as
// libseccomp skips it. Syscall tables for x86_64, x86, x32, aarch64 and arm
// (generated from libseccomp 2.5.4) answer SyscallNumber/SyscallName;
// syscalls newer than that (mseal, listmount, ...) are unknown to them.
//
// # What a profile means
//
// Evaluate is sysward's one statement of the verdict a profile gives
// (arch, nr, args), and it is what the kernel enforces through runc 1.1 and
// libseccomp 2.5.4 (runc, ctr, podman and the kubelet path build the filter
// that way, and so does sysward's enforcer, whose verifier checks every
// compiled program against Evaluate):
//
//   - an entry whose action (with errnoRet; KILL is KILL_THREAD, ERRNO and
//     TRACE default to EPERM) equals the default action is skipped;
//   - an unconditional entry beats every argument-conditioned entry naming
//     the same syscall, before or after it: libseccomp drops the
//     conditions. Lint reports such conditions as shadowed-entry;
//   - otherwise a matching argument-conditioned entry decides: its
//     conditions AND, except that when two test the same argument index
//     all of the entry's conditions OR (libseccomp refuses two checks on
//     one argument in a rule, so runc adds one rule per condition);
//   - on x86, arm and x32 only the low 32 bits of arguments and values count;
//   - else the default action.
//
// All of this is per listed architecture (plus the native one, which every
// filter includes). A call from an architecture or ABI the profile does not
// list (int $0x80 without SCMP_ARCH_X86, an x32 number without
// SCMP_ARCH_X32) never reaches these rules: the filter's bad-architecture
// action decides, which the OCI format cannot express (runc keeps
// libseccomp's KILL_THREAD; `sysward run` uses KILL_PROCESS, and LOG in
// complain mode: enforcer.BadArchAction).
//
// Argument-conditioned entries with different actions that can match the
// same arguments are resolved by libseccomp's rule tree (higher argument
// index first), not by entry order; Decision.Ambiguous reports them and the
// enforcer refuses such profiles.
//
// # Loading
//
// Parse is strict: malformed JSON, an unknown or duplicate key (everywhere
// but the OCI fields runc knows and "sysward"), an unknown action,
// architecture or flag, a syscall name not known on any listed architecture
// (on any architecture sysward knows when none is listed), a bad argument
// operator or index, errnoRet on an action other than ERRNO/TRACE or above
// 65535 (MaxErrnoRet; above 4094, MaxErrno, with ERRNO: libseccomp refuses
// it), and two unconditional entries giving one syscall
// different actions are errors, and so is data over MaxFileSize (4 MiB).
// profiles opens no files: sysward reads a profile file with
// internal/inputfile.Profile (a regular file, at most MaxFileSize, then
// Parse).
// Each is an *Error naming the file, line:column, the JSON path
// ("syscalls[3].names[1]") and the bad value; several are joined with
// errors.Join; each wraps a sentinel (ErrUnknownSyscall, ...). Docker's
// extended source format (archMap, includes/excludes, comment) is refused
// with ErrDockerFormat: it is a template, not a runtime profile. Resolve it
// with DockerDefault (or `sysward profile export --docker-default`).
//
// # Saving
//
// Write/Marshal produce the canonical form: architectures and flags sorted,
// entries grouped by (action, errnoRet, args) with names sorted and
// deduplicated, groups ordered by action then errnoRet then args, two-space
// indentation, a trailing newline. Parse→Marshal of a canonical profile is
// byte-identical. SaveFile writes atomically (temporary file in the same
// directory, fsync, rename), so a reader sees the old or the new file.
//
// # Operations
//
// Merge (union, commutative and idempotent), Diff, Lint, CompareDocker,
// Explain and the exports (OCI, Security Profiles Operator SeccompProfile,
// pod securityContext patch, Falco rules) are pure functions of their
// inputs; they never modify their arguments. So are Absorb (fold what
// complain-mode records saw outside a profile into a copy) and Promote
// (whether the records show no new syscall for a window).
//
// # Generalising a learned set
//
// families.go holds the syscall family table (Families, FamilyOf: calls
// that are alternative ways to do one thing, each family with why) and the
// self-query baseline (Baseline), and which members are x86_64's legacy
// forms (LegacyMember; WidenOptions.Generations widens within a generation,
// WidenOptions.Member filters further). WidenFamilies and AddBaseline (and
// their ...With forms) modify the
// profile they are given (the learner's own, being built): they add only
// names no entry mentions yet, on the profile's architectures that have
// them, and record why in SyscallStats.Sources ("family:<member>",
// "baseline"); SourcesByKind and PrimarySource read the sources back.
//
// Threading: a *Profile is a plain value with no internal locking; the
// syscall tables are read-only after init and safe for concurrent use.
package profiles
