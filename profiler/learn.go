package profiler

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sysward/sysward/internal/cgroups"
	"github.com/sysward/sysward/internal/version"
	"github.com/sysward/sysward/profiles"
)

// Target says what Learn learns. Exactly one field is set.
type Target struct {
	// Command is run in a fresh cgroup (argv; Command[0] is looked up in PATH).
	Command []string
	// Cgroup is a cgroup2 directory, absolute or relative to the mount.
	Cgroup string
	// PID selects that process's cgroup (everything in it is learned).
	PID int
	// Container is a container id or unique id prefix (runc, containerd,
	// podman/crun), learned from its cgroup. If its config has a seccomp
	// profile, only calls made under a filter are recorded (FlagWaitSeccomp).
	Container string
}

func (t Target) kind() (string, error) {
	n := 0
	kind := ""
	if len(t.Command) > 0 {
		n, kind = n+1, "command"
	}
	if t.Cgroup != "" {
		n, kind = n+1, "cgroup"
	}
	if t.PID != 0 {
		n, kind = n+1, "pid"
	}
	if t.Container != "" {
		n, kind = n+1, "container"
	}
	if n != 1 {
		return "", errors.New("exactly one of a command, --cgroup, --pid or --container is needed")
	}
	return kind, nil
}

// StopReason says why a learning session ended.
type StopReason string

// Stop reasons.
const (
	StopCommandExited StopReason = "command exited"
	StopCgroupEmpty   StopReason = "cgroup emptied"
	StopDuration      StopReason = "duration reached"
	StopStable        StopReason = "no new syscall for the --until-stable period"
	StopInterrupted   StopReason = "interrupted"
)

// LearnOptions configure Learn. A nil *LearnOptions means the defaults.
type LearnOptions struct {
	// Profiler to track with; nil loads one for the session and closes it
	// afterwards. With a shared Profiler, first-seen times come from polling
	// (the ring buffer is left to its owner).
	Profiler *Profiler
	// Duration stops the session after this long (0: no limit).
	Duration time.Duration
	// UntilStable stops once no new syscall was seen for this long.
	UntilStable time.Duration
	// DefaultAction of the profile; "" means SCMP_ACT_ERRNO (EPERM).
	DefaultAction profiles.Action
	// Progress, if set, receives a status line every ProgressInterval
	// (default 1s) and a final one.
	Progress         io.Writer
	ProgressInterval time.Duration
	// Stdin, Stdout, Stderr of the command (nil: /dev/null).
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// ContainerRoots overrides DefaultContainerRoots.
	ContainerRoots []string
	// Tracking, if set, is called once the cgroup is tracked (before a
	// command starts) with its id and directory.
	Tracking func(cgroupID uint64, dir string)
	// RuntimeBase merges a container runtime's base (the calls it may make
	// between installing the filter and exec'ing the entrypoint, see
	// RuntimeBase) into the profile: "" or RuntimeBaseAuto picks runc's for
	// a runc container learned from its filter on; RuntimeBaseNone merges
	// nothing; RuntimeBaseRunc merges runc's for any cgroup, pid or
	// container target. Commands get none. Other names: ErrUnknownRuntimeBase.
	RuntimeBase string
	// Generalize widens the traced set by syscall family
	// (profiles.WidenFamilies): "" or profiles.GeneralizeFamilies does,
	// profiles.GeneralizeNone does not.
	Generalize string
	// Baseline adds the self-query baseline (profiles.AddBaseline): "" or
	// profiles.BaselineSelf does, profiles.BaselineNone does not.
	Baseline string
	// Static reads the workload's executables (the command, and every one
	// its processes run) for the syscalls they can reach: StaticHints,
	// StaticLibs or StaticOff; see StaticReport. "" is StaticOff here, so
	// that an API caller gets the trace alone unless it asks (the CLI's
	// --static defaults to hints). Other values: ErrUnknownStatic.
	Static string
	// RuntimeItself learns a command that makes a container runtime start
	// a container (DetectRuntimeCommand) as it is: the runtime's calls,
	// not the container's. Without it such a command is followed: the
	// container is learned in the cgroup its runtime moves it to, from its
	// filter on (as a --container target), and the runtime's own calls are
	// left out (Profiler.Follow). If no container could be followed, Learn
	// returns a RuntimeCommandError (ErrContainerRuntime) that says what to
	// run instead.
	RuntimeItself bool
}

