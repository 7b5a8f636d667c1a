package watch

import (
	"strings"

	"github.com/sysward/sysward/detector"
	"github.com/sysward/sysward/internal/procinfo"
	"github.com/sysward/sysward/profiler"
)

// fillProcess copies what /proc said about the calling process into ev.
// The kernel event's own facts (comm, pid, ppid, uid, gid) stand in when the
// process exited before /proc could be read.
func fillProcess(ev *detector.Event, p *procinfo.Process, kev *profiler.Event) {
	ev.Proc.PID = int64(kev.PID)
	ev.Proc.PPID = int64(kev.PPID)
	ev.User.UID = int64(kev.UID)
	ev.User.LoginUID = -1
	ev.Group.GID = int64(kev.GID)
	if p == nil || p.Exited {
		ev.Proc.Name = kev.Comm
		if kev.Kind == profiler.EventExec {
			ev.Proc.ExePath = kev.Filename
		}
		if p != nil && p.Name != "" {
			ev.Proc.Name = p.Name
		}
		return
	}
	ev.Proc.Name = p.Name
	if ev.Proc.Name == "" {
		ev.Proc.Name = kev.Comm
	}
	ev.Proc.Exe = p.Exe
	ev.Proc.ExePath = p.ExePath
	ev.Proc.Args = strings.Join(p.Args, " ")
	ev.Proc.Cmdline = ""
	ev.Proc.Cwd = p.Cwd
	ev.Proc.TTY = int64(p.TTY)
	ev.Proc.Ancestors = ev.Proc.Ancestors[:0]
	for _, a := range p.Ancestors {
		ev.Proc.Ancestors = append(ev.Proc.Ancestors, detector.Ancestor{PID: int64(a.PID), Name: a.Name, ExePath: a.ExePath, Cmdline: a.Cmdline})
	}
	ev.User.UID = int64(p.UID)
	ev.User.Name = p.User
	ev.User.LoginUID = p.LoginUID
	ev.Group.GID = int64(p.GID)
	ev.Group.Name = p.Group
	if p.Container.ID != "" {
		ev.Container.ID = p.Container.ShortID()
		ev.Container.Name = p.Container.ID
	}
	ev.K8s.PodUID = p.Container.PodUID
}
