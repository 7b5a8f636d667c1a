package profiler

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/sysward/sysward/elfhints"
	"github.com/sysward/sysward/profiles"
)

// Values of LearnOptions.Static.
const (
	// StaticHints (sysward learn's default) adds the syscalls the workload's binaries
	// import from glibc (or link as Go wrappers) that the session did not
	// make, dangerous ones excepted (those are listed as reachable), and
	// the imports of each library a binary is a front end to
	// (elfhints.IsFrontEnd: the sqlite3 shell over libsqlite3).
	StaticHints = "hints"
	// StaticLibs is StaticHints plus the imports of each binary's direct
	// DT_NEEDED libraries (for programs whose work is in a library, such
	// as the sqlite3 shell). Wider: redis-server's libraries (libsystemd,
	// libcrypto ...) reach 131 syscalls where its own imports reach 84.
	StaticLibs = "libs"
	// StaticOff reads no binary.
	StaticOff = "off"
)

// ErrUnknownStatic is returned for a LearnOptions.Static that is none of
// StaticHints, StaticLibs, StaticOff.
var ErrUnknownStatic = errors.New("unknown static hints mode (want hints, libs or off)")

// maxStaticBinaries bounds how many distinct executables one session reads
// (a workload exec'ing generated binaries cannot make learn read forever).
const maxStaticBinaries = 64

// StaticReport says what static hints did in a learning session.
type StaticReport struct {
	// Mode is StaticHints or StaticLibs.
	Mode string
	// Binaries are the executables read (paths as the workload sees them),
	// in the order found, each with its kind.
	Binaries []StaticBinary
	// Added are the syscalls allowed because a binary can reach them and
	// the session did not make them, sorted.
	Added []string
	// Reachable are the dangerous syscalls a binary can reach, not allowed
	// (also in the profile's sysward.reachable), sorted.
	Reachable []string
	// Notes say what could not be done (a static C binary, raw syscall()
	// imports, unreadable binaries, missing libraries).
	Notes []string
	// Explained are the syscalls a binary's imports or Go wrappers can
	// make (allowed before or not), sorted: a traced call among them is
	// one the libc table describes, and families do not widen it (see
	// generalize).
	Explained []string
	// LibraryReach are the syscalls the binaries' other direct libraries
	// (read, not hinted: elfhints.Binary.Others) can reach, sorted.
	LibraryReach []string
	// LegacyLibc is true when a binary read does not make its calls
	// through glibc or Go (elfhints.Binary.KnownLibc): families then widen
	// across generations (profiles.WidenOptions).
	LegacyLibc bool
}

// StaticBinary is one executable read for static hints.
type StaticBinary struct {
	Path string
	Kind elfhints.Kind
}

func checkStatic(mode string) (string, error) {
	switch mode {
	case "":
		return StaticOff, nil
	case StaticHints, StaticLibs, StaticOff:
		return mode, nil
	}
	return "", fmt.Errorf("%w: %q", ErrUnknownStatic, mode)
}

// execScanner finds the executables a learned cgroup runs: the command's
// resolved path before it starts, then every process's /proc/PID/exe as
// polling (or a first-seen event) finds it. Each executable is read once
// (by device and inode), while its process is alive, with libraries looked
// up in that process's root (/proc/PID/root: a container's root
// filesystem). A process that execs and exits between two polls without
// making a new syscall is missed: Notes says sessions see what they poll.
type execScanner struct {
	libs bool
	// filteredOnly reads only processes under a seccomp filter (a
	// followed container runtime command's containers).
	filteredOnly bool
	// exclude are executables that are never the workload's (a followed
	// command's runtime: runc is under the container's filter between
	// installing it and exec'ing the entrypoint).
	exclude map[[2]uint64]bool

	mu    sync.Mutex
	exe   map[int]string // pid -> last /proc/PID/exe link seen
	files map[[2]uint64]bool
	self  [2]uint64 // sysward's own executable
	// execRoot is the root an exec event's absolute path names when its
	// process is gone: "/" for a command, the bundle's root for a
	// container, "" (unknown) for a cgroup or pid.
	execRoot string
	binaries []*elfhints.Binary
	notes    []string
	capped   bool
	scans    int
}

func newExecScanner(mode string) *execScanner {
	s := &execScanner{libs: mode == StaticLibs, exe: map[int]string{}, files: map[[2]uint64]bool{}}
	var st unix.Stat_t
	if unix.Stat("/proc/self/exe", &st) == nil {
		s.self = [2]uint64{st.Dev, st.Ino}
	}
	return s
}

// excludePath marks the executable at path (looked up on PATH) as never
// the workload's.
func (s *execScanner) excludePath(path string) {
	if path == "" {
		return
	}
	if p, err := exec.LookPath(path); err == nil {
		path = p
	}
	var st unix.Stat_t
	if unix.Stat(path, &st) == nil {
		if s.exclude == nil {
			s.exclude = map[[2]uint64]bool{}
		}
		s.exclude[[2]uint64{st.Dev, st.Ino}] = true
	}
}

