package watch

import (
	"os/exec"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sysward/sysward/internal/cgroups"
)

// Cgroup is a cgroup2 directory the watch created for a command it starts
// (`sysward watch -- CMD`, `sysward run --watch -- CMD`): an owned cgroup
// (see cgroups.Create for its lifetime). Remove it.
type Cgroup struct {
	Dir string
	ID  uint64
}

// NewCgroup creates <cgroup2 mount>/sysward/watch-<pid>-<n>.
func NewCgroup() (*Cgroup, error) {
	dir, err := cgroups.Create("watch")
	if err != nil {
		return nil, err
	}
	id, err := cgroups.ID(dir)
	if err != nil {
		_ = unix.Rmdir(dir)
		return nil, err
	}
	return &Cgroup{Dir: dir, ID: id}, nil
}

// Start starts cmd inside the cgroup, tied to this process's life (see
// cgroups.Start), and returns the channel cmd.Wait's result arrives on.
func (c *Cgroup) Start(cmd *exec.Cmd) (<-chan error, error) {
	return cgroups.Start(cmd, c.Dir)
}

// Remove kills whatever is left in the cgroup and removes it, waiting up to
// timeout for it to empty.
func (c *Cgroup) Remove(timeout time.Duration) error {
	return cgroups.Remove(c.Dir, timeout)
}
