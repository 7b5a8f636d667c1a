package detector

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Event sources the engine knows. A rule's `source:` selects one; an Event
// whose Source is empty is a syscall event.
const (
	SourceSyscall  = "syscall"
	SourceK8sAudit = "k8s_audit"
)

// Event is what the engine consumes: one system call (or, for source
// k8s_audit, one audit record) together with the process, container and
// Kubernetes context it happened in, and sysward's own verdict about it.
//
// Producers (sysward watch: eBPF events plus /proc enrichment; sysward rules
// test: a JSONL file) fill it once and call Normalize; the engine then reads
// its fields through accessors compiled per rule, never by name. An Event is
// read-only while Process runs and may be reused for the next event after
// Process returns.
//
// Its JSON form (one object per line in an events file) uses the json tags
// below; see docs/rules.md "Event file format".
type Event struct {
	Source string    `json:"source,omitempty"` // "" or "syscall", or "k8s_audit"
	Type   string    `json:"type"`             // evt.type: the syscall name, e.g. "execve"
	Time   time.Time `json:"time"`             // evt.time
	Num    uint64    `json:"num,omitempty"`    // evt.num: sequence number, from 1 (Falco's never_true is evt.num=0)
	Args   []Arg     `json:"args,omitempty"`   // evt.arg[n], evt.arg.NAME, evt.args
	Res    int64     `json:"res"`              // evt.rawres; evt.res is "SUCCESS" or the errno name

	Proc      ProcInfo      `json:"proc"`
	User      UserInfo      `json:"user"`
	Group     GroupInfo     `json:"group"`
	Fd        FdInfo        `json:"fd"`
	Container ContainerInfo `json:"container"`
	K8s       K8sInfo       `json:"k8s"`

	// sysward's own context.
	Workload  string `json:"workload,omitempty"`   // sysward.workload
	Profile   string `json:"profile,omitempty"`    // sysward.profile: the profile's name or path
	Mode      string `json:"mode,omitempty"`       // sysward.mode: learn, complain, enforce
	InProfile bool   `json:"in_profile,omitempty"` // sysward.in_profile: the syscall is allowed by the profile
	Denied    bool   `json:"denied,omitempty"`     // sysward.denied: seccomp denied the call
	Action    string `json:"action,omitempty"`     // sysward.action: the seccomp action taken (errno, kill, log, allow)
	Errno     int64  `json:"errno,omitempty"`      // sysward.errno: errno seccomp returned (0 if none)
	// Entrypoint (sysward.entrypoint): an exec by a process whose parent is
	// outside the workload (the runtime, or sysward, started it), not one
	// the workload spawned. From the kernel's process tree, not from names.
	Entrypoint bool `json:"entrypoint,omitempty"`
	// Interpreter (sysward.interpreter): for an exec of a #! script, the
	// interpreter the kernel ran ("/bin/sh"); empty for a binary.
	Interpreter string `json:"interpreter,omitempty"`
	// Count (sysward.count) is how many calls the event stands for: 0 or 1
	// for one; more for a summary of repeats the kernel counted without
	// sending each (its Time is the last one's).
	Count uint64 `json:"count,omitempty"`

	// Audit holds the k8s_audit record; empty for syscall events. In an
	// events file it is the audit.k8s.io/v1 Event as the apiserver wrote it.
	Audit AuditInfo `json:"audit,omitzero"`
}