// hasSeccompFilter reports whether the process at proc (/proc/PID) runs
// under a seccomp filter ("Seccomp:\t2" in its status).
func hasSeccompFilter(proc string) bool {
	b, err := os.ReadFile(proc + "/status")
	if err != nil {
		return false
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "Seccomp:"); ok {
			return strings.TrimSpace(v) == "2"
		}
	}
	return false
}

// readPath reads an executable by host path (the command, before it runs).
func (s *execScanner) readPath(path string) {
	s.execRoot = "/"
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	f, err := os.Open(path)
	if err != nil {
		s.note(fmt.Sprintf("%s: %v", path, err))
		return
	}
	defer f.Close()
	s.read(f, path, "/", true)
}

// readEntrypoint reads a container's entrypoint from its bundle
// (config.json: process.args[0], looked up in the image's PATH when it has
// no slash, inside root.path), before it may have started.
func (s *execScanner) readEntrypoint(bundle string) {
	if bundle == "" {
		return
	}
	cfgPath := filepath.Join(bundle, "config.json")
	raw, err := readBounded(cfgPath, 4<<20)
	if err != nil {
		s.note(fmt.Sprintf("container entrypoint: %v", err))
		return
	}
	var spec struct {
		Root struct {
			Path string `json:"path"`
		} `json:"root"`
		Process struct {
			Args []string `json:"args"`
			Env  []string `json:"env"`
		} `json:"process"`
	}
	if err := json.Unmarshal(raw, &spec); err != nil {
		s.note(fmt.Sprintf("container entrypoint: %s: %v", cfgPath, err))
		return
	}
	if len(spec.Process.Args) == 0 || spec.Root.Path == "" {
		return
	}
	root := spec.Root.Path
	if !filepath.IsAbs(root) {
		root = filepath.Join(bundle, root)
	}
	s.execRoot = root
	r, err := os.OpenRoot(root)
	if err != nil {
		s.note(fmt.Sprintf("container entrypoint: %v", err))
		return
	}
	defer r.Close()
	cands := []string{spec.Process.Args[0]}
	if !strings.Contains(cands[0], "/") {
		path := "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
		for _, e := range spec.Process.Env {
			if v, ok := strings.CutPrefix(e, "PATH="); ok {
				path = v
			}
		}
		cands = nil
		for _, d := range filepath.SplitList(path) {
			if filepath.IsAbs(d) {
				cands = append(cands, filepath.Join(d, spec.Process.Args[0]))
			}
		}
	}
	for _, c := range cands {
		f, err := r.OpenFile(strings.TrimPrefix(filepath.Clean(c), "/"), os.O_RDONLY|unix.O_NONBLOCK, 0)
		if err != nil {
			continue
		}
		s.read(f, filepath.Clean(c), root, true)
		f.Close()
		return
	}
	s.note(fmt.Sprintf("container entrypoint %q not found in %s", spec.Process.Args[0], root))
}

// readBounded reads a regular file of at most max bytes.
func readBounded(name string, max int64) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() || st.Size() > max {
		return nil, fmt.Errorf("%s: not a regular file of at most %d bytes", name, max)
	}
	return io.ReadAll(io.LimitReader(f, max))
}

// scanCgroup looks at every process of the cgroup tree dir: new pids
// always, every pid's executable again every 20th scan (a process that
// exec'd keeps its pid).
func (s *execScanner) scanCgroup(dir string) {
	s.mu.Lock()
	s.scans++
	all := s.scans%20 == 1
	s.mu.Unlock()
	present := map[int]bool{}
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		raw, err := os.ReadFile(filepath.Join(p, "cgroup.procs"))
		if err != nil {
			return nil
		}
		for _, f := range strings.Fields(string(raw)) {
			if pid, err := strconv.Atoi(f); err == nil {
				present[pid] = true
				s.scanPID(pid, all)
			}
		}
		return nil
	})
	if all {
		// Forget exited pids, so that a session of many short processes
		// keeps a map the size of the cgroup, not of every pid it used.
		s.mu.Lock()
		for pid := range s.exe {
			if !present[pid] {
				delete(s.exe, pid)
			}
		}
		s.mu.Unlock()
	}
}

// execTrack is how Learn tracks the cgroup when it reads the ring buffer:
// watch mode with every syscall allowed records exactly what learn mode
// does (the seen bitmap and first-seen events; nothing deviates), and the
// kernel also sends an exec event, with the exec'd path, for every exec in
// the cgroup, which learn mode does not.
func execTrack(flags Flags) TrackOptions {
	all := &SyscallSet{}
	for a := range all.bits {
		for w := range all.bits[a] {
			all.bits[a][w] = ^uint64(0)
		}
	}
	return TrackOptions{Mode: ModeWatch, Flags: flags, Allowed: all}
}

