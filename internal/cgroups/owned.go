package cgroups

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Owned cgroups: the directories sysward creates for a command it starts
// (`learn -- CMD`, `watch -- CMD`, `run --watch -- CMD`), named
// <mount>/sysward/<kind>-<owner pid>-<n>-ns<pid namespace inode>. The pid
// namespace is in the name because a pid means something only there: two
// syswards in different pid namespaces may share one cgroup2 mount (a
// privileged container without a cgroup namespace), and neither may take
// the other's live owner for a dead one.
//
// Their lifetime is the owner's. On a normal end the owner kills what is
// left and removes the directory (Remove). If the owner is SIGKILLed it
// cannot, and cgroup2 has no release agent, so:
//   - the command it started gets SIGKILL from the kernel (Start sets
//     PR_SET_PDEATHSIG): a watched or learned workload does not go on
//     unwatched; its filter, if any, is in the kernel and would survive, but
//     nothing would read the alerts or the profile;
//   - what that command forked (its own children) and the directory are
//     removed by the next sysward that creates an owned cgroup (Create
//     sweeps every owned cgroup whose owner pid is gone).

// ownedParent is the directory under the cgroup2 mount that holds them.
const ownedParent = "sysward"

var (
	ownedSeq atomic.Uint64
	// The -ns part is missing in the names of sysward before 2026-12:
	// those are taken for this namespace's.
	ownedName = regexp.MustCompile(`^([a-z]+)-([0-9]+)-[0-9]+(?:-ns([0-9]+))?$`)
)

// pidNamespace returns the inode of this process's pid namespace.
func pidNamespace() (uint64, error) {
	var st unix.Stat_t
	if err := unix.Stat("/proc/self/ns/pid", &st); err != nil {
		return 0, fmt.Errorf("reading pid namespace: %w", err)
	}
	return st.Ino, nil
}

// Create makes a fresh owned cgroup <mount>/sysward/<kind>-<pid>-<n> and
// returns its directory. It first removes stale ones (SweepStale).
func Create(kind string) (string, error) {
	mnt, err := Mountpoint()
	if err != nil {
		return "", err
	}
	parent := filepath.Join(mnt, ownedParent)
	if err := os.Mkdir(parent, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return "", fmt.Errorf("creating cgroup %s: %w", parent, err)
	}
	ns, err := pidNamespace()
	if err != nil {
		return "", err
	}
	sweepStale(parent, ns)
	dir := filepath.Join(parent, kind+"-"+strconv.Itoa(os.Getpid())+"-"+strconv.FormatUint(ownedSeq.Add(1), 10)+
		"-ns"+strconv.FormatUint(ns, 10))
	if err := os.Mkdir(dir, 0o755); err != nil {
		return "", fmt.Errorf("creating cgroup %s: %w", dir, err)
	}
	return dir, nil
}

// SweepStale removes the owned cgroups of this pid namespace whose owner
// process is gone (a sysward that was SIGKILLed), killing what is still in them, and returns
// the directories removed. Best effort: one that does not empty in time is
// left for the next sweep.
func SweepStale() []string {
	mnt, err := Mountpoint()
	if err != nil {
		return nil
	}
	ns, err := pidNamespace()
	if err != nil {
		return nil
	}
	return sweepStale(filepath.Join(mnt, ownedParent), ns)
}

// sweepStale sweeps the owned cgroups of pid namespace ns under parent.
func sweepStale(parent string, ns uint64) []string {
	ents, err := os.ReadDir(parent)
	if err != nil {
		return nil
	}
	var removed []string
	for _, e := range ents {
		m := ownedName.FindStringSubmatch(e.Name())
		if !e.IsDir() || m == nil {
			continue
		}
		pid, err := strconv.Atoi(m[2])
		if err != nil || pid <= 0 || (m[3] != "" && m[3] != strconv.FormatUint(ns, 10)) || ownerAlive(pid) {
			continue
		}
		dir := filepath.Join(parent, e.Name())
		if Remove(dir, 2*time.Second) == nil {
			removed = append(removed, dir)
		}
	}
	return removed
}

// ownerAlive reports whether pid exists. A reused pid keeps a stale cgroup
// until that process is gone too: never removes a live owner's.
func ownerAlive(pid int) bool {
	err := unix.Kill(pid, 0)
	return err == nil || errors.Is(err, unix.EPERM)
}

// Remove kills whatever is left in dir (Kill), waits for it to empty and
// removes it. It gives up after timeout.
func Remove(dir string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	killed := false
	for {
		err := unix.Rmdir(dir)
		if err == nil || errors.Is(err, unix.ENOENT) {
			return nil
		}
		if !errors.Is(err, unix.EBUSY) {
			return fmt.Errorf("removing cgroup %s: %w", dir, err)
		}
		// Kill again half way: a process forking while it was killed.
		if !killed || time.Now().After(deadline.Add(-timeout/2)) {
			Kill(dir)
			killed = true
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("removing cgroup %s: %w (processes left)", dir, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Kill kills every process in dir and its descendants: cgroup.kill (Linux
// 5.14+), else SIGKILL to each pid in cgroup.procs.
func Kill(dir string) {
	if os.WriteFile(filepath.Join(dir, "cgroup.kill"), []byte("1"), 0) == nil {
		return
	}
	raw, _ := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	for _, f := range strings.Fields(string(raw)) {
		if pid, err := strconv.Atoi(f); err == nil {
			_ = unix.Kill(pid, unix.SIGKILL)
		}
	}
}

// Start starts cmd inside the cgroup dir (clone3 CLONE_INTO_CGROUP: it is
// in the cgroup from its first instruction) and ties it to this process's
// life: if this process dies, even by SIGKILL, the kernel sends cmd SIGKILL
// (PR_SET_PDEATHSIG). The returned channel receives cmd.Wait's result.
//
// PDEATHSIG fires when the parent *thread* exits, and the Go runtime ends a
// thread when a goroutine locked to it returns. So the start and the wait
// run on one goroutine locked to its thread for the command's whole life:
// no other goroutine can run there, lock it and end it under the command.
// The kernel clears PDEATHSIG on exec of a set-user-ID or set-group-ID
// binary, or one with file capabilities; such a command outlives this
// process, and the next Create sweeps it with its cgroup.
func Start(cmd *exec.Cmd, dir string) (<-chan error, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("opening cgroup %s: %w", dir, err)
	}
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.UseCgroupFD = true
	cmd.SysProcAttr.CgroupFD = int(f.Fd())
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	started := make(chan error, 1)
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		err := cmd.Start()
		f.Close()
		started <- err
		if err == nil {
			done <- cmd.Wait()
		}
	}()
	if err := <-started; err != nil {
		return nil, err
	}
	return done, nil
}
