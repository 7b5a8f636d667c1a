package watch

import (
	"strings"

	"github.com/sysward/sysward/detector"
	"github.com/sysward/sysward/internal/procinfo"
	"github.com/sysward/sysward/profiler"
)

// enrich reads the calling process (and its ancestors) for kev into ev.
// Every event first notes what the kernel said about its process (pid,
// ppid, comm, and for an exec the file), so that a process that is gone by
// the time the event is read — common: events are read every few
// milliseconds, short commands finish faster — still has a name, a parent
// and ancestors (from earlier exec events or the cache).
func enrich(r *procinfo.Reader, ev *detector.Event, kev *profiler.Event) {
	pid := int(kev.PID)
	k := procinfo.Known{PPID: int(kev.PPID), Name: kev.Comm, UID: kev.UID, GID: kev.GID}
	if kev.Kind == profiler.EventExec {
		r.Invalidate(pid)
		k.ExePath = kev.Filename
	}
	r.Note(pid, k)
	p, _ := r.Get(pid) // a process that already exited gives a partial answer
	fillProcess(ev, p, kev)
}

// fillProcess copies what /proc said about the calling process into ev.
// The kernel event's own facts (comm, pid, ppid, uid, gid) stand in when the
// process exited before /proc could be read.
func fillProcess(ev *detector.Event, p *procinfo.Process, kev *profiler.Event) {
	ev.Proc.PID = int64(kev.PID)
	ev.Proc.PPID = int64(kev.PPID)
	ev.User.UID = int64(kev.UID)
	ev.User.LoginUID = -1
	ev.Group.GID = int64(kev.GID)
	ev.Proc.Ancestors = ev.Proc.Ancestors[:0]
	if p == nil {
		ev.Proc.Name = kev.Comm
		return
	}
	for _, a := range p.Ancestors {
		ev.Proc.Ancestors = append(ev.Proc.Ancestors, detector.Ancestor{PID: int64(a.PID), Name: a.Name, ExePath: a.ExePath, Cmdline: a.Cmdline})
	}
	ev.Proc.Name = p.Name
	if ev.Proc.Name == "" {
		ev.Proc.Name = kev.Comm
	}
	ev.Proc.ExePath = p.ExePath
	if p.Container.ID != "" {
		ev.Container.ID = p.Container.ShortID()
		ev.Container.Name = p.Container.ID
	}
	ev.K8s.PodUID = p.Container.PodUID
	ev.User.Name = p.User
	ev.Group.Name = p.Group
	if p.Exited {
		return // the rest is not known beyond the kernel's facts
	}
	ev.Proc.Exe = p.Exe
	ev.Proc.Args = strings.Join(p.Args, " ")
	ev.Proc.Cmdline = ""
	ev.Proc.Cwd = p.Cwd
	ev.Proc.TTY = int64(p.TTY)
	ev.User.UID = int64(p.UID)
	ev.User.LoginUID = p.LoginUID
	ev.Group.GID = int64(p.GID)
}