// exec handles an exec event: pid exec'd filename. The running process is
// read when it is still there; else filename, when it is absolute and the
// scanner knows the root it names (execRoot: a command's is the host's, a
// container's its bundle's root.path).
func (s *execScanner) exec(pid int, filename string) {
	if s.scanPID(pid, true) {
		return
	}
	root := s.execRoot
	if root == "" {
		root = s.siblingRoot()
	}
	if root == "" || !filepath.IsAbs(filename) {
		s.note(fmt.Sprintf("%s exited before it could be read", filename))
		return
	}
	r, err := os.OpenRoot(root)
	if err != nil {
		return
	}
	defer r.Close()
	f, err := r.OpenFile(strings.TrimPrefix(filepath.Clean(filename), "/"), os.O_RDONLY|unix.O_NONBLOCK, 0)
	if err != nil {
		s.note(fmt.Sprintf("%s: %v", filename, err))
		return
	}
	defer f.Close()
	s.read(f, filepath.Clean(filename), root, false)
}

// siblingRoot is the root of a live process of the cgroup seen before (a
// cgroup or pid target's processes share one as a rule): "/" for one in
// our mount namespace, else its /proc/PID/root; "" when none is left.
func (s *execScanner) siblingRoot() string {
	s.mu.Lock()
	pids := make([]int, 0, len(s.exe))
	for pid := range s.exe {
		pids = append(pids, pid)
	}
	s.mu.Unlock()
	for _, pid := range pids {
		proc := "/proc/" + strconv.Itoa(pid)
		root, err := os.Readlink(proc + "/root")
		if err != nil {
			continue
		}
		if root == "/" && sameMountNS(proc) {
			return "/"
		}
		return proc + "/root"
	}
	return ""
}

// scanPID reads pid's executable if it is one not read yet, and reports
// whether the process was there to look at.
func (s *execScanner) scanPID(pid int, recheck bool) bool {
	s.mu.Lock()
	_, known := s.exe[pid]
	s.mu.Unlock()
	if known && !recheck {
		return true
	}
	proc := "/proc/" + strconv.Itoa(pid)
	link, err := os.Readlink(proc + "/exe")
	if err != nil {
		return false // gone, or a kernel thread
	}
	s.mu.Lock()
	same := s.exe[pid] == link
	s.exe[pid] = link
	s.mu.Unlock()
	// Not the workload's: a runtime's re-exec'd copy of itself (runc and
	// crun run from a memfd until they exec the entrypoint).
	if same || strings.HasPrefix(link, "/memfd:") {
		return true
	}
	// In a followed runtime command's cgroups the workload is what runs
	// under the container's filter; the runtime's helpers there (podman's
	// conmon) run without one. Learning records the same boundary.
	if s.filteredOnly && !hasSeccompFilter(proc) {
		return true
	}
	f, err := os.Open(proc + "/exe")
	if err != nil {
		return false
	}
	defer f.Close()
	// Name it as the process sees it: the link is relative to our root;
	// strip the process's root when it is a subdirectory of ours.
	name, libRoot := link, "/"
	root, _ := os.Readlink(proc + "/root")
	if root != "" && root != "/" {
		if rest, ok := strings.CutPrefix(link, root+"/"); ok {
			name = "/" + rest
		}
	}
	// Libraries come from the process's own root: another mount namespace
	// (a container) or a chroot.
	if root != "/" || !sameMountNS(proc) {
		libRoot = proc + "/root"
	}
	s.read(f, name, libRoot, false)
	return true
}

// sameMountNS reports whether the process at proc shares our mount
// namespace (false when it cannot be told).
func sameMountNS(proc string) bool {
	theirs, err1 := os.Readlink(proc + "/ns/mnt")
	ours, err2 := os.Readlink("/proc/self/ns/mnt")
	return err1 == nil && err2 == nil && theirs == ours
}

// read reads one executable once. named says the user named it (the
// command, a container's entrypoint): sysward's own executable is read
// then (`sysward learn -- sysward watch ...` learns sysward), but not when
// an exec event shows it, which is sysward's launcher re-exec'ing itself in
// the learned command's cgroup between fork and exec.
func (s *execScanner) read(f *os.File, name, root string, named bool) {
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return
	}
	key := [2]uint64{st.Dev, st.Ino}
	s.mu.Lock()
	if s.files[key] || (key == s.self && !named) || s.exclude[key] {
		s.mu.Unlock()
		return
	}
	if len(s.files) >= maxStaticBinaries {
		if !s.capped {
			s.capped = true
			s.notes = append(s.notes, fmt.Sprintf("more than %d distinct executables: the others were not read", maxStaticBinaries))
		}
		s.mu.Unlock()
		return
	}
	s.files[key] = true
	s.mu.Unlock()
	b, err := elfhints.ReadFile(f, name, &elfhints.Options{Root: root, Libraries: s.libs, FrontEnds: true})
	if err != nil {
		s.note(fmt.Sprintf("no static hints from %v", err))
		return
	}
	s.mu.Lock()
	s.binaries = append(s.binaries, b)
	s.mu.Unlock()
}

