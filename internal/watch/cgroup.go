package watch

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sysward/sysward/internal/cgroups"
)

// Cgroup is a cgroup2 directory the watch created for a command it starts
// (`sysward watch -- CMD`, `sysward run --watch -- CMD`). Remove it.
type Cgroup struct {
	Dir string
	ID  uint64
}

var cgroupSeq atomic.Uint64

// NewCgroup creates <cgroup2 mount>/sysward/watch-<pid>-<n>.
func NewCgroup() (*Cgroup, error) {
	mnt, err := cgroups.Mountpoint()
	if err != nil {
		return nil, err
	}
	parent := filepath.Join(mnt, "sysward")
	if err := os.Mkdir(parent, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return nil, fmt.Errorf("creating cgroup %s: %w", parent, err)
	}
	dir := filepath.Join(parent, "watch-"+strconv.Itoa(os.Getpid())+"-"+strconv.FormatUint(cgroupSeq.Add(1), 10))
	if err := os.Mkdir(dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating cgroup %s: %w", dir, err)
	}
	id, err := cgroups.ID(dir)
	if err != nil {
		_ = unix.Rmdir(dir)
		return nil, err
	}
	return &Cgroup{Dir: dir, ID: id}, nil
}

// Place makes cmd start inside the cgroup (clone3 with CLONE_INTO_CGROUP),
// so it is in the cgroup from its first instruction. It returns a function
// to call once cmd.Start has returned.
func (c *Cgroup) Place(cmd *exec.Cmd) (started func(), err error) {
	f, err := os.Open(c.Dir)
	if err != nil {
		return nil, fmt.Errorf("opening cgroup %s: %w", c.Dir, err)
	}
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.UseCgroupFD = true
	cmd.SysProcAttr.CgroupFD = int(f.Fd())
	return func() { f.Close() }, nil
}

// Remove kills whatever is left in the cgroup and removes it, waiting up to
// timeout for it to empty.
func (c *Cgroup) Remove(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	killed := false
	for {
		err := unix.Rmdir(c.Dir)
		if err == nil || errors.Is(err, unix.ENOENT) {
			return nil
		}
		if !errors.Is(err, unix.EBUSY) {
			return fmt.Errorf("removing cgroup %s: %w", c.Dir, err)
		}
		if !killed {
			if werr := os.WriteFile(filepath.Join(c.Dir, "cgroup.kill"), []byte("1"), 0); werr != nil {
				raw, _ := os.ReadFile(filepath.Join(c.Dir, "cgroup.procs"))
				for _, f := range strings.Fields(string(raw)) {
					if pid, err := strconv.Atoi(f); err == nil {
						_ = unix.Kill(pid, unix.SIGKILL)
					}
				}
			}
			killed = true
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("removing cgroup %s: %w (processes left)", c.Dir, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
