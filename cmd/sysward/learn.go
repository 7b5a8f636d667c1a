package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"

	"github.com/sysward/sysward/internal/cgroups"
	"github.com/sysward/sysward/profiler"
	"github.com/sysward/sysward/profiles"
)

// learnCommand is `sysward learn`: flags in, profiler.Learn, profile out.
func learnCommand() *cli.Command {
	return &cli.Command{
		Name:      "learn",
		Usage:     "learn a workload's syscalls with eBPF and write a seccomp profile",
		ArgsUsage: "[-- CMD ARGS...]",
		UsageText: `sysward learn [-o FILE] [--duration D] [--until-stable D] [--default-action ACTION] [--quiet]
              [--runtime-base auto|none|runc] [--generalize families|none] [--baseline self|none]
              [--static hints|libs|off]
              (-- CMD ARGS... | --cgroup PATH | --pid PID | --container ID)

Tracks the workload's cgroup in the kernel (every thread and descendant) and
writes the syscalls it made as an OCI/Docker seccomp profile, with provenance
and per-syscall first-seen times. A command runs in a fresh cgroup that is
removed afterwards (if sysward is killed, the command dies with it and the
next sysward removes the cgroup); only what it does from its execve on is
learned. A
container with a seccomp profile is learned from the moment its runtime
installs the filter: learn it under an allow-all profile (defaultAction
SCMP_ACT_ALLOW) so runc's own setup stays out of the profile. runc's Go
runtime makes calls between installing the filter and exec'ing the
entrypoint that differ from start to start (futex, rt_sigreturn after a
preemption signal, ...): --runtime-base (default auto: runc's for a runc
container) merges the measured set runc may make there, marked in the
profile's provenance as "runtime-base"; none leaves it out.

A session allows what it saw; the same workload under another load makes
siblings of those calls (writev for write, epoll_pwait for epoll_wait,
mremap for mmap) and harmless queries of its own state (gettid, getrusage).
--generalize families (default) adds the other members of each traced
call's family (sysward's documented table: no member adds a capability over
the others, none is dangerous; with static hints over glibc or Go binaries,
only members of the call's generation, legacy or modern, and for a call an
import explains only those a linked library can reach), --baseline self
(default) adds the
self-query baseline; each added call's "sources" in the profile says why
(family:<traced call>, baseline), and the report at the end counts them
and says how long the workload ran without a new syscall (a warning when
it was still making new ones: learn longer, or run the profile in complain
mode and 'sysward profile absorb' what it adds).

Static hints (--static, default hints) read the workload's executables (the
command, and every program its processes run, inside a container's root)
and add the syscalls their glibc imports or Go syscall wrappers can make
that the session did not, each marked "static:<binary>:<function>" in the
profile's stats; a dangerous one (see profile lint) is not allowed but
listed under the profile's sysward.reachable. hints also counts the
imports of a library the binary is a front end to (one it takes at least
as many functions from as from glibc: the sqlite3 shell over libsqlite3);
libs those of every direct shared library; off reads nothing.
Statically linked C binaries (busybox) give no hints: learn says so.

Stops when the command exits, the cgroup empties, after --duration, after
--until-stable with nothing new, or on Ctrl-C/SIGTERM (the profile is still
written). Without -o (or with -o -) the profile goes to stdout and the
command's stdout to stderr.

A container runtime asked to start a container (runc/crun run, podman/docker/
nerdctl run, ctr run ...) moves it into a cgroup of its own: sysward follows
it there and learns the container from its seccomp filter on, like
--container (give it an allow-all profile), not the runtime. What cannot be
followed (a detached run, a container without a seccomp profile, a runtime
placed by systemd) is status 2, with the commands to run instead (create
the container, sysward learn --container ID, start it). --runtime-itself
learns the runtime's own calls. Needs root (CAP_BPF+CAP_PERFMON), kernel BTF and
a cgroup2 mount. Exit status: 0 once the profile is written (a command that
failed is a warning), 2 for bad usage or an unknown pid, cgroup, container or
command, 1 otherwise.

Example:
   sysward learn -o ls.json -- ls /
   sysward learn --container 3f2a --until-stable 30s -o web.json
   sysward learn --pid 4242 --duration 5m --default-action SCMP_ACT_LOG > app.json`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "write the profile to `FILE` (a regular file is replaced atomically; a device or FIFO is written to); - is stdout"},
			&cli.DurationFlag{Name: "duration", Usage: "stop after `D`"},
			&cli.DurationFlag{Name: "until-stable", Usage: "stop when no new syscall was seen for `D`"},
			&cli.StringFlag{Name: "default-action", Value: string(profiles.ActErrno), Usage: "the profile's default `ACTION`"},
			&cli.StringFlag{Name: "generalize", Value: profiles.GeneralizeFamilies, Usage: "`HOW` to widen the traced set: families (each traced call's siblings, see --help) or none"},
			&cli.StringFlag{Name: "baseline", Value: profiles.BaselineSelf, Usage: "`SET` of harmless calls to add: self (the process's queries of its own state) or none"},
			&cli.StringFlag{Name: "cgroup", Usage: "learn the cgroup2 directory `PATH` (absolute or relative to the mount)"},
			&cli.IntFlag{Name: "pid", Usage: "learn the cgroup of process `PID`"},
			&cli.StringFlag{Name: "container", Usage: "learn the runc/containerd/podman container `ID` (or unique prefix)"},
			&cli.StringFlag{Name: "runtime-base", Value: profiler.RuntimeBaseAuto, Usage: "merge the container runtime's base: `NAME` auto (runc's for a runc container), none, or runc (for any target, a command too: a program learned on the host for a runc container)"},
			&cli.StringFlag{Name: "static", Value: profiler.StaticHints, Usage: "static hints from the workload's binaries: `MODE` hints (their own imports and a front-end library's), libs (and all their shared libraries'), or off"},
			&cli.BoolFlag{Name: "runtime-itself", Usage: "learn a container runtime command (runc run, podman run, ctr run ...) as it is: the runtime's calls, not the container's (followed without it)"},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "no progress line"},
		},
		Action: learnAction,
	}
}