// maxStaticNotes bounds the notes of one session (a workload running
// thousands of short programs must not make a report as long).
const maxStaticNotes = 32

func (s *execScanner) note(n string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case slices.Contains(s.notes, n):
	case len(s.notes) < maxStaticNotes:
		s.notes = append(s.notes, n)
	case len(s.notes) == maxStaticNotes:
		s.notes = append(s.notes, "more notes left out")
	}
}

// mergeStatic adds to p the syscalls the scanned binaries can reach that p
// does not allow, each with its static:<binary>:<function> sources; a
// dangerous one (profiles.DangerousSyscalls) goes to p's Reachable
// instead. The table is x86_64's: nothing is added to a profile learned on
// other architectures only.
func mergeStatic(p *profiles.Profile, s *execScanner, mode string) *StaticReport {
	s.mu.Lock()
	defer s.mu.Unlock()
	rep := &StaticReport{Mode: mode, Notes: slices.Clone(s.notes)}
	have := map[string]bool{}
	for _, n := range p.Names() {
		have[n] = true
	}
	added := map[string][]string{}
	reach := map[string][]string{}
	explained := map[string]bool{}
	defer func() {
		for n := range explained {
			rep.Explained = append(rep.Explained, n)
		}
		slices.Sort(rep.Explained)
		slices.Sort(rep.LibraryReach)
		rep.LibraryReach = slices.Compact(rep.LibraryReach)
	}()
	for _, b := range s.binaries {
		rep.Binaries = append(rep.Binaries, StaticBinary{Path: b.Path, Kind: b.Kind})
		rep.LegacyLibc = rep.LegacyLibc || !b.KnownLibc()
		rep.LibraryReach = append(rep.LibraryReach, elfhints.OthersReach(b)...)
		hints, notes := elfhints.Hints(b)
		rep.Notes = append(rep.Notes, notes...)
		for _, h := range hints {
			explained[h.Syscall] = true
			switch {
			case have[h.Syscall]:
			case isDangerous(h.Syscall):
				reach[h.Syscall] = append(reach[h.Syscall], h.Source())
			default:
				added[h.Syscall] = append(added[h.Syscall], h.Source())
			}
		}
	}
	if len(added)+len(reach) == 0 {
		return rep
	}
	if a := p.Arches(); len(a) > 0 && !slices.Contains(a, profiles.ArchX86_64) {
		rep.Notes = append(rep.Notes, "the profile has no x86_64 architecture: static hints (x86_64 names) not added")
		return rep
	}
	if p.Sysward == nil {
		p.Sysward = &profiles.Metadata{}
	}
	if p.Sysward.Stats == nil {
		p.Sysward.Stats = map[string]profiles.SyscallStats{}
	}
	for name, srcs := range added {
		rep.Added = append(rep.Added, name)
		st := p.Sysward.Stats[name]
		if !slices.Contains(st.Arches, profiles.ArchX86_64) {
			st.Arches = append(st.Arches, profiles.ArchX86_64)
		}
		st.Sources = append(st.Sources, srcs...)
		p.Sysward.Stats[name] = st
	}
	slices.Sort(rep.Added)
	p.Allow(rep.Added...)
	p.AddArch(profiles.ArchX86_64)
	for name, srcs := range reach {
		rep.Reachable = append(rep.Reachable, name)
		if p.Sysward.Reachable == nil {
			p.Sysward.Reachable = map[string][]string{}
		}
		p.Sysward.Reachable[name] = append(p.Sysward.Reachable[name], srcs...)
	}
	slices.Sort(rep.Reachable)
	// glibc (2.34+) starts threads and children with clone3 and falls back
	// to clone only when clone3 fails with ENOSYS: refused with the
	// profile's EPERM, pthread_create and posix_spawn would fail although
	// clone is allowed. Answer ENOSYS, as Docker's default profile does.
	if _, ok := reach["clone3"]; ok && p.DefaultAction != profiles.ActAllow {
		enosys := uint(unix.ENOSYS)
		p.AddRule(profiles.ActErrno, &enosys, "clone3")
		rep.Notes = append(rep.Notes, "clone3 is reachable but not allowed: it returns ENOSYS, so glibc falls back to clone")
	}
	return rep
}

func isDangerous(name string) bool {
	_, ok := profiles.DangerousSyscalls[name]
	return ok
}
