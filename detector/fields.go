package detector

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// ErrUnknownField marks a condition or output naming a field the source's
// registry does not have.
var ErrUnknownField = errors.New("unknown field")

// FieldType is the type of a field's value.
type FieldType int

const (
	TypeString FieldType = iota
	TypeInt              // signed 64-bit (uids, pids, ports, errno, ...)
	TypeBool
	TypeTime  // nanoseconds since the epoch; compares as an integer
	TypeList  // a list of strings (in / intersects / exists)
	TypeIPNet // an IP address compared against networks: = 10.0.0.0/8, in (nets)
)

func (t FieldType) String() string {
	return [...]string{"string", "int64", "bool", "abstime", "list", "ipnet"}[t]
}

// ArgKind says whether a field takes an argument: proc.aname[2],
// evt.arg.flags, evt.arg[0].
type ArgKind int

const (
	ArgNone     ArgKind = iota
	ArgIndex            // optional numeric index in [ ]
	ArgKey              // required key in [ ] or after a dot
	ArgIndexKey         // numeric index in [ ], or key in [ ] or after a dot
)

// FieldInfo describes one registered field.
type FieldInfo struct {
	Name string
	Type FieldType
	Arg  ArgKind
	Desc string
}

// accessor reads one field (with its argument bound) from an event. Exactly
// one of str, num, list is set, according to typ; ok=false means the event
// has no value for it (then every comparison is false, as in Falco).
type accessor struct {
	typ  FieldType
	str  func(*Event) (string, bool)
	num  func(*Event) (int64, bool) // TypeInt, TypeBool (0/1), TypeTime
	list func(*Event) []string      // TypeList
	// ancestors: set for proc.aname (no index) and kin, which stand for
	// every ancestor; str is nil then.
	ancestors func(*Ancestor) string
	// pair: set for fields that stand for both ends of a connection
	// (fd.ip, fd.net): a check holds if it holds for either; str is nil.
	pair func(*Event) (string, string)
	// ports: fd.port, both ends of a connection as numbers; num is nil.
	ports func(*Event) (int64, int64)
}

type fieldDef struct {
	FieldInfo
	build func(arg string, hasArg bool) (accessor, error)
}

// registry is one source's fields.
type registry struct {
	source string
	defs   []*fieldDef
	byName map[string]*fieldDef
}

type sourceID int

const (
	srcSyscall sourceID = iota
	srcK8sAudit
	numSources
)

var sourceNames = [numSources]string{SourceSyscall, SourceK8sAudit}

func sourceOf(name string) sourceID {
	switch name {
	case "", SourceSyscall:
		return srcSyscall
	case SourceK8sAudit:
		return srcK8sAudit
	}
	return -1
}

// Sources lists the event sources with a field registry.
func Sources() []string { return sourceNames[:] }

var registries [numSources]*registry