// Result is what a learning session produced.
type Result struct {
	// Profile is the learned profile, with provenance and stats.
	Profile *profiles.Profile
	// Seen is the raw learned set per architecture.
	Seen *SyscallSet
	// Stop says why the session ended.
	Stop StopReason
	// ExitCode is the command's exit status (command targets): -1 when it
	// did not exit by itself (killed at the end of the session).
	ExitCode int
	// CgroupID and Cgroup identify what was tracked.
	CgroupID uint64
	Cgroup   string
	// Warnings are things the user should know (e.g. a container without a
	// seccomp profile, whose runtime setup cannot be told apart).
	Warnings []string
	// RuntimeBase is the base merged into Profile (nil: none), and
	// RuntimeBaseAdded the calls it added that the session did not see.
	RuntimeBase      *RuntimeBase
	RuntimeBaseAdded []string
	// FamilyAdded and BaselineAdded are the calls the session did not see
	// that the family widening and the self-query baseline added.
	FamilyAdded, BaselineAdded []string
	// Coverage says how saturated the session was and where the allowed
	// syscalls came from.
	Coverage Coverage
	// Static is what static hints added and found (nil with StaticOff).
	Static *StaticReport
	// Followed are the cgroups a container runtime command moved tasks
	// into, learned instead of the command's own (LearnOptions.RuntimeItself).
	Followed []uint64
}

