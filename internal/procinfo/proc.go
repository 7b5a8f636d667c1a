package procinfo

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// ErrExited means the process was gone before /proc could be read.
var ErrExited = errors.New("process exited")

// Process is what /proc says about one process (thread group) at the time
// it was read.
type Process struct {
	PID  int
	PPID int
	// Name is the kernel's task name (comm, at most 15 bytes): Falco's proc.name.
	Name string
	// Exe is argv[0] (Falco's proc.exe); ExePath the executable's path
	// (Falco's proc.exepath), without the " (deleted)" suffix.
	Exe     string
	ExePath string
	// Args are argv[1:].
	Args []string
	Cwd  string
	// TTY is the controlling terminal's device number, 0 for none (Falco's proc.tty).
	TTY uint32
	// UID and GID are the effective ids; User and Group their names in the
	// process's own /etc/passwd and /etc/group (the container's, for a
	// container), "" when unknown.
	UID, GID    uint32
	User, Group string
	// LoginUID is the audit login uid, -1 when unset.
	LoginUID int64
	// StartTime is the start time in clock ticks after boot (stat field 22);
	// with PID it identifies the process across pid reuse.
	StartTime uint64
	// Cgroup is the cgroup2 path relative to the mount ("/" for the root).
	Cgroup    string
	Container Container
	// Ancestors are the parent, grandparent, … as far as they could be read
	// (up to Options.MaxAncestors).
	Ancestors []Ancestor
	// Exited is set on a partial Process returned with ErrExited.
	Exited bool
}

// Ancestor is the part of an ancestor process that rules look at.
type Ancestor struct {
	PID     int
	Name    string
	ExePath string
	Cmdline string
}

// Cmdline is Falco's proc.cmdline: the name followed by the arguments.
func (p *Process) Cmdline() string {
	if len(p.Args) == 0 {
		return p.Name
	}
	return p.Name + " " + strings.Join(p.Args, " ")
}

// ArgsString is Falco's proc.args: the arguments joined by spaces.
func (p *Process) ArgsString() string { return strings.Join(p.Args, " ") }

// Options configure a Reader; the zero value (or nil) means the defaults.
type Options struct {
	// ProcRoot is where procfs is mounted (default "/proc").
	ProcRoot string
	// HostRoot is the root whose etc/passwd names host users (default "/").
	HostRoot string
	// RunDir is where runtimes keep their state (default "/run"), used to
	// confirm ambiguous container cgroup shapes.
	RunDir string
	// MaxAncestors bounds the ancestor chain (default 8).
	MaxAncestors int
	// MaxEntries bounds the cache (default 8192 processes).
	MaxEntries int
	// Revalidate is how long a cached process is trusted before its start
	// time is checked again against pid reuse (default 1s).
	Revalidate time.Duration
}

// Reader reads processes from /proc and caches them per pid.
type Reader struct {
	opts Options

	mu      sync.Mutex
	entries map[int]*entry
	known   map[int]Known // from events, for processes /proc no longer has
	stats   Stats

	umu   sync.Mutex            // guards users; held while a user table is (re)read
	users map[string]*userTable // key: container id, "" for the host
}

// Known is what an event source (the kernel's exec events) said about a
// process; it stands in when the process is gone before /proc is read.
type Known struct {
	PPID    int
	Name    string
	ExePath string
	// Exe and Args are argv[0] and argv[1:] as the kernel copied them at
	// exec (bounded: a cut argv ends with a marker, see watch).
	Exe  string
	Args []string
	// UID and GID (effective, from the kernel) name the user of a process
	// that is gone, through its parent's user database.
	UID, GID uint32
}

type entry struct {
	p       *Process
	checked time.Time
}

type userTable struct {
	users, groups map[uint32]string
	loaded        time.Time
	mtime         time.Time
}

// Stats count cache behaviour, for the watch summary and benchmarks.
type Stats struct {
	Hits, Misses, Exited, Invalidated uint64
}

// New returns a Reader.
func New(opts *Options) *Reader {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.ProcRoot == "" {
		o.ProcRoot = "/proc"
	}
	if o.HostRoot == "" {
		o.HostRoot = "/"
	}
	if o.RunDir == "" {
		o.RunDir = "/run"
	}
	if o.MaxAncestors == 0 {
		o.MaxAncestors = 8
	}
	if o.MaxEntries == 0 {
		o.MaxEntries = 8192
	}
	if o.Revalidate == 0 {
		o.Revalidate = time.Second
	}
	return &Reader{opts: o, entries: make(map[int]*entry), known: make(map[int]Known), users: make(map[string]*userTable)}
}

// Stats returns the cache counters so far.
func (r *Reader) Stats() Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stats
}