// Fields lists the fields of source ("syscall" or "k8s_audit"), sorted by
// name; nil for an unknown source.
func Fields(source string) []FieldInfo {
	s := sourceOf(source)
	if s < 0 {
		return nil
	}
	var out []FieldInfo
	for _, d := range registries[s].defs {
		out = append(out, d.FieldInfo)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// lookup resolves a field name as written in a condition (evt.arg.flags is
// evt.arg with key "flags").
func (r *registry) lookup(name, arg string, hasArg bool) (*fieldDef, accessor, error) {
	d := r.byName[name]
	if d == nil {
		// a dotted argument: longest registered prefix that takes a key
		for i := len(name) - 1; i > 0; i-- {
			if name[i] != '.' {
				continue
			}
			if pd := r.byName[name[:i]]; pd != nil && (pd.Arg == ArgKey || pd.Arg == ArgIndexKey) && !hasArg {
				d, arg, hasArg = pd, name[i+1:], true
				break
			}
		}
	}
	if d == nil {
		return nil, accessor{}, fmt.Errorf("%w %q for source %s", ErrUnknownField, name, r.source)
	}
	if hasArg && d.Arg == ArgNone {
		return nil, accessor{}, fmt.Errorf("field %s takes no argument", d.Name)
	}
	if !hasArg && d.Arg == ArgKey {
		return nil, accessor{}, fmt.Errorf("field %s requires an argument", d.Name)
	}
	acc, err := d.build(arg, hasArg)
	if err != nil {
		return nil, accessor{}, fmt.Errorf("field %s[%s]: %w", d.Name, arg, err)
	}
	return d, acc, nil
}

func (r *registry) add(name string, typ FieldType, arg ArgKind, desc string, build func(arg string, hasArg bool) (accessor, error)) {
	d := &fieldDef{FieldInfo: FieldInfo{Name: name, Type: typ, Arg: arg, Desc: desc}, build: build}
	r.defs = append(r.defs, d)
	r.byName[name] = d
}

func (r *registry) str(name, desc string, f func(*Event) string) {
	r.add(name, TypeString, ArgNone, desc, func(string, bool) (accessor, error) {
		return accessor{typ: TypeString, str: func(ev *Event) (string, bool) { return f(ev), true }}, nil
	})
}

// optStr is a string field that is absent when empty.
func (r *registry) optStr(name, desc string, f func(*Event) string) {
	r.add(name, TypeString, ArgNone, desc, func(string, bool) (accessor, error) {
		return accessor{typ: TypeString, str: func(ev *Event) (string, bool) { s := f(ev); return s, s != "" }}, nil
	})
}

func (r *registry) num(name, desc string, f func(*Event) int64) {
	r.add(name, TypeInt, ArgNone, desc, func(string, bool) (accessor, error) {
		return accessor{typ: TypeInt, num: func(ev *Event) (int64, bool) { return f(ev), true }}, nil
	})
}

func (r *registry) boolean(name, desc string, f func(*Event) bool) {
	r.add(name, TypeBool, ArgNone, desc, func(string, bool) (accessor, error) {
		return accessor{typ: TypeBool, num: func(ev *Event) (int64, bool) {
			if f(ev) {
				return 1, true
			}
			return 0, true
		}}, nil
	})
}

// ancestorField registers proc.aNAME[n]: n=0 is the process itself, 1 the
// parent; without an index it stands for every ancestor (a check on it holds
// if it holds for one of them), read in place without allocating.
func (r *registry) ancestorField(name, desc string, self func(*Event) string, anc func(*Ancestor) string) {
	r.add(name, TypeString, ArgIndex, desc, func(arg string, hasArg bool) (accessor, error) {
		if !hasArg {
			return accessor{typ: TypeString, ancestors: anc}, nil
		}
		n, err := strconv.Atoi(arg)
		if err != nil || n < 0 {
			return accessor{}, fmt.Errorf("index must be a non-negative integer, not %q", arg)
		}
		if n == 0 {
			return accessor{typ: TypeString, str: func(ev *Event) (string, bool) { s := self(ev); return s, s != "" }}, nil
		}
		i := n - 1
		return accessor{typ: TypeString, str: func(ev *Event) (string, bool) {
			if i >= len(ev.Proc.Ancestors) {
				return "", false
			}
			s := anc(&ev.Proc.Ancestors[i])
			return s, s != ""
		}}, nil
	})
}

func init() {
	sys := &registry{source: SourceSyscall, byName: map[string]*fieldDef{}}
	registries[srcSyscall] = sys

	// evt.*
	sys.str("evt.type", "the event type: the system call's name, e.g. open, execve", func(e *Event) string { return e.Type })
	sys.add("evt.time", TypeTime, ArgNone, "event timestamp; compares as nanoseconds since the epoch, prints as HH:MM:SS.nnnnnnnnn", func(string, bool) (accessor, error) {
		return accessor{typ: TypeTime, num: func(e *Event) (int64, bool) { return e.Time.UnixNano(), true }}, nil
	})
	sys.num("evt.rawtime", "event timestamp, nanoseconds since the epoch", func(e *Event) int64 { return e.Time.UnixNano() })
	sys.num("evt.num", "event sequence number", func(e *Event) int64 { return int64(e.Num) })
	sys.str("evt.dir", "event direction: always '<' (sysward's events are syscall exits)", func(*Event) string { return "<" })
	sys.num("evt.rawres", "the syscall's return value as a number", func(e *Event) int64 { return e.Res })
	sys.str("evt.res", "the syscall's result: SUCCESS, or the errno name (ENOENT, EPERM ...)", func(e *Event) string { return resString(e.Res) })
	sys.boolean("evt.failed", "true if the syscall returned an error", func(e *Event) bool { return e.Res < 0 })
	sys.str("evt.source", "the event source: syscall", func(e *Event) string { return e.Source })
	sys.str("evt.args", "all arguments as name=value pairs", argsString)
	sys.add("evt.arg", TypeString, ArgIndexKey, "one argument, by name (evt.arg.flags, evt.arg[flags]) or index (evt.arg[0])", buildEvtArg)
	sys.boolean("evt.is_open_read", "an open* call with read access (flags has O_RDONLY or O_RDWR)", func(e *Event) bool { return isOpen(e) && hasFlag(e, "O_RDONLY", "O_RDWR") })
	sys.boolean("evt.is_open_write", "an open* call with write access (flags has O_WRONLY or O_RDWR)", func(e *Event) bool { return isOpen(e) && hasFlag(e, "O_WRONLY", "O_RDWR") })
	sys.boolean("evt.is_open_exec", "an open* call that creates an executable file (mode has S_IXUSR/S_IXGRP/S_IXOTH)", func(e *Event) bool {
		return isOpen(e) && hasFlag(e, "O_CREAT") && argHas(e, "mode", "S_IXUSR", "S_IXGRP", "S_IXOTH")
	})

	// proc.* and thread.*
	sys.num("proc.pid", "process id", func(e *Event) int64 { return e.Proc.PID })
	sys.num("proc.vpid", "process id as seen inside its pid namespace", func(e *Event) int64 { return e.Proc.VPID })
	sys.num("proc.ppid", "parent process id", func(e *Event) int64 { return e.Proc.PPID })
	sys.str("proc.name", "process name (comm, or the executable's basename)", func(e *Event) string { return e.Proc.Name })
	sys.str("proc.exe", "argv[0] as the process was started", func(e *Event) string { return e.Proc.Exe })
	sys.str("proc.exepath", "full path of the process executable", func(e *Event) string { return e.Proc.ExePath })
	sys.str("proc.args", "command line arguments, argv[1:] joined by spaces", func(e *Event) string { return e.Proc.Args })
	sys.str("proc.cmdline", "name and arguments: \"name arg1 arg2\"", func(e *Event) string { return e.Proc.Cmdline })
	sys.str("proc.cwd", "current working directory", func(e *Event) string { return e.Proc.Cwd })
	sys.num("proc.tty", "controlling terminal, 0 if none", func(e *Event) int64 { return e.Proc.TTY })
	sys.optStr("proc.sname", "name of the session leader", func(e *Event) string { return e.Proc.SName })
	sys.add("proc.duration", TypeInt, ArgNone, "nanoseconds since the process started (needs proc.start_time)", func(string, bool) (accessor, error) {
		return accessor{typ: TypeInt, num: func(e *Event) (int64, bool) {
			if e.Proc.StartTime.IsZero() {
				return 0, false
			}
			return e.Time.Sub(e.Proc.StartTime).Nanoseconds(), true
		}}, nil
	})
	sys.str("proc.env", "environment variables, space separated", func(e *Event) string { return e.Proc.Env })
	sys.boolean("proc.is_exe_from_memfd", "the executable is a memfd (fileless execution)", func(e *Event) bool { return e.Proc.ExeFromMemfd })
	sys.boolean("proc.is_exe_upper_layer", "the executable lives in the container's writable overlay layer", func(e *Event) bool { return e.Proc.ExeUpperLayer })
	sys.boolean("proc.is_exe_writable", "the executable is writable by the caller", func(e *Event) bool { return e.Proc.ExeWritable })
	sys.optStr("proc.pname", "parent process name", func(e *Event) string { return parent(e).Name })
	sys.optStr("proc.pcmdline", "parent process command line", func(e *Event) string { return parent(e).Cmdline })
	sys.optStr("proc.pexe", "parent argv[0]", func(e *Event) string { return parent(e).Exe })
	sys.optStr("proc.pexepath", "parent executable path", func(e *Event) string { return parent(e).ExePath })
	sys.ancestorField("proc.aname", "name of the n-th ancestor (1 = parent); without [n], any ancestor", func(e *Event) string { return e.Proc.Name }, func(a *Ancestor) string { return a.Name })
	sys.ancestorField("proc.aexe", "argv[0] of the n-th ancestor; without [n], any ancestor", func(e *Event) string { return e.Proc.Exe }, func(a *Ancestor) string { return a.Exe })
	sys.ancestorField("proc.aexepath", "executable path of the n-th ancestor; without [n], any ancestor", func(e *Event) string { return e.Proc.ExePath }, func(a *Ancestor) string { return a.ExePath })
	sys.ancestorField("proc.acmdline", "command line of the n-th ancestor; without [n], any ancestor", func(e *Event) string { return e.Proc.Cmdline }, func(a *Ancestor) string { return a.Cmdline })
	sys.str("thread.cap_permitted", "permitted capabilities, space separated (CAP_SYS_ADMIN ...)", func(e *Event) string { return e.Proc.CapPermitted })
	sys.str("thread.cap_effective", "effective capabilities, space separated", func(e *Event) string { return e.Proc.CapEffective })

	// user.*, group.*
	sys.num("user.uid", "user id", func(e *Event) int64 { return e.User.UID })
	sys.str("user.name", "user name", func(e *Event) string { return e.User.Name })
	sys.num("user.loginuid", "audit login uid; -1 if not set", func(e *Event) int64 { return e.User.LoginUID })
	sys.str("user.loginname", "audit login user name", func(e *Event) string { return e.User.LoginName })
	sys.num("group.gid", "group id", func(e *Event) int64 { return e.Group.GID })
	sys.str("group.name", "group name", func(e *Event) string { return e.Group.Name })

	// fd.*
	sys.num("fd.num", "file descriptor number; -1 for a failed open", func(e *Event) int64 { return e.Fd.Num })
	sys.optStr("fd.name", "file path, or connection tuple cip:cport->sip:sport", func(e *Event) string { return e.Fd.Name })
	sys.optStr("fd.nameraw", "file name as passed to the syscall, unresolved", func(e *Event) string { return e.Fd.NameRaw })
	sys.optStr("fd.directory", "directory part of fd.name for files", func(e *Event) string { d, _ := splitPath(e.Fd.Name); return d })
	sys.optStr("fd.filename", "file part of fd.name for files", func(e *Event) string { _, f := splitPath(e.Fd.Name); return f })
	sys.optStr("fd.type", "fd type: file, directory, ipv4, ipv6, unix, pipe, event, signalfd, eventpoll, inotify, timerfd, netlink, memfd", func(e *Event) string { return e.Fd.Type })
	sys.optStr("fd.typechar", "fd type as one letter: f file, 4 ipv4, 6 ipv6, u unix, p pipe, e event, s signalfd, l eventpoll, i inotify, t timerfd, n netlink, m memfd", func(e *Event) string { return typeChar(e.Fd.Type) })
	sys.optStr("fd.l4proto", "IP protocol: tcp, udp, icmp, raw", func(e *Event) string { return e.Fd.L4Proto })
	sys.optStr("fd.sip", "server IP address", func(e *Event) string { return e.Fd.SIP })
	sys.optStr("fd.cip", "client IP address", func(e *Event) string { return e.Fd.CIP })
	sys.optStr("fd.lip", "local IP address", func(e *Event) string { return e.Fd.LIP })
	sys.optStr("fd.rip", "remote IP address", func(e *Event) string { return e.Fd.RIP })
	sys.add("fd.ip", TypeString, ArgNone, "either IP address of the connection (client or server): a check holds if it holds for one", func(string, bool) (accessor, error) {
		return accessor{typ: TypeString, pair: func(e *Event) (string, string) { return e.Fd.CIP, e.Fd.SIP }}, nil
	})
	sys.add("fd.net", TypeIPNet, ArgNone, "either IP address of the connection, compared with networks: fd.net = 127.0.0.0/8", func(string, bool) (accessor, error) {
		return accessor{typ: TypeIPNet, pair: func(e *Event) (string, string) { return e.Fd.CIP, e.Fd.SIP }}, nil
	})
	for _, n := range []struct {
		name, desc string
		get        func(*FdInfo) string
	}{
		{"fd.snet", "server IP compared with networks", func(f *FdInfo) string { return f.SIP }},
		{"fd.cnet", "client IP compared with networks", func(f *FdInfo) string { return f.CIP }},
		{"fd.lnet", "local IP compared with networks", func(f *FdInfo) string { return f.LIP }},
		{"fd.rnet", "remote IP compared with networks", func(f *FdInfo) string { return f.RIP }},
	} {
		get := n.get
		sys.add(n.name, TypeIPNet, ArgNone, n.desc, func(string, bool) (accessor, error) {
			return accessor{typ: TypeIPNet, str: func(e *Event) (string, bool) { s := get(&e.Fd); return s, s != "" }}, nil
		})
	}
	sys.add("fd.port", TypeInt, ArgNone, "either port of the connection (client or server): a check holds if it holds for one", func(string, bool) (accessor, error) {
		return accessor{typ: TypeInt, ports: func(e *Event) (int64, int64) { return e.Fd.CPort, e.Fd.SPort }}, nil
	})
	sys.optStr("fd.sockfamily", "socket family: ip (ipv4, ipv6) or unix", func(e *Event) string {
		switch e.Fd.Type {
		case "ipv4", "ipv6":
			return "ip"
		case "unix":
			return "unix"
		}
		return ""
	})
	sys.num("fd.sport", "server port", func(e *Event) int64 { return e.Fd.SPort })
	sys.num("fd.cport", "client port", func(e *Event) int64 { return e.Fd.CPort })
	sys.num("fd.lport", "local port", func(e *Event) int64 { return e.Fd.LPort })
	sys.num("fd.rport", "remote port", func(e *Event) int64 { return e.Fd.RPort })

	sys.boolean("fd.connected", "the socket is connected", func(e *Event) bool { return e.Fd.Connected })
	sys.boolean("fd.name_changed", "this event changed fd.name (connect, bind on a socket)", func(e *Event) bool { return e.Fd.NameChanged })

	// container.*, k8s.*
	sys.str("container.id", "container id (12 chars), or \"host\"", func(e *Event) string { return e.Container.ID })
	sys.str("container.name", "container name, or \"host\"", func(e *Event) string { return e.Container.Name })
	sys.optStr("container.image", "container image, repo:tag", func(e *Event) string { return e.Container.Image })
	sys.optStr("container.image.repository", "container image repository", func(e *Event) string { return e.Container.ImageRepository })
	sys.optStr("container.image.tag", "container image tag", func(e *Event) string { return e.Container.ImageTag })
	sys.boolean("container.privileged", "the container runs privileged", func(e *Event) bool { return e.Container.Privileged })
	sys.optStr("k8s.ns.name", "Kubernetes namespace", func(e *Event) string { return e.K8s.Namespace })
	sys.optStr("k8s.pod.name", "Kubernetes pod name", func(e *Event) string { return e.K8s.Pod })
	sys.optStr("k8s.pod.uid", "Kubernetes pod UID", func(e *Event) string { return e.K8s.PodUID })
	// One string in Falco (the container plugin's FTYPE_STRING, labels
	// "key:value" joined with ", " in key order): so it is here, in
	// conditions (contains, =) and in output_fields.
	sys.add("k8s.pod.labels", TypeString, ArgNone, "pod labels, \"key:value\" joined with \", \" in key order", func(string, bool) (accessor, error) {
		return accessor{typ: TypeString, str: func(e *Event) (string, bool) {
			return joinLabels(e.K8s.Labels), len(e.K8s.Labels) > 0
		}}, nil
	})
	sys.add("k8s.pod.label", TypeString, ArgKey, "one pod label's value: k8s.pod.label[app] or k8s.pod.label.app", func(key string, _ bool) (accessor, error) {
		prefix := key + ":"
		return accessor{typ: TypeString, str: func(e *Event) (string, bool) {
			for _, l := range e.K8s.Labels {
				if strings.HasPrefix(l, prefix) {
					return l[len(prefix):], true
				}
			}
			return "", false
		}}, nil
	})

	// sysward.*
	sys.optStr("sysward.workload", "the watched workload (container, cgroup or command) the event belongs to", func(e *Event) string { return e.Workload })
	sys.optStr("sysward.profile", "the seccomp profile the workload runs under", func(e *Event) string { return e.Profile })
	sys.optStr("sysward.mode", "the workload's mode: learn, complain or enforce", func(e *Event) string { return e.Mode })
	sys.boolean("sysward.in_profile", "true if the syscall is allowed by the workload's profile", func(e *Event) bool { return e.InProfile })
	sys.boolean("sysward.denied", "true if seccomp denied the syscall", func(e *Event) bool { return e.Denied })
	sys.optStr("sysward.action", "the seccomp action taken: allow, log, errno, trap, kill", func(e *Event) string { return e.Action })
	sys.num("sysward.errno", "the errno seccomp returned, 0 if none", func(e *Event) int64 { return e.Errno })
	sys.boolean("sysward.entrypoint", "true for an exec whose parent is outside the workload (its runtime or sysward started it): the workload's entrypoint, not a process it spawned", func(e *Event) bool { return e.Entrypoint })
	sys.optStr("sysward.interpreter", "for an exec of a #! script, the interpreter the kernel ran (e.g. /bin/sh)", func(e *Event) string { return e.Interpreter })
	sys.num("sysward.count", "how many calls the event stands for (a summary of repeats counted in the kernel), 1 for one", func(e *Event) int64 { return int64(max(e.Count, 1)) })
}

var noAncestor Ancestor

func parent(e *Event) *Ancestor {
	if len(e.Proc.Ancestors) == 0 {
		return &noAncestor
	}
	return &e.Proc.Ancestors[0]
}

func resString(res int64) string {
	if res >= 0 {
		return "SUCCESS"
	}
	if n := unix.ErrnoName(unix.Errno(-res)); n != "" {
		return n
	}
	return strconv.FormatInt(res, 10)
}

func argsString(e *Event) string {
	var b strings.Builder
	for i, a := range e.Args {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(a.Name)
		b.WriteByte('=')
		b.WriteString(a.Value)
	}
	return b.String()
}

func buildEvtArg(arg string, hasArg bool) (accessor, error) {
	if n, err := strconv.Atoi(arg); err == nil {
		if n < 0 {
			return accessor{}, fmt.Errorf("negative argument index %d", n)
		}
		return accessor{typ: TypeString, str: func(e *Event) (string, bool) {
			if n >= len(e.Args) {
				return "", false
			}
			return e.Args[n].Value, true
		}}, nil
	}
	return accessor{typ: TypeString, str: func(e *Event) (string, bool) { return argValue(e, arg) }}, nil
}

func argValue(e *Event, name string) (string, bool) {
	for i := range e.Args {
		if e.Args[i].Name == name {
			return e.Args[i].Value, true
		}
	}
	return "", false
}

func isOpen(e *Event) bool {
	switch e.Type {
	case "open", "openat", "openat2", "creat", "open_by_handle_at":
		return true
	}
	return false
}

// hasFlag reports whether the "flags" argument (Falco's "O_WRONLY|O_CREAT"
// rendering) contains one of names.
func hasFlag(e *Event, names ...string) bool { return argHas(e, "flags", names...) }

func argHas(e *Event, arg string, names ...string) bool {
	v, ok := argValue(e, arg)
	if !ok {
		return false
	}
	// walk the "A|B|C" tokens without allocating
	start := 0
	for i := 0; i <= len(v); i++ {
		if i < len(v) && v[i] != '|' && v[i] != '(' && v[i] != ')' && v[i] != ' ' {
			continue
		}
		if tok := v[start:i]; tok != "" {
			for _, n := range names {
				if tok == n {
					return true
				}
			}
		}
		start = i + 1
	}
	return false
}

func splitPath(p string) (dir, file string) {
	if p == "" || p[0] != '/' {
		return "", ""
	}
	i := strings.LastIndexByte(p, '/')
	if i == 0 {
		return "/", p[1:]
	}
	return p[:i], p[i+1:]
}

func typeChar(t string) string {
	switch t {
	case "file":
		return "f"
	case "directory":
		return "d"
	case "ipv4":
		return "4"
	case "ipv6":
		return "6"
	case "unix":
		return "u"
	case "pipe":
		return "p"
	case "event":
		return "e"
	case "signalfd":
		return "s"
	case "eventpoll":
		return "l"
	case "inotify":
		return "i"
	case "timerfd":
		return "t"
	case "netlink":
		return "n"
	case "memfd":
		return "m"
	case "bpf":
		return "b"
	case "userfaultfd":
		return "u"
	case "io_uring":
		return "r"
	}
	return ""
}

// joinLabels is k8s.pod.labels: "key:value" labels sorted by key and joined
// with ", ", as Falco's container plugin writes them
// (falcosecurity/plugins plugins/container/src/caps/extract/extract.cpp,
// concatenate_container_labels over a std::map).
func joinLabels(labels []string) string {
	switch len(labels) {
	case 0:
		return ""
	case 1:
		return labels[0]
	}
	key := func(l string) string { k, _, _ := strings.Cut(l, ":"); return k }
	if !slices.IsSortedFunc(labels, func(a, b string) int { return strings.Compare(key(a), key(b)) }) {
		labels = slices.Clone(labels)
		slices.SortStableFunc(labels, func(a, b string) int { return strings.Compare(key(a), key(b)) })
	}
	return strings.Join(labels, ", ")
}