// Learn tracks target until it stops (see StopReason) or ctx is done, and
// returns the learned profile. A cancelled ctx is a normal stop
// (StopInterrupted): the profile is still returned. Any cgroup directory
// Learn created is removed before it returns, its processes killed.
func Learn(ctx context.Context, target Target, opts *LearnOptions) (_ *Result, err error) {
	if opts == nil {
		opts = &LearnOptions{}
	}
	kind, err := target.kind()
	if err != nil {
		return nil, err
	}
	if _, err := runtimeBaseFor(opts.RuntimeBase, kind, nil, false); err != nil {
		return nil, err
	}
	if err := profiles.CheckGeneralize(opts.Generalize); err != nil {
		return nil, err
	}
	if err := profiles.CheckBaseline(opts.Baseline); err != nil {
		return nil, err
	}
	staticMode, err := checkStatic(opts.Static)
	if err != nil {
		return nil, err
	}
	var follow *RuntimeCommand
	if kind == "command" && !opts.RuntimeItself {
		path, _ := exec.LookPath(target.Command[0])
		follow = DetectRuntimeCommand(target.Command, path)
		if follow != nil && follow.Detached() {
			// It returns at once: the session would end before the
			// container does.
			return nil, fmt.Errorf("a detached container cannot be followed: %w", &RuntimeCommandError{Cmd: follow, Tool: "learn"})
		}
	}
	res := &Result{ExitCode: -1}
	// Load first: missing privileges or BTF are reported before anything
	// is created.
	p, own := opts.Profiler, opts.Profiler == nil
	if p == nil {
		if p, err = Load(nil); err != nil {
			return nil, err
		}
		defer p.Close()
	}
	prov := profiles.Provenance{Tool: version.Tool(), Target: kind, Kernel: kernelRelease()}
	prov.Host, _ = os.Hostname()
	flags := FlagFirstSeen
	created := false
	var ctr *Container

	// Resolve the target to a cgroup directory.
	switch kind {
	case "command":
		prov.Workload = strings.Join(target.Command, " ")
		if _, err := exec.LookPath(target.Command[0]); err != nil {
			return nil, fmt.Errorf("command %q: %w", target.Command[0], err)
		}
		if res.Cgroup, err = newLearnCgroup(); err != nil {
			return nil, err
		}
		created = true
		flags |= FlagWaitExec
		if follow != nil {
			// The runtime itself is not learned: only what runs under a
			// filter, in the cgroups it moves the container to.
			flags = flags&^FlagWaitExec | FlagWaitSeccomp
		}
	case "cgroup":
		prov.Workload = target.Cgroup
		if res.Cgroup, err = ResolveCgroup(target.Cgroup); err != nil {
			return nil, err
		}
	case "pid":
		prov.Workload = strconv.Itoa(target.PID)
		if res.Cgroup, err = ResolvePID(target.PID); err != nil {
			return nil, err
		}
		if mnt, _ := cgroups.Mountpoint(); res.Cgroup == mnt {
			res.Warnings = append(res.Warnings, fmt.Sprintf("pid %d is in the root cgroup: everything else there is learned too", target.PID))
		}
	case "container":
		c, err := ResolveContainer(target.Container, opts.ContainerRoots)
		if err != nil {
			return nil, err
		}
		prov.Workload = c.ID
		res.Cgroup = c.Cgroup
		ctr = c
		if c.Seccomp {
			flags |= FlagWaitSeccomp
		} else {
			res.Warnings = append(res.Warnings, fmt.Sprintf("container %s has no seccomp profile: the runtime's own setup cannot be told from the workload (learn it under an allow-all profile)", c.ID))
		}
	}
	var scan *execScanner
	if staticMode != StaticOff {
		scan = newExecScanner(staticMode)
		if follow != nil {
			scan.filteredOnly = true
			scan.excludePath(target.Command[0])
			scan.excludePath(follow.OCIRuntime())
		}
		// A followed container runtime command: the runtime is not the
		// workload; its container's programs are read from the followed
		// cgroups (scanFollowed).
		if kind == "command" && follow == nil {
			if path, err := exec.LookPath(target.Command[0]); err == nil {
				scan.readPath(path)
			}
		}
		if ctr != nil {
			scan.readEntrypoint(ctr.Bundle)
		}
	}
	if created {
		dir := res.Cgroup
		defer func() {
			if rerr := removeCgroup(dir, 5*time.Second); rerr != nil && err == nil {
				err = rerr
			}
		}()
	}
	if res.CgroupID, err = cgroups.ID(res.Cgroup); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnknownTarget, err)
	}

	if !own {
		flags &^= FlagFirstSeen // the ring buffer belongs to the caller
	}
	track := TrackOptions{Mode: ModeLearn, Flags: flags}
	if scan != nil && flags&FlagFirstSeen != 0 {
		track = execTrack(flags) // exec events, for static hints
	}
	if err := p.Track(res.CgroupID, track); err != nil {
		return nil, err
	}
	defer p.Untrack(res.CgroupID) //nolint:errcheck // best effort; Close frees it anyway
	if follow != nil {
		if err := p.Follow(res.CgroupID, TrackOptions{Mode: ModeLearn, Flags: FlagWaitSeccomp}); err != nil {
			return nil, err
		}
		defer p.Unfollow(res.CgroupID) //nolint:errcheck // best effort; Close frees it anyway
	}
	prov.Started = time.Now()
	wasPopulated := kind != "command" && populated(res.Cgroup)
	if opts.Tracking != nil {
		opts.Tracking(res.CgroupID, res.Cgroup)
	}

	// First-seen times from the ring buffer (one event per distinct syscall).
	firstSeen := newFirstSeen()
	evCtx, stopEvents := context.WithCancel(context.Background())
	var evWG sync.WaitGroup
	if flags&FlagFirstSeen != 0 {
		cgid := res.CgroupID
		evWG.Add(1)
		go func() {
			defer evWG.Done()
			for {
				ev, err := p.ReadEvent(evCtx)
				if err != nil {
					return
				}
				if ev.Kind == EventFirstSeen && ev.CgroupID == cgid && ev.Nr >= 0 {
					firstSeen.note(ev.Arch, ev.Nr, ev.Time)
					if scan != nil && follow == nil { // a new call: maybe a new program
						scan.scanPID(int(ev.PID), true)
					}
				}
				if ev.Kind == EventExec && ev.CgroupID == cgid && scan != nil && follow == nil {
					scan.exec(int(ev.PID), ev.Filename)
				}
			}
		}()
	}
	defer func() { stopEvents(); evWG.Wait() }()

	// scanStatic reads the programs running in the workload: the learned
	// cgroup's, or for a followed container runtime command the followed
	// containers' (their cgroups found by id under the cgroup2 mount).
	followDirs := map[uint64]string{}
	scanStatic := func() {
		if follow == nil {
			scan.scanCgroup(res.Cgroup)
			return
		}
		ids, _, _, err := p.Followed(res.CgroupID)
		if err != nil {
			return
		}
		want := map[uint64]bool{}
		for _, id := range ids {
			if _, ok := followDirs[id]; !ok {
				want[id] = true
			}
		}
		if len(want) > 0 {
			if mnt, err := cgroups.Mountpoint(); err == nil {
				for id, dir := range cgroups.FindIDs(mnt, want, 100000) {
					followDirs[id] = dir
				}
			}
		}
		for _, dir := range followDirs {
			scan.scanCgroup(dir)
		}
	}

	// Start the command inside the cgroup (clone3 CLONE_INTO_CGROUP), so it
	// is tracked from its first instruction and cannot escape before exec.
	var cmdDone <-chan error
	var cmd *exec.Cmd
	if kind == "command" {
		// It dies with sysward (cgroups.Start): a learn killed by SIGKILL
		// leaves no workload behind, and the next sysward removes the cgroup.
		cmd = exec.Command(target.Command[0], target.Command[1:]...)
		cmd.Stdin, cmd.Stdout, cmd.Stderr = opts.Stdin, opts.Stdout, opts.Stderr
		if cmdDone, err = cgroups.Start(cmd, res.Cgroup); err != nil {
			return nil, fmt.Errorf("starting %s: %w", target.Command[0], err)
		}
	}

	interval := opts.ProgressInterval
	if interval <= 0 {
		interval = time.Second
	}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var durC <-chan time.Time
	if opts.Duration > 0 {
		t := time.NewTimer(opts.Duration)
		defer t.Stop()
		durC = t.C
	}
	lastCount, lastChange := 0, time.Now()
	lastReport, countAtReport := time.Now(), 0
	poll := func(now time.Time) (*SyscallSet, error) {
		seen, err := p.Seen(res.CgroupID)
		if err != nil {
			return nil, err
		}
		if follow != nil {
			// The container's calls, in the cgroups it was moved to.
			if _, seen, _, err = p.Followed(res.CgroupID); err != nil {
				return nil, err
			}
		}
		firstSeen.noteSet(seen, now)
		if n := seen.Len(); n != lastCount {
			lastCount, lastChange = n, now
		}
		return seen, nil
	}
	report := func(now time.Time, final bool) {
		if opts.Progress == nil {
			return
		}
		end := "\r"
		if final {
			end = "\n"
		}
		fmt.Fprintf(opts.Progress, "\rsysward learn: %d syscalls learned, %d new in last %s, elapsed %s   %s",
			lastCount, lastCount-countAtReport, interval, now.Sub(prov.Started).Round(time.Second), end)
		countAtReport, lastReport = lastCount, now
	}