// Note records what an event said about pid (empty fields leave what was
// noted before). Get uses it for a process that exited before /proc could
// be read, and for its ancestors: short-lived processes are common, and an
// event is read a few milliseconds after it happened.
func (r *Reader) Note(pid int, k Known) {
	r.mu.Lock()
	old, ok := r.known[pid]
	if ok {
		if k.Name == "" {
			k.Name = old.Name
		}
		if k.ExePath == "" {
			k.ExePath = old.ExePath
		}
		if k.Exe == "" && k.Args == nil {
			k.Exe, k.Args = old.Exe, old.Args
		}
		if k.PPID == 0 {
			k.PPID = old.PPID
		}
		if k.UID == 0 && k.GID == 0 {
			k.UID, k.GID = old.UID, old.GID
		}
	}
	if !ok && len(r.known) >= r.opts.MaxEntries {
		clear(r.known)
	}
	r.known[pid] = k
	r.mu.Unlock()
}

// Invalidate drops pid's cached details; call it when pid execs.
func (r *Reader) Invalidate(pid int) {
	r.mu.Lock()
	if _, ok := r.entries[pid]; ok {
		delete(r.entries, pid)
		r.stats.Invalidated++
	}
	r.mu.Unlock()
}

// Forget drops pid from the cache; call it when pid exits.
func (r *Reader) Forget(pid int) {
	r.mu.Lock()
	delete(r.entries, pid)
	r.mu.Unlock()
}

// Get returns pid's details, from the cache when they are still valid. For a
// process that already exited it returns a partial Process (PID and Exited
// set) and an error wrapping ErrExited.
func (r *Reader) Get(pid int) (*Process, error) {
	return r.get(pid, r.opts.MaxAncestors)
}

func (r *Reader) get(pid, depth int) (*Process, error) {
	now := time.Now()
	r.mu.Lock()
	e, ok := r.entries[pid]
	r.mu.Unlock()
	if ok {
		if now.Sub(e.checked) < r.opts.Revalidate {
			r.count(func(s *Stats) { s.Hits++ })
			return e.p, nil
		}
		// Cheap check: same start time means the same process.
		if st, err := r.readStat(pid); err == nil && st.start == e.p.StartTime {
			r.mu.Lock()
			r.entries[pid] = &entry{p: e.p, checked: now}
			r.mu.Unlock()
			r.count(func(s *Stats) { s.Hits++ })
			return e.p, nil
		}
		r.Forget(pid)
	}
	r.count(func(s *Stats) { s.Misses++ })
	p, err := r.read(pid, depth)
	if err != nil {
		r.count(func(s *Stats) { s.Exited++ })
		r.fromKnown(p, depth)
		return p, err
	}
	if p.Exe == "" && p.ExePath != "" {
		return p, nil // still inside execve: do not cache half an answer
	}
	r.mu.Lock()
	if len(r.entries) >= r.opts.MaxEntries {
		r.evictLocked(now)
	}
	r.entries[pid] = &entry{p: p, checked: now}
	r.mu.Unlock()
	return p, nil
}

// fromKnown completes a partial (exited) process with what Note recorded,
// and its ancestors from the cache, /proc or Note.
func (r *Reader) fromKnown(p *Process, depth int) {
	r.mu.Lock()
	k, ok := r.known[p.PID]
	r.mu.Unlock()
	if ok {
		if k.Name != "" {
			p.Name = k.Name
		}
		if k.ExePath != "" {
			p.ExePath = k.ExePath
		}
		if k.Exe != "" || k.Args != nil {
			p.Exe, p.Args = k.Exe, k.Args
		}
		if k.PPID != 0 {
			p.PPID = k.PPID
		}
	}
	if depth > 0 && p.PPID > 0 && len(p.Ancestors) == 0 {
		if parent, _ := r.get(p.PPID, depth-1); parent != nil && parent.Name != "" {
			p.Ancestors = append([]Ancestor{{PID: parent.PID, Name: parent.Name, ExePath: parent.ExePath, Cmdline: parent.Cmdline()}}, parent.Ancestors...)
			if len(p.Ancestors) > r.opts.MaxAncestors {
				p.Ancestors = p.Ancestors[:r.opts.MaxAncestors]
			}
			// A process forks into its parent's cgroup, container and user
			// database; without an exec it also runs the parent's executable.
			p.Cgroup, p.Container = parent.Cgroup, parent.Container
			if p.ExePath == "" {
				p.ExePath = parent.ExePath
			}
			if ok { // the parent may be gone too: names uses the cached database
				p.UID, p.GID = k.UID, k.GID
				p.User, p.Group = r.names(parent.PID, parent.Container.ID, k.UID, k.GID)
			}
		}
	}
}

func (r *Reader) count(f func(*Stats)) {
	r.mu.Lock()
	f(&r.stats)
	r.mu.Unlock()
}

