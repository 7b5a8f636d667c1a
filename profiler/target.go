package profiler

import (
	"encoding/json"
	"errors"
	"fmt"
	"github.com/sysward/sysward/internal/inputfile"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/sysward/sysward/internal/cgroups"
)

// DefaultContainerRoots are the state directories ResolveContainer searches:
// runc's default root (also podman's with runc), containerd's runc shim roots
// (one directory per namespace below), and crun's (podman's default).
var DefaultContainerRoots = []string{
	"/run/runc",
	"/run/containerd/runc",
	"/run/crun",
	"/run/user/0/runc",
	"/run/user/0/crun",
}

// Container is a container found in a runtime's state directory.
type Container struct {
	ID      string
	Runtime string // "runc" or "crun"
	// StateDir is the runtime's state directory of the container.
	StateDir string
	// InitPID is the container's init process on the host.
	InitPID int
	// Cgroup is the absolute cgroup2 directory of InitPID.
	Cgroup string
	// Seccomp reports whether the container's config has a seccomp profile,
	// i.e. whether its init will install a filter before exec.
	Seccomp bool
	// Bundle is the container's OCI bundle directory (config.json), "" when
	// the runtime state does not say.
	Bundle string
	// Unchanged is set by ListCache.List when the state file is the version
	// the previous List read: the same container instance, same init and
	// cgroup.
	Unchanged bool
}

// ListContainers returns every container found under roots (nil means
// DefaultContainerRoots), loaded as ResolveContainer loads them, sorted by
// id. A container that vanished or has no live init while being read is
// left out: lists are snapshots of state directories that change under it.
func ListContainers(roots []string) []*Container {
	return (*ListCache)(nil).List(roots)
}

// ListCache makes repeated ListContainers passes cheap: a container whose
// state file (state.json, crun's status) has the same inode, size and
// modification time as at the last pass is not parsed again (runc and crun
// replace the file by a rename on every state change, so a new inode is a
// new state); its init is still checked alive (kill 0) every pass. A pid
// reused after the init died, while its state file stays unchanged, keeps
// the container listed until the runtime removes its state. The zero value is ready; not safe for concurrent use.
type ListCache struct {
	entries map[string]cachedContainer // by state file path
	seen    map[string]bool
}

type cachedContainer struct {
	key stateKey
	c   Container
}

// stateKey identifies one version of a state file.
type stateKey struct {
	ino, size uint64
	mtime     int64
}

func keyOf(fi os.FileInfo) stateKey {
	k := stateKey{size: uint64(fi.Size()), mtime: fi.ModTime().UnixNano()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		k.ino = st.Ino
	}
	return k
}