// Arg is one syscall argument as Falco names and prints it.
type Arg struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// ProcInfo is the calling thread's process.
type ProcInfo struct {
	PID     int64  `json:"pid"`               // proc.pid
	PPID    int64  `json:"ppid"`              // proc.ppid
	VPID    int64  `json:"vpid,omitempty"`    // proc.vpid: pid inside the container's pid namespace
	Name    string `json:"name"`              // proc.name: comm, or basename of exe
	Exe     string `json:"exe,omitempty"`     // proc.exe: argv[0]
	ExePath string `json:"exepath,omitempty"` // proc.exepath: full path of the executable
	Args    string `json:"args,omitempty"`    // proc.args: argv[1:] joined by spaces
	Cmdline string `json:"cmdline,omitempty"` // proc.cmdline: "name args"; Normalize fills it
	Cwd     string `json:"cwd,omitempty"`     // proc.cwd
	TTY     int64  `json:"tty,omitempty"`     // proc.tty: controlling terminal device, 0 if none
	SName   string `json:"sname,omitempty"`   // proc.sname: session leader's name
	Env     string `json:"env,omitempty"`     // proc.env: environment, space separated
	// StartTime is when the process started (proc.duration); zero if unknown.
	StartTime time.Time `json:"start_time,omitempty"`

	CapPermitted string `json:"cap_permitted,omitempty"` // thread.cap_permitted, e.g. "CAP_CHOWN CAP_SYS_ADMIN"
	CapEffective string `json:"cap_effective,omitempty"` // thread.cap_effective

	ExeFromMemfd  bool `json:"exe_from_memfd,omitempty"`  // proc.is_exe_from_memfd
	ExeUpperLayer bool `json:"exe_upper_layer,omitempty"` // proc.is_exe_upper_layer
	ExeWritable   bool `json:"exe_writable,omitempty"`    // proc.is_exe_writable

	// Ancestors[0] is the parent, [1] the grandparent, and so on:
	// proc.aname[n] is Ancestors[n-1].Name, proc.pname is Ancestors[0].Name.
	Ancestors []Ancestor `json:"ancestors,omitempty"`
}

// Ancestor is one process above the caller.
type Ancestor struct {
	PID     int64  `json:"pid,omitempty"`
	Name    string `json:"name"`
	Exe     string `json:"exe,omitempty"`
	ExePath string `json:"exepath,omitempty"`
	Cmdline string `json:"cmdline,omitempty"`
}

// UserInfo is the caller's user.
type UserInfo struct {
	UID       int64  `json:"uid"`                 // user.uid
	Name      string `json:"name,omitempty"`      // user.name
	LoginUID  int64  `json:"loginuid"`            // user.loginuid; -1 when unset
	LoginName string `json:"loginname,omitempty"` // user.loginname
}

// GroupInfo is the caller's primary group.
type GroupInfo struct {
	GID  int64  `json:"gid"`            // group.gid
	Name string `json:"name,omitempty"` // group.name
}

// FdInfo is the file descriptor the syscall acted on, if any.
type FdInfo struct {
	Num     int64  `json:"num"`               // fd.num; -1 when none
	Name    string `json:"name,omitempty"`    // fd.name: path, or "cip:cport->sip:sport"
	NameRaw string `json:"nameraw,omitempty"` // fd.nameraw: name as passed, before resolution; Normalize copies Name
	Type    string `json:"type,omitempty"`    // fd.type: file, directory, ipv4, ipv6, unix, pipe, event, signalfd, eventpoll, inotify, timerfd, netlink, memfd
	L4Proto string `json:"l4proto,omitempty"` // fd.l4proto: tcp, udp, icmp, raw
	SIP     string `json:"sip,omitempty"`     // fd.sip: server IP
	CIP     string `json:"cip,omitempty"`     // fd.cip: client IP
	SPort   int64  `json:"sport,omitempty"`   // fd.sport
	CPort   int64  `json:"cport,omitempty"`   // fd.cport
	LPort   int64  `json:"lport,omitempty"`   // fd.lport: local port
	RPort   int64  `json:"rport,omitempty"`   // fd.rport: remote port
	LIP     string `json:"lip,omitempty"`     // fd.lip: local IP
	RIP     string `json:"rip,omitempty"`     // fd.rip: remote IP

	Connected   bool `json:"connected,omitempty"`    // fd.connected: the socket is connected
	NameChanged bool `json:"name_changed,omitempty"` // fd.name_changed: this event changed fd.name (connect, bind)
}