// evictLocked drops the stale half of the cache, or everything if nothing is stale.
func (r *Reader) evictLocked(now time.Time) {
	for pid, e := range r.entries {
		if now.Sub(e.checked) >= r.opts.Revalidate {
			delete(r.entries, pid)
		}
	}
	if len(r.entries) >= r.opts.MaxEntries {
		clear(r.entries)
	}
}

type stat struct {
	comm  string
	state byte // 'R', 'S', ... 'Z' zombie, 'X' dead
	ppid  int
	tty   uint32
	start uint64
}

func (r *Reader) procPath(pid int, name string) string {
	return filepath.Join(r.opts.ProcRoot, strconv.Itoa(pid), name)
}

func (r *Reader) readStat(pid int) (stat, error) {
	b, err := os.ReadFile(r.procPath(pid, "stat"))
	if err != nil {
		return stat{}, gone(pid, err)
	}
	return parseStat(b)
}

// parseStat reads /proc/PID/stat. comm is in parentheses and may itself
// contain spaces and parentheses, so fields are counted after the last ')'.
func parseStat(b []byte) (stat, error) {
	open := bytes.IndexByte(b, '(')
	closing := bytes.LastIndexByte(b, ')')
	if open < 0 || closing < open {
		return stat{}, fmt.Errorf("parsing stat: no (comm)")
	}
	f := strings.Fields(string(b[closing+1:]))
	// f[0] is field 3 (state); ppid is field 4, tty_nr 7, starttime 22.
	if len(f) < 20 {
		return stat{}, fmt.Errorf("parsing stat: %d fields", len(f)+2)
	}
	ppid, err1 := strconv.Atoi(f[1])
	tty, err2 := strconv.ParseInt(f[4], 10, 64)
	start, err3 := strconv.ParseUint(f[19], 10, 64)
	if err := errors.Join(err1, err2, err3); err != nil {
		return stat{}, fmt.Errorf("parsing stat: %w", err)
	}
	return stat{comm: string(b[open+1 : closing]), state: f[0][0], ppid: ppid, tty: uint32(tty), start: start}, nil
}

func gone(pid int, err error) error {
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, unix.ESRCH) {
		return fmt.Errorf("pid %d: %w", pid, ErrExited)
	}
	return fmt.Errorf("pid %d: %w", pid, err)
}

func (r *Reader) read(pid, depth int) (*Process, error) {
	partial := &Process{PID: pid, Exited: true, LoginUID: -1, Container: Container{}}
	st, err := r.readStat(pid)
	if err != nil {
		return partial, err
	}
	p := &Process{PID: pid, PPID: st.ppid, Name: st.comm, TTY: st.tty, StartTime: st.start, LoginUID: -1}
	partial.PPID, partial.Name = st.ppid, st.comm
	if st.state == 'Z' || st.state == 'X' {
		// Exited, not reaped yet: its exe and cmdline are gone already, so
		// it is answered like a gone process (from what events noted), and
		// never cached as a live one without a command line.
		return partial, fmt.Errorf("pid %d: zombie: %w", pid, ErrExited)
	}

	if exe, err := os.Readlink(r.procPath(pid, "exe")); err == nil {
		p.ExePath = strings.TrimSuffix(exe, " (deleted)")
	}
	// A zombie or kernel thread has an empty cmdline and no exe: not an
	// error. A process caught inside execve (the event that triggers the read
	// often is the exec) briefly shows an empty cmdline too: retry a little.
	for try := 0; ; try++ {
		b, err := os.ReadFile(r.procPath(pid, "cmdline"))
		if err != nil {
			if isGone(err) {
				return partial, gone(pid, err)
			}
			break
		}
		args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
		if len(args) > 0 && args[0] != "" {
			p.Exe, p.Args = args[0], args[1:]
			break
		}
		if p.ExePath == "" || try == 5 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if cwd, err := os.Readlink(r.procPath(pid, "cwd")); err == nil {
		p.Cwd = strings.TrimSuffix(cwd, " (deleted)")
	}
	if b, err := os.ReadFile(r.procPath(pid, "status")); err == nil {
		p.UID, p.GID = parseStatusIDs(b)
	} else if isGone(err) {
		return partial, gone(pid, err)
	}
	if b, err := os.ReadFile(r.procPath(pid, "loginuid")); err == nil {
		if v, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 32); err == nil && v != 0xffffffff {
			p.LoginUID = int64(v)
		}
	}
	if b, err := os.ReadFile(r.procPath(pid, "cgroup")); err == nil {
		p.Cgroup = parseCgroupFile(b)
	} else if isGone(err) {
		return partial, gone(pid, err)
	}
	p.Container = r.confirm(ParseCgroupPath(p.Cgroup))
	p.User, p.Group = r.names(pid, p.Container.ID, p.UID, p.GID)

	if depth > 0 && p.PPID > 0 {
		parent, err := r.get(p.PPID, depth-1)
		if err == nil {
			p.Ancestors = append(p.Ancestors, Ancestor{PID: parent.PID, Name: parent.Name, ExePath: parent.ExePath, Cmdline: parent.Cmdline()})
			p.Ancestors = append(p.Ancestors, parent.Ancestors...)
			if len(p.Ancestors) > r.opts.MaxAncestors {
				p.Ancestors = p.Ancestors[:r.opts.MaxAncestors]
			}
		}
	}
	return p, nil
}