func learnAction(c *cli.Context) error {
	target := profiler.Target{
		Command:   c.Args().Slice(),
		Cgroup:    c.String("cgroup"),
		PID:       c.Int("pid"),
		Container: c.String("container"),
	}
	n := 0
	for _, set := range []bool{len(target.Command) > 0, target.Cgroup != "", c.IsSet("pid"), target.Container != ""} {
		if set {
			n++
		}
	}
	if n != 1 {
		return usagef("learn: give exactly one of -- CMD ARGS..., --cgroup, --pid or --container (see --help)")
	}
	if c.IsSet("pid") && target.PID <= 0 {
		return usagef("learn: --pid %d: want a positive process id", target.PID)
	}
	action := profiles.Action(c.String("default-action"))
	if !validAction(action) {
		return usagef("learn: --default-action %q: want one of %v", action, profiles.KnownActions())
	}
	if c.Duration("duration") < 0 || c.Duration("until-stable") < 0 {
		return usagef("learn: durations must not be negative")
	}
	if _, err := profiler.LookupRuntimeBase(c.String("runtime-base")); err != nil && c.String("runtime-base") != profiler.RuntimeBaseAuto {
		return usagef("learn: --runtime-base: %v", err)
	}
	if err := profiles.CheckGeneralize(c.String("generalize")); err != nil {
		return usagef("learn: --generalize: %v", err)
	}
	if err := profiles.CheckBaseline(c.String("baseline")); err != nil {
		return usagef("learn: --baseline: %v", err)
	}
	switch c.String("static") {
	case profiler.StaticHints, profiler.StaticLibs, profiler.StaticOff:
	default:
		return usagef("learn: --static %q: want hints, libs or off", c.String("static"))
	}
	out := c.String("output")
	toStdout := out == "" || out == "-"

	stderr := c.App.ErrWriter
	if stderr == nil {
		stderr = os.Stderr
	}
	stdout := c.App.Writer
	if stdout == nil {
		stdout = os.Stdout
	}
	opts := &profiler.LearnOptions{
		Duration:      c.Duration("duration"),
		UntilStable:   c.Duration("until-stable"),
		DefaultAction: action,
		RuntimeBase:   c.String("runtime-base"),
		Generalize:    c.String("generalize"),
		Baseline:      c.String("baseline"),
		Static:        c.String("static"),
		RuntimeItself: c.Bool("runtime-itself"),
		Stdin:         os.Stdin,
		Stdout:        stdout,
		Stderr:        stderr,
	}
	if toStdout {
		opts.Stdout = stderr // keep stdout for the profile
	}
	if !c.Bool("quiet") && isTerminal(stderr) {
		opts.Progress = stderr
	}

	ctx, stop := signal.NotifyContext(c.Context, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	res, err := profiler.Learn(ctx, target, opts)
	if err != nil {
		switch {
		case errors.Is(err, profiler.ErrUnknownTarget), errors.Is(err, profiler.ErrAmbiguous),
			errors.Is(err, exec.ErrNotFound), errors.Is(err, profiler.ErrContainerRuntime):
			return usageErr(fmt.Errorf("learn: %w", err))
		case errors.Is(err, cgroups.ErrNoCgroup2):
			return fmt.Errorf("learn: %w (mount one: mount -t cgroup2 none /sys/fs/cgroup/unified)", err)
		}
		return fmt.Errorf("learn: %w", err)
	}
	for _, w := range res.Warnings {
		fmt.Fprintf(stderr, "sysward learn: warning: %s\n", w)
	}
	if res.RuntimeBase != nil && !c.Bool("quiet") {
		fmt.Fprintf(stderr, "sysward learn: runtime base %s added %d calls the session did not see: %v\n", res.RuntimeBase.Name, len(res.RuntimeBaseAdded), res.RuntimeBaseAdded)
	}
	if !c.Bool("quiet") {
		printStatic(stderr, res.Static)
	}
	writeCoverage(stderr, res, c.Bool("quiet"))
	if res.Stop == profiler.StopCommandExited && res.ExitCode != 0 {
		fmt.Fprintf(stderr, "sysward learn: warning: the command exited with status %d; the profile covers what it did\n", res.ExitCode)
	}
	data, err := profiles.Marshal(res.Profile)
	if err != nil {
		return err
	}
	if toStdout {
		_, err = stdout.Write(data)
		return err
	}
	if err := profiles.WriteFileAtomic(out, data, 0o644); err != nil {
		return err
	}
	if !c.Bool("quiet") {
		fmt.Fprintf(stderr, "sysward learn: %d syscalls (%s) written to %s\n", len(res.Profile.Names()), res.Stop, out)
	}
	return nil
}

func validAction(a profiles.Action) bool {
	for _, k := range profiles.KnownActions() {
		if k == a {
			return true
		}
	}
	return false
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// writeCoverage prints the end-of-learning coverage report: where the
// allowed syscalls came from, how long since the last new one, and the
// saturation warning (printed even with --quiet).
func writeCoverage(w io.Writer, res *profiler.Result, quiet bool) {
	cv := res.Coverage
	if cv.Warning != "" {
		fmt.Fprintf(w, "sysward learn: warning: %s\n", cv.Warning)
	}
	if quiet {
		return
	}
	var parts []string
	for _, k := range append(profiles.SourceKinds(), profiles.KindUnknown) {
		if n := cv.BySource[k]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, k))
		}
	}
	fmt.Fprintf(w, "sysward learn: coverage: %s", strings.Join(parts, ", "))
	if !cv.LastNew.IsZero() {
		fmt.Fprintf(w, "; last new syscall %s before the end of a %s session", roundForPeople(cv.SinceLastNew), roundForPeople(cv.Session))
	}
	fmt.Fprintln(w)
	if len(res.FamilyAdded) > 0 {
		fmt.Fprintf(w, "sysward learn: families added %d siblings of traced calls: %s\n", len(res.FamilyAdded), strings.Join(res.FamilyAdded, " "))
	}
	if len(res.BaselineAdded) > 0 {
		fmt.Fprintf(w, "sysward learn: self-query baseline added %d: %s\n", len(res.BaselineAdded), strings.Join(res.BaselineAdded, " "))
	}
}

// roundForPeople rounds d to a precision a person reads: seconds from a
// second on, else milliseconds, else microseconds.
func roundForPeople(d time.Duration) time.Duration {
	switch {
	case d >= time.Second:
		return d.Round(time.Second)
	case d >= time.Millisecond:
		return d.Round(time.Millisecond)
	}
	return d.Round(time.Microsecond)
}
