package watch

import (
	"strings"

	"github.com/sysward/sysward/detector"
	"github.com/sysward/sysward/internal/procinfo"
	"github.com/sysward/sysward/profiler"
)

// argvTruncated ends proc.args when the kernel cut argv at
// profiler.ArgvMax bytes.
const argvTruncated = "[truncated]"

// enrich reads the calling process (and its ancestors) for kev into ev.
//
// The kernel's facts win: what it recorded at the time of the event (pid,
// ppid, comm, parent's comm, effective uid/gid; for an exec the file, argv,
// interpreter) is what the alert says, and /proc, read a few milliseconds
// later, only fills in the rest (exe path, cwd, tty, container, ancestors
// beyond the parent). /proc is read late and cached: a daemon that drops
// privileges after exec, or a command that exits at once, would otherwise
// be reported with its state at exec, or with no arguments at all. Every
// event first notes those facts, so that a process that is gone by the
// time the event is read still has a name, arguments, a parent and
// ancestors (from earlier exec events or the cache).
func enrich(r *procinfo.Reader, ev *detector.Event, kev *profiler.Event) {
	pid := int(kev.PID)
	k := procinfo.Known{PPID: int(kev.PPID), Name: kev.Comm, UID: kev.UID, GID: kev.GID}
	if kev.Kind == profiler.EventExec {
		r.Invalidate(pid)
		k.ExePath = kev.Filename
		if kev.Interp != "" { // the running executable is the interpreter
			k.ExePath = kev.Interp
		}
		if exe, args, ok := kernelArgv(kev); ok {
			k.Exe, k.Args = exe, args
		}
	}
	r.Note(pid, k)
	if kev.PPID != 0 && kev.PComm != "" {
		r.Note(int(kev.PPID), procinfo.Known{Name: kev.PComm})
	}
	p, _ := r.Get(pid) // a process that already exited gives a partial answer
	fillProcess(r, ev, p, kev)
}

// kernelArgv splits the argv an exec event carries into argv[0] and the
// arguments, marking a cut one.
func kernelArgv(kev *profiler.Event) (exe string, args []string, ok bool) {
	if len(kev.Argv) == 0 {
		return "", nil, false
	}
	args = append([]string{}, kev.Argv[1:]...)
	if kev.ArgvTruncated {
		args = append(args, argvTruncated)
	}
	return kev.Argv[0], args, true
}

// fillProcess copies what the kernel and /proc said about the calling
// process into ev: the kernel's facts first, /proc for the rest.
func fillProcess(r *procinfo.Reader, ev *detector.Event, p *procinfo.Process, kev *profiler.Event) {
	ev.Proc.PID = int64(kev.PID)
	ev.Proc.PPID = int64(kev.PPID)
	ev.User.UID = int64(kev.UID)
	ev.User.LoginUID = -1
	ev.Group.GID = int64(kev.GID)
	ev.Proc.Ancestors = ev.Proc.Ancestors[:0]
	ev.Proc.Name = kev.Comm
	if kev.Kind == profiler.EventExec {
		ev.Entrypoint = kev.ParentOutside
		ev.Interpreter = kev.Interp
	}
	exe, args, fromKernel := kernelArgv(kev)
	if fromKernel {
		ev.Proc.Exe = exe
		ev.Proc.Args = strings.Join(args, " ")
	}
	if p == nil {
		if kev.PComm != "" {
			ev.Proc.Ancestors = append(ev.Proc.Ancestors, detector.Ancestor{PID: int64(kev.PPID), Name: kev.PComm})
		}
		return
	}
	// /proc's chain, if it starts at the parent the kernel named (a cached
	// or late read may show another: the parent exited, the pid was reused).
	if len(p.Ancestors) > 0 && (kev.PPID == 0 || p.Ancestors[0].PID == int(kev.PPID)) {
		for _, a := range p.Ancestors {
			ev.Proc.Ancestors = append(ev.Proc.Ancestors, detector.Ancestor{PID: int64(a.PID), Name: a.Name, ExePath: a.ExePath, Cmdline: a.Cmdline})
		}
	}
	if len(ev.Proc.Ancestors) == 0 && kev.PComm != "" {
		ev.Proc.Ancestors = append(ev.Proc.Ancestors, detector.Ancestor{PID: int64(kev.PPID), Name: kev.PComm})
	}
	if ev.Proc.Name == "" { // a repeat summary: the kernel kept no comm
		ev.Proc.Name = p.Name
	}
	if ev.Proc.PPID == 0 {
		ev.Proc.PPID = int64(p.PPID)
	}
	ev.Proc.ExePath = p.ExePath
	if p.Container.ID != "" {
		ev.Container.ID = p.Container.ShortID()
		ev.Container.Name = p.Container.ID
	}
	ev.K8s.PodUID = p.Container.PodUID
	ev.User.Name, ev.Group.Name = r.Names(p, kev.UID, kev.GID)
	if !fromKernel && (!p.Exited || p.Exe != "" || len(p.Args) > 0) {
		ev.Proc.Exe = p.Exe
		ev.Proc.Args = strings.Join(p.Args, " ")
	}
	ev.Proc.Cmdline = ""
	if p.Exited {
		return // the rest is not known beyond the kernel's facts
	}
	ev.Proc.Cwd = p.Cwd
	ev.Proc.TTY = int64(p.TTY)
	ev.User.LoginUID = p.LoginUID
}