func isGone(err error) bool { return errors.Is(err, fs.ErrNotExist) || errors.Is(err, unix.ESRCH) }

// parseStatusIDs takes the effective uid and gid from /proc/PID/status
// ("Uid:\treal\teffective\tsaved\tfs").
func parseStatusIDs(b []byte) (uid, gid uint32) {
	for _, line := range strings.Split(string(b), "\n") {
		var dst *uint32
		switch {
		case strings.HasPrefix(line, "Uid:"):
			dst = &uid
		case strings.HasPrefix(line, "Gid:"):
			dst = &gid
		default:
			continue
		}
		f := strings.Fields(line)
		if len(f) >= 3 {
			if v, err := strconv.ParseUint(f[2], 10, 32); err == nil {
				*dst = uint32(v)
			}
		}
	}
	return uid, gid
}

// parseCgroupFile returns the cgroup2 ("0::") path of /proc/PID/cgroup.
func parseCgroupFile(b []byte) string {
	for _, line := range strings.Split(string(b), "\n") {
		if rel, ok := strings.CutPrefix(line, "0::"); ok {
			return rel
		}
	}
	return ""
}

// confirm checks an ambiguous container match against the runtime's state:
// runc keeps /run/runc/<id>, containerd's shim /run/containerd/io.containerd.runtime.v2.task/<ns>/<id>.
func (r *Reader) confirm(c Container) Container {
	if !c.Ambiguous {
		return c
	}
	var dirs []string
	switch c.Runtime {
	case RuntimeRunc:
		dirs = []string{filepath.Join(r.opts.RunDir, "runc", c.ID)}
	case RuntimeContainerd:
		dirs = []string{
			filepath.Join(r.opts.RunDir, "containerd", "io.containerd.runtime.v2.task", c.Namespace, c.ID),
			filepath.Join(r.opts.RunDir, "containerd", "runc", c.Namespace, c.ID),
		}
	}
	for _, d := range dirs {
		if _, err := os.Stat(d); err == nil {
			c.Ambiguous = false
			return c
		}
	}
	return Container{PodUID: c.PodUID}
}

// Names resolves uid and gid in p's user database (its container's
// /etc/passwd and /etc/group, or the host's): for ids the kernel reported at
// the time of an event, which win over the ids p was read with (a daemon
// drops privileges after exec).
func (r *Reader) Names(p *Process, uid, gid uint32) (user, group string) {
	if p.UID == uid && p.GID == gid && !p.Exited {
		return p.User, p.Group
	}
	return r.names(p.PID, p.Container.ID, uid, gid)
}

// names resolves uid and gid in the process's own user database: the
// container's /etc/passwd (read through /proc/PID/root) or the host's.
func (r *Reader) names(pid int, containerID string, uid, gid uint32) (string, string) {
	root := r.opts.HostRoot
	if containerID != "" {
		root = r.procPath(pid, "root")
	}
	r.umu.Lock()
	defer r.umu.Unlock()
	t := r.users[containerID]
	pw := filepath.Join(root, "etc", "passwd")
	if t == nil || r.stale(t, pw) {
		nt := &userTable{loaded: time.Now()}
		if fi, err := os.Stat(pw); err == nil {
			nt.mtime = fi.ModTime()
		}
		nt.users = readIDFile(pw)
		nt.groups = readIDFile(filepath.Join(root, "etc", "group"))
		if nt.users == nil && t != nil {
			nt = t // the container went away: keep what we had
		}
		t = nt
		r.users[containerID] = t
	}
	return t.users[uid], t.groups[gid]
}

// stale reports whether a user table should be read again: the file changed
// (checked at most once a second). r.umu is held.
func (r *Reader) stale(t *userTable, pw string) bool {
	if time.Since(t.loaded) < time.Second {
		return false
	}
	fi, err := os.Stat(pw)
	if err != nil {
		return false
	}
	t.loaded = time.Now()
	return !fi.ModTime().Equal(t.mtime)
}

func readIDFile(path string) map[uint32]string {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	m, _ := ParsePasswd(f)
	return m
}