// List is ListContainers through the cache (a nil cache reads everything).
func (lc *ListCache) List(roots []string) []*Container {
	if roots == nil {
		roots = DefaultContainerRoots
	}
	if lc != nil {
		if lc.entries == nil {
			lc.entries = map[string]cachedContainer{}
		}
		clear(lc.seen)
		if lc.seen == nil {
			lc.seen = map[string]bool{}
		}
	}
	var out []*Container
	for _, root := range roots {
		for _, lc2 := range listContainers(root) {
			c := lc2.c
			if lc == nil || lc2.file == "" {
				if c.load() == nil {
					out = append(out, c)
				}
				continue
			}
			lc.seen[lc2.file] = true
			if e, ok := lc.entries[lc2.file]; ok && e.key == lc2.key {
				// Same state: its init must still be alive. kill(pid, 0),
				// not a read of /proc/<pid>/cgroup: that read was a third of
				// an idle agent's CPU with 60 containers. A live init (or its
				// zombie) holds its pid; once it is reaped, ESRCH drops the
				// container here (a pid reused meanwhile: see ListCache).
				if err := unix.Kill(e.c.InitPID, 0); !errors.Is(err, unix.ESRCH) {
					cc := e.c
					cc.Unchanged = true
					out = append(out, &cc)
					continue
				}
			}
			delete(lc.entries, lc2.file)
			if c.load() == nil {
				lc.entries[lc2.file] = cachedContainer{key: lc2.key, c: *c}
				out = append(out, c)
			}
		}
	}
	if lc != nil {
		for f := range lc.entries {
			if !lc.seen[f] {
				delete(lc.entries, f)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// InRoots reports whether a runtime under roots (nil means
// DefaultContainerRoots) has a state directory for container id: <root>/<id>
// (runc, crun) or <root>/<namespace>/<id> (containerd). It looks at names
// only: a runtime creates the directory before the container's cgroup and
// removes it after, so it names a container whose state is still being
// written or is already half removed.
func InRoots(id string, roots []string) bool {
	if id == "" || strings.ContainsAny(id, "/\x00") || id == "." || id == ".." {
		return false
	}
	if roots == nil {
		roots = DefaultContainerRoots
	}
	for _, root := range roots {
		if fi, err := os.Stat(filepath.Join(root, id)); err == nil && fi.IsDir() {
			return true
		}
		ents, _ := os.ReadDir(root)
		for _, e := range ents {
			if fi, err := os.Stat(filepath.Join(root, e.Name(), id)); e.IsDir() && err == nil && fi.IsDir() {
				return true
			}
		}
	}
	return false
}

// RuntimeBundle returns the OCI bundle directory of container id from the
// runtime process pid that is creating it (`runc [--root R] create|run
// [--bundle DIR] ID`, which also makes DIR its working directory): its
// command line must name id, and DIR must hold a regular config.json. It
// serves a container whose runtime state is gone before it could be read.
func RuntimeBundle(pid int, id string) (string, bool) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || id == "" {
		return "", false
	}
	cwd, err := os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid))
	if err != nil {
		return "", false
	}
	bundle, ok := bundleArg(string(raw), id, cwd)
	if !ok {
		return "", false
	}
	if fi, err := os.Stat(filepath.Join(bundle, "config.json")); err != nil || !fi.Mode().IsRegular() {
		return "", false
	}
	return bundle, true
}

// bundleArg reads a runtime's NUL-separated command line: it must name the
// container id; the bundle is its --bundle/-b value (relative to cwd), or
// cwd when there is none.
func bundleArg(cmdline, id, cwd string) (string, bool) {
	args := strings.Split(strings.TrimRight(cmdline, "\x00"), "\x00")
	named, bundle := false, ""
	for i, a := range args {
		switch {
		case a == id:
			named = true
		case (a == "--bundle" || a == "-b") && i+1 < len(args):
			bundle = args[i+1]
		case strings.HasPrefix(a, "--bundle="):
			bundle = strings.TrimPrefix(a, "--bundle=")
		}
	}
	if !named || id == "" {
		return "", false
	}
	switch {
	case bundle == "":
		bundle = cwd
	case !filepath.IsAbs(bundle):
		bundle = filepath.Join(cwd, bundle)
	}
	return filepath.Clean(bundle), true
}

// ResolveContainer finds the container with id, or the only one whose id
// starts with id, under roots (nil means DefaultContainerRoots). It returns
// ErrUnknownTarget when none matches and ErrAmbiguous when several do.
func ResolveContainer(id string, roots []string) (*Container, error) {
	if id == "" {
		return nil, fmt.Errorf("container id: %w: empty", ErrUnknownTarget)
	}
	if roots == nil {
		roots = DefaultContainerRoots
	}
	var exact []*Container
	var prefix []*Container
	for _, root := range roots {
		for _, l := range listContainers(root) {
			c := l.c
			switch {
			case c.ID == id:
				exact = append(exact, c)
			case strings.HasPrefix(c.ID, id):
				prefix = append(prefix, c)
			}
		}
	}
	matches := exact
	if len(matches) == 0 {
		matches = prefix
	}
	switch len(matches) {
	case 0:
		return nil, fmt.Errorf("container %q: %w (searched %s)", id, ErrUnknownTarget, strings.Join(roots, ", "))
	case 1:
	default:
		var ids []string
		for _, m := range matches {
			ids = append(ids, m.ID)
		}
		sort.Strings(ids)
		return nil, fmt.Errorf("container %q: %w: %s", id, ErrAmbiguous, strings.Join(ids, ", "))
	}
	c := matches[0]
	if err := c.load(); err != nil {
		return nil, err
	}
	return c, nil
}

// listContainers returns the containers under one root: a runc/crun root
// holds <id>/state.json (runc) or <id>/status (crun); containerd's holds one
// such root per namespace.
// listed is a container found in a state directory, not loaded yet, with
// its state file and that file's version ("" when not a regular file).
type listed struct {
	c    *Container
	file string
	key  stateKey
}

func listContainers(root string) []listed {
	ents, err := os.ReadDir(root)
	if err != nil {
		return nil
	}
	var out []listed
	found := func(id, runtime, dir, file string) bool {
		path := filepath.Join(dir, file)
		fi, err := os.Stat(path)
		if err != nil {
			return false
		}
		l := listed{c: &Container{ID: id, Runtime: runtime, StateDir: dir}}
		if fi.Mode().IsRegular() {
			l.file, l.key = path, keyOf(fi)
		}
		out = append(out, l)
		return true
	}
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		dir := filepath.Join(root, e.Name())
		if found(e.Name(), "runc", dir, "state.json") || found(e.Name(), "crun", dir, "status") {
			continue
		}
		// containerd: <root>/<namespace>/<id>/state.json
		sub, _ := os.ReadDir(dir)
		for _, s := range sub {
			if s.IsDir() {
				found(s.Name(), "runc", filepath.Join(dir, s.Name()), "state.json")
			}
		}
	}
	return out
}