loop:
	for {
		select {
		case <-ctx.Done():
			res.Stop = StopInterrupted
			break loop
		case werr := <-cmdDone:
			cmdDone = nil
			res.Stop = StopCommandExited
			res.ExitCode = exitCode(cmd, werr)
			break loop
		case <-durC:
			res.Stop = StopDuration
			break loop
		case now := <-tick.C:
			if _, err := poll(now); err != nil {
				return nil, err
			}
			if scan != nil {
				scanStatic()
			}
			if opts.UntilStable > 0 && lastCount > 0 && now.Sub(lastChange) >= opts.UntilStable {
				res.Stop = StopStable
				break loop
			}
			if kind != "command" {
				// Stop when it empties, once it has held something: a
				// process seen by a poll, or a syscall recorded (a short
				// workload can come and go between polls). A cgroup
				// learned before its workload starts waits for it.
				if populated(res.Cgroup) {
					wasPopulated = true
				} else if wasPopulated || lastCount > 0 {
					res.Stop = StopCgroupEmpty
					break loop
				}
			}
			if now.Sub(lastReport) >= interval {
				report(now, false)
			}
		}
	}

	// Read the final set before anything is killed.
	now := time.Now()
	seen, err := poll(now)
	if err != nil {
		return nil, err
	}
	prov.Ended = now
	report(now, true)
	if scan != nil {
		scanStatic()
	}
	if cmd != nil && cmdDone != nil {
		// The command outlived the session: kill everything in its cgroup.
		cgroups.Kill(res.Cgroup)
		<-cmdDone
	}
	// Let the event reader drain what is already in the ring.
	time.Sleep(2 * pollInterval)
	stopEvents()
	evWG.Wait()

	res.Seen = seen
	var unknown []string
	res.Profile, unknown = buildProfile(seen, firstSeen, opts.DefaultAction, prov)
	if len(unknown) > 0 {
		res.Warnings = append(res.Warnings, "syscall numbers with no name in the syscall table (left out of the profile): "+strings.Join(unknown, ", "))
	}
	if follow != nil {
		ids, _, lost, err := p.Followed(res.CgroupID)
		if err != nil {
			return nil, err
		}
		res.Followed = ids
		if lost > 0 {
			res.Warnings = append(res.Warnings, fmt.Sprintf("%s moved tasks into %d more cgroups than sysward follows (%d): their calls are missing", follow.Runtime, lost, followSlots))
		}
		if len(ids) == 0 || seen.Len() == 0 {
			why := "it moved nothing into another cgroup that sysward saw (a runtime that starts the container through systemd or with clone3 CLONE_INTO_CGROUP cannot be followed)"
			if len(ids) > 0 {
				why = "nothing ran under a seccomp filter there (give the container an allow-all profile, defaultAction SCMP_ACT_ALLOW, so its runtime's set-up can be told from it)"
			}
			return nil, fmt.Errorf("no container learned: %s: %w", why, &RuntimeCommandError{Cmd: follow, Tool: "learn"})
		}
		// As for a --container target learned from its filter on.
		kind, ctr = "container", &Container{Runtime: follow.OCIRuntime()}
		if ctr.Runtime == "" && (opts.RuntimeBase == "" || opts.RuntimeBase == RuntimeBaseAuto) {
			res.Warnings = append(res.Warnings, follow.Runtime+"'s OCI runtime is not on its command line (--runtime): no runtime base merged; if it is runc, learn with --runtime-base runc (or pass --runtime runc)")
		}
	}
	if res.RuntimeBase, err = runtimeBaseFor(opts.RuntimeBase, kind, ctr, flags&FlagWaitSeccomp != 0); err != nil {
		return nil, err
	}
	res.RuntimeBaseAdded = mergeRuntimeBase(res.Profile, res.RuntimeBase)
	if scan != nil {
		res.Static = mergeStatic(res.Profile, scan, staticMode)
	}
	// Static additions first, so that the coverage generalize computes
	// counts them.
	generalize(res, opts, prov)
	return res, nil
}