// ContainerInfo is the container the caller runs in. An empty ID means the
// host; Normalize sets it to "host" as Falco does.
type ContainerInfo struct {
	ID              string `json:"id,omitempty"`
	Name            string `json:"name,omitempty"`
	Image           string `json:"image,omitempty"`            // "repo:tag"
	ImageRepository string `json:"image_repository,omitempty"` // Normalize derives it from Image
	ImageTag        string `json:"image_tag,omitempty"`        // Normalize derives it from Image
	Privileged      bool   `json:"privileged,omitempty"`
}

// K8sInfo is the pod the container belongs to.
type K8sInfo struct {
	Namespace string   `json:"ns,omitempty"`      // k8s.ns.name
	Pod       string   `json:"pod,omitempty"`     // k8s.pod.name
	PodUID    string   `json:"pod_uid,omitempty"` // k8s.pod.uid
	Labels    []string `json:"labels,omitempty"`  // each "key:value"; k8s.pod.labels joins them in key order
}

// Normalize fills the fields that derive from others, once per event, so
// that the compiled rules never compute them: the source defaults to
// syscall, proc.cmdline to "name args", container.id to "host",
// image repository and tag from the image, fd.nameraw from fd.name.
// Producers call it before Process; DecodeEvents does.
func (ev *Event) Normalize() {
	if ev.Source == "" {
		ev.Source = SourceSyscall
	}
	if ev.Proc.Cmdline == "" && ev.Proc.Name != "" {
		if ev.Proc.Args != "" {
			ev.Proc.Cmdline = ev.Proc.Name + " " + ev.Proc.Args
		} else {
			ev.Proc.Cmdline = ev.Proc.Name
		}
	}
	if ev.Container.ID == "" {
		ev.Container.ID = "host"
		if ev.Container.Name == "" {
			ev.Container.Name = "host"
		}
	}
	if ev.Container.Image != "" && ev.Container.ImageRepository == "" {
		repo, tag := splitImage(ev.Container.Image)
		ev.Container.ImageRepository = repo
		if ev.Container.ImageTag == "" {
			ev.Container.ImageTag = tag
		}
	}
	if ev.Fd.NameRaw == "" {
		ev.Fd.NameRaw = ev.Fd.Name
	}
}

// splitImage splits "registry/repo:tag@digest" into repository and tag.
func splitImage(image string) (repo, tag string) {
	if i := strings.IndexByte(image, '@'); i >= 0 {
		image = image[:i]
	}
	slash := strings.LastIndexByte(image, '/')
	if i := strings.LastIndexByte(image, ':'); i > slash {
		return image[:i], image[i+1:]
	}
	return image, ""
}

// DecodeEvent decodes one line of an events file (not blank, not a
// comment) strictly, without normalizing it; name and line label errors.
func DecodeEvent(name string, line int, data []byte) (Event, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var ev Event
	if err := dec.Decode(&ev); err != nil {
		return Event{}, fmt.Errorf("%s:%d: decoding event: %w", name, line, err)
	}
	if ev.Type == "" && ev.Source != SourceK8sAudit {
		return Event{}, fmt.Errorf("%s:%d: event has no \"type\"", name, line)
	}
	return ev, nil
}

// MaxEventsFileSize is the largest events file `sysward rules test
// --events` reads and the default cap of `sysward watch --record`: 64 MiB,
// about 115,000 recorded events; decoding holds about 2.5 times the file
// in memory (measured: a 32 MiB file, 57,618 events, 80 MiB live).
const MaxEventsFileSize = 64 << 20

// DecodeEvents reads an events file: one JSON Event per line (JSONL), blank
// lines and lines starting with '#' ignored. Each event is normalized. An
// error names the line.
func DecodeEvents(name string, data []byte) ([]Event, error) {
	var out []Event
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		ev, err := DecodeEvent(name, i+1, []byte(line))
		if err != nil {
			return nil, err
		}
		if ev.Num == 0 {
			ev.Num = uint64(len(out) + 1) // evt.num counts from 1, as in Falco
		}
		ev.Normalize()
		out = append(out, ev)
	}
	return out, nil
}