// maxRuntimeStateSize bounds a runtime's state file and a bundle's
// config.json (runc's state.json holds the whole container config): what a
// container's creator wrote is read as untrusted input (internal/inputfile:
// regular files only, capped).
const maxRuntimeStateSize = 16 << 20

// load reads the init pid and seccomp presence from the runtime state and
// the cgroup from /proc.
func (c *Container) load() error {
	switch c.Runtime {
	case "runc":
		path := filepath.Join(c.StateDir, "state.json")
		raw, err := inputfile.Read(path, maxRuntimeStateSize)
		if err != nil {
			return fmt.Errorf("container %s: %w", c.ID, err)
		}
		var st struct {
			InitProcessPid int `json:"init_process_pid"`
			Config         struct {
				Seccomp json.RawMessage `json:"seccomp"`
				Labels  []string        `json:"labels"`
			} `json:"config"`
		}
		if err := json.Unmarshal(raw, &st); err != nil {
			return fmt.Errorf("container %s: %s: %w", c.ID, path, err)
		}
		c.InitPID = st.InitProcessPid
		for _, l := range st.Config.Labels { // runc records "bundle=<dir>"
			if b, ok := strings.CutPrefix(l, "bundle="); ok {
				c.Bundle = b
			}
		}
		c.Seccomp = len(st.Config.Seccomp) > 0 && string(st.Config.Seccomp) != "null"
	case "crun":
		path := filepath.Join(c.StateDir, "status")
		raw, err := inputfile.Read(path, maxRuntimeStateSize)
		if err != nil {
			return fmt.Errorf("container %s: %w", c.ID, err)
		}
		var st struct {
			Pid    int    `json:"pid"`
			Bundle string `json:"bundle"`
		}
		if err := json.Unmarshal(raw, &st); err != nil {
			return fmt.Errorf("container %s: %s: %w", c.ID, path, err)
		}
		c.InitPID = st.Pid
		c.Bundle = st.Bundle
		if cfg, err := inputfile.Read(filepath.Join(st.Bundle, "config.json"), maxRuntimeStateSize); err == nil {
			var spec struct {
				Linux struct {
					Seccomp json.RawMessage `json:"seccomp"`
				} `json:"linux"`
			}
			if json.Unmarshal(cfg, &spec) == nil {
				c.Seccomp = len(spec.Linux.Seccomp) > 0 && string(spec.Linux.Seccomp) != "null"
			}
		}
	}
	if c.InitPID <= 0 {
		return fmt.Errorf("container %s: %w: no init pid in %s", c.ID, ErrUnknownTarget, c.StateDir)
	}
	cg, err := cgroups.OfPID(c.InitPID)
	if err != nil {
		return fmt.Errorf("container %s: %w: init pid %d: %v", c.ID, ErrUnknownTarget, c.InitPID, err)
	}
	c.Cgroup = cg
	return nil
}

// ResolvePID returns the cgroup2 directory of pid.
func ResolvePID(pid int) (string, error) {
	if pid <= 0 {
		return "", fmt.Errorf("pid %d: %w", pid, ErrUnknownTarget)
	}
	if err := unix.Kill(pid, 0); errors.Is(err, unix.ESRCH) {
		return "", fmt.Errorf("pid %d: %w: no such process", pid, ErrUnknownTarget)
	}
	cg, err := cgroups.OfPID(pid)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "", fmt.Errorf("pid %d: %w: no such process", pid, ErrUnknownTarget)
		}
		return "", err
	}
	return cg, nil
}

// ResolveCgroup returns the absolute cgroup2 directory for a user-supplied
// path (absolute under the mount, or relative to it).
func ResolveCgroup(path string) (string, error) {
	dir, err := cgroups.Resolve(path)
	if err != nil {
		if errors.Is(err, cgroups.ErrNoCgroup2) {
			return "", err
		}
		return "", fmt.Errorf("%w: %v", ErrUnknownTarget, err)
	}
	return dir, nil
}

// newLearnCgroup creates the owned cgroup <cgroup2 mount>/sysward/learn-<pid>-<n>
// for a command Learn starts (see cgroups.Create).
func newLearnCgroup() (string, error) { return cgroups.Create("learn") }

// removeCgroup kills what is left in dir and removes it (cgroups.Remove).
var removeCgroup = cgroups.Remove

// populated reports whether dir holds live processes (cgroup.events), false
// once the directory is gone.
func populated(dir string) bool {
	raw, err := os.ReadFile(filepath.Join(dir, "cgroup.events"))
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "populated "); ok {
			return strings.TrimSpace(v) != "0"
		}
	}
	return true
}