func exitCode(cmd *exec.Cmd, err error) int {
	if err == nil {
		return 0
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal())
		}
		return ee.ExitCode()
	}
	return -1
}

func kernelRelease() string {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return ""
	}
	return unix.ByteSliceToString(u.Release[:])
}

// firstSeen keeps the first time each (arch, nr) was observed: from the
// kernel's first-seen events when they arrive, else from polling.
type firstSeen struct {
	mu sync.Mutex
	m  map[profiles.Arch]map[int]time.Time
}

func newFirstSeen() *firstSeen { return &firstSeen{m: map[profiles.Arch]map[int]time.Time{}} }

func (f *firstSeen) note(a profiles.Arch, nr int, t time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	m := f.m[a]
	if m == nil {
		m = map[int]time.Time{}
		f.m[a] = m
	}
	if old, ok := m[nr]; !ok || t.Before(old) {
		m[nr] = t
	}
}

func (f *firstSeen) noteSet(s *SyscallSet, t time.Time) {
	for _, a := range s.Arches() {
		for _, nr := range s.Numbers(a) {
			f.mu.Lock()
			_, ok := f.m[a][nr]
			f.mu.Unlock()
			if !ok {
				f.note(a, nr, t)
			}
		}
	}
}

func (f *firstSeen) get(a profiles.Arch, nr int) (time.Time, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t, ok := f.m[a][nr]
	return t, ok
}

// buildProfile turns the learned set into a profile: one ALLOW entry with
// every name seen on any architecture, the architectures seen, provenance
// and per-syscall stats. Numbers without a name (a kernel newer than the
// syscall tables) are returned apart: a runtime could not load the name.
func buildProfile(seen *SyscallSet, fs *firstSeen, def profiles.Action, prov profiles.Provenance) (*profiles.Profile, []string) {
	var unknown []string
	if def == "" {
		def = profiles.ActErrno
	}
	arches := seen.Arches()
	p := profiles.New(def, arches...)
	stats := map[string]profiles.SyscallStats{}
	for _, a := range arches {
		for _, nr := range seen.Numbers(a) {
			name, ok := profiles.SyscallName(a, nr)
			if !ok {
				unknown = append(unknown, fmt.Sprintf("%s:%d", a, nr))
				continue
			}
			p.Allow(name)
			st := stats[name]
			st.Arches = append(st.Arches, a)
			st.Sessions = 1
			st.Sources = []string{profiles.SourceTraced}
			if t, ok := fs.get(a, nr); ok && (st.FirstSeen.IsZero() || t.Before(st.FirstSeen)) {
				st.FirstSeen = t.UTC()
			}
			stats[name] = st
		}
	}
	p.Sysward = &profiles.Metadata{Provenance: []profiles.Provenance{prov}, Stats: stats}
	return p, unknown
}
