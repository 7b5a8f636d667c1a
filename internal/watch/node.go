package watch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/sysward/sysward/detector"
	"github.com/sysward/sysward/enforcer"
	"github.com/sysward/sysward/internal/cgroups"
	"github.com/sysward/sysward/internal/inputfile"
	"github.com/sysward/sysward/profiler"
	"github.com/sysward/sysward/profiles"
)

// DefaultMaxContainers is how many containers a Node tracks at most (the
// profiler's default MaxCgroups is 1024; a few slots stay free for other
// sessions sharing it).
const DefaultMaxContainers = 1000

// CapRule is the rule name of the internal alert raised when more containers
// run than NodeOptions.MaxContainers allows: the ones beyond are not watched.
const CapRule = "sysward container cap reached"

// NodeOptions configure a Node: which containers it discovers and where it
// finds their profiles.
type NodeOptions struct {
	// Roots are the runtime state directories to discover containers in
	// (nil: profiler.DefaultContainerRoots).
	Roots []string
	// ProfilesDir is searched recursively for profiles (*.json) installed
	// with enforcer.Install (the kubelet's seccomp root). A container whose
	// config.json linux.seccomp has the same content hash as one of them is
	// held to it. "" matches nothing.
	ProfilesDir string
	// MaxContainers caps the tracked containers (0: DefaultMaxContainers).
	MaxContainers int
	// Interval between discovery passes (0: one second).
	Interval time.Duration
	// Logger receives discovery notes and warnings (nil: discarded).
	Logger *slog.Logger
	// Internal receives the cap warning as an alert (nil: only logged).
	Internal detector.AlertSink
	// Hostname for internal alerts.
	Hostname string
}

// NodeContainer is a container a Node tracks.
type NodeContainer struct {
	ID       string
	Cgroup   string
	CgroupID uint64
	// Profile is the matching profile file under ProfilesDir, "" when the
	// container runs without one of them (tracked unrestricted: exec rules
	// still apply, nothing is outside its profile).
	Profile string
	// Hash is the content hash of the container's linux.seccomp ("" without).
	Hash string
	// Mode is ModeEnforce, ModeComplain or ModeWatch, from the profile's
	// default action (ModeWatch without a profile).
	Mode string
}

// Node discovers the containers on the host and keeps a Watcher tracking
// each of them: new ones are added at the next pass, vanished ones are
// untracked and forgotten. Sync and Run must not run concurrently with each
// other; Containers and Skipped are safe from any goroutine.
type Node struct {
	w    *Watcher
	opts NodeOptions
	log  *slog.Logger

	mu         sync.Mutex
	containers map[string]*NodeContainer // by container id
	skipped    int

	index       map[string]string      // content hash -> profile path
	indexKey    string                 // fingerprint of ProfilesDir when index was built
	indexed     map[string]indexedFile // profile path -> what its last read gave
	badProfiles int                    // files under ProfilesDir skipped by the last index
	capWarned   bool
}

// NewNode prepares a Node over w. w should be loaded with the exit hooks
// (Options.NoExitHooks false) so calls refused by enforced containers are seen.
func NewNode(w *Watcher, opts NodeOptions) *Node {
	if opts.MaxContainers <= 0 {
		opts.MaxContainers = DefaultMaxContainers
	}
	if opts.Interval <= 0 {
		opts.Interval = time.Second
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Node{w: w, opts: opts, log: log, containers: map[string]*NodeContainer{},
		index: map[string]string{}, indexed: map[string]indexedFile{}}
}

// Run calls Sync every Interval until ctx is done; it returns nil then. A
// failing pass is logged and retried at the next tick.
func (n *Node) Run(ctx context.Context) error {
	t := time.NewTicker(n.opts.Interval)
	defer t.Stop()
	for {
		if err := n.Sync(); err != nil {
			n.log.Warn("container discovery", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Sync makes one discovery pass: it refreshes the profile index if
// ProfilesDir changed, tracks containers not yet tracked (up to the cap)
// and untracks those that are gone.
func (n *Node) Sync() error {
	n.refreshIndex()
	live := profiler.ListContainers(n.opts.Roots)
	seen := make(map[string]bool, len(live))
	var errs []error
	skipped := 0
	for _, c := range live {
		seen[c.ID] = true
		n.mu.Lock()
		old := n.containers[c.ID]
		count := len(n.containers)
		n.mu.Unlock()
		id, err := cgroups.ID(c.Cgroup)
		if err != nil {
			continue // gone while we looked
		}
		if old != nil {
			if old.CgroupID == id {
				continue
			}
			n.forget(old) // same id, new container (restarted): start over
			count--
		}
		if count >= n.opts.MaxContainers {
			skipped++
			continue
		}
		if err := n.add(c, id); err != nil {
			errs = append(errs, err)
		}
	}
	n.mu.Lock()
	var gone []*NodeContainer
	for id, nc := range n.containers {
		if !seen[id] {
			gone = append(gone, nc)
		}
	}
	n.skipped = skipped
	warn := skipped > 0 && !n.capWarned
	n.capWarned = skipped > 0
	n.mu.Unlock()
	for _, nc := range gone {
		n.forget(nc)
	}
	if warn {
		n.warnCap(skipped)
	}
	return errors.Join(errs...)
}

// add tracks one container, held to its profile when one under ProfilesDir
// matches its linux.seccomp.
func (n *Node) add(c *profiler.Container, cgroupID uint64) error {
	nc := &NodeContainer{ID: c.ID, Cgroup: c.Cgroup, CgroupID: cgroupID, Mode: ModeWatch}
	wl := Workload{Name: c.ID, ContainerID: c.ID, CgroupID: cgroupID, Mode: ModeWatch, Profile: unrestricted}
	if s := containerSeccomp(c); s != nil {
		if h, err := enforcer.RuntimeHash(&profiles.Profile{LinuxSeccomp: *s}); err == nil {
			nc.Hash = h
		}
	}
	if path := n.lookup(nc.Hash); path != "" {
		p, err := inputfile.Profile(path)
		if err == nil {
			nc.Profile, nc.Mode = path, modeOf(p)
			wl.Profile, wl.ProfileName, wl.Mode = p, path, nc.Mode
			// The runtime sets the container up before its filter is in:
			// only calls made under the filter belong to the workload.
			wl.WaitSeccomp = c.Seccomp
		} else {
			n.log.Warn("profile changed while loading", "profile", path, "err", err)
		}
	}
	if err := n.w.Add(wl); err != nil {
		return fmt.Errorf("container %s: %w", c.ID, err)
	}
	n.mu.Lock()
	n.containers[c.ID] = nc
	n.mu.Unlock()
	n.log.Info("tracking container", "container", c.ID, "cgroup", c.Cgroup, "profile", nc.Profile, "mode", nc.Mode)
	return nil
}

// forget untracks a container and drops what the Watcher kept of it.
func (n *Node) forget(nc *NodeContainer) {
	n.untrack(nc)
	n.log.Info("container gone", "container", nc.ID)
}

func (n *Node) untrack(nc *NodeContainer) {
	_ = n.w.Remove(nc.CgroupID) // on failure forget untracks without the final state
	n.w.forget(nc.CgroupID)
	n.mu.Lock()
	delete(n.containers, nc.ID)
	n.mu.Unlock()
}

// Close untracks every container the Node tracks.
func (n *Node) Close() {
	for _, nc := range n.Containers() {
		n.untrack(&nc)
	}
}

// Containers returns the tracked containers, sorted by id.
func (n *Node) Containers() []NodeContainer {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := make([]NodeContainer, 0, len(n.containers))
	for _, nc := range n.containers {
		out = append(out, *nc)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Skipped is how many running containers the last pass left untracked
// because of MaxContainers.
func (n *Node) Skipped() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.skipped
}

func (n *Node) warnCap(skipped int) {
	msg := fmt.Sprintf("More containers than the cap of %d: %d are not watched (raise --max-containers)", n.opts.MaxContainers, skipped)
	n.log.Warn(msg)
	if n.opts.Internal == nil {
		return
	}
	n.opts.Internal.Send(&detector.Alert{
		Time: time.Now(), Rule: CapRule, Priority: detector.PriorityWarning, Source: "internal",
		Hostname: n.opts.Hostname, Output: msg,
		OutputFields: map[string]any{"sysward.containers_max": n.opts.MaxContainers, "sysward.containers_skipped": skipped},
		Tags:         []string{"sysward", "internal"},
	})
}

// unrestricted allows every call on every traced architecture: a container
// without a sysward profile is tracked for its execs only.
var unrestricted = &profiles.Profile{LinuxSeccomp: specs.LinuxSeccomp{
	DefaultAction: specs.ActAllow,
	Architectures: []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32},
}}

// modeOf says what a runtime enforcing p does with calls outside its
// allowed set: refuses some (enforce: any errno, kill, trap, trace or
// notify action), only logs them (complain), or nothing (watch).
func modeOf(p *profiles.Profile) string {
	acts := []specs.LinuxSeccompAction{p.DefaultAction}
	for _, r := range p.Syscalls {
		acts = append(acts, r.Action)
	}
	mode := ModeWatch
	for _, a := range acts {
		switch a {
		case specs.ActAllow:
		case specs.ActLog:
			mode = ModeComplain
		default:
			return ModeEnforce
		}
	}
	return mode
}

// containerSeccomp reads linux.seccomp from the container's bundle
// config.json; nil when it has none or the bundle cannot be read.
func containerSeccomp(c *profiler.Container) *specs.LinuxSeccomp {
	if c.Bundle == "" || !c.Seccomp {
		return nil
	}
	raw, err := os.ReadFile(filepath.Join(c.Bundle, "config.json"))
	if err != nil {
		return nil
	}
	return parseSeccomp(raw)
}

// parseSeccomp returns linux.seccomp of an OCI config.json, nil when it has
// none or is not a config.
func parseSeccomp(raw []byte) *specs.LinuxSeccomp {
	var spec struct {
		Linux struct {
			Seccomp *specs.LinuxSeccomp `json:"seccomp"`
		} `json:"linux"`
	}
	if json.Unmarshal(raw, &spec) != nil {
		return nil
	}
	return spec.Linux.Seccomp
}

func (n *Node) lookup(hash string) string {
	if hash == "" {
		return ""
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.index[hash]
}

// MaxIndexedProfiles caps how many *.json files under ProfilesDir the
// profile index reads; the files beyond are skipped with a warning. A
// kubelet seccomp root holds one file per installed profile version.
const MaxIndexedProfiles = 10000

// indexedFile is what the index remembers of one file under ProfilesDir, so
// a pass re-reads only files that changed and warns about a bad one once.
type indexedFile struct {
	key  string // statKey when it was read
	hash string // its RuntimeHash; "" when it is not a usable profile
}

// statKey identifies a file's version for the index: type, size,
// modification time and inode of what path leads to (symlinks followed, so
// a retargeted link is re-read). Stat never opens the file: a FIFO or a
// device costs nothing here.
func statKey(path string) string {
	fi, err := os.Stat(path)
	if err != nil {
		return "error: " + err.Error()
	}
	var ino uint64
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		ino = st.Ino
	}
	return fmt.Sprintf("%v %d %d %d", fi.Mode(), fi.Size(), fi.ModTime().UnixNano(), ino)
}

// refreshIndex rebuilds the hash index when a file under ProfilesDir was
// added, removed or changed (type, size, modification time or inode).
//
// Every file is read with inputfile.Profile: a FIFO, a device, a directory
// named *.json or a file over profiles.MaxFileSize is refused without
// blocking or reading it, skipped with one warning (again only when it
// changes) and counted (BadProfiles); the other profiles are indexed. A
// symlink to a regular file is followed, as the kubelet follows it when it
// loads a localhost profile; symlinked directories are not entered
// (filepath.WalkDir does not follow them), so a link loop cannot make the
// walk endless.
func (n *Node) refreshIndex() {
	if n.opts.ProfilesDir == "" {
		return
	}
	type file struct {
		path string
		key  string
	}
	var files []file
	over := 0
	_ = filepath.WalkDir(n.opts.ProfilesDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(d.Name(), ".json") {
			return nil
		}
		if len(files) >= MaxIndexedProfiles {
			over++
			return nil
		}
		files = append(files, file{path, statKey(path)})
		return nil
	})
	var b strings.Builder
	for _, f := range files {
		b.WriteString(f.path + "\x00" + f.key + "\x00")
	}
	fmt.Fprintf(&b, "over %d", over)
	if b.String() == n.indexKey {
		return
	}
	index := map[string]string{}
	indexed := make(map[string]indexedFile, len(files))
	bad := 0
	for _, f := range files {
		e, ok := n.indexed[f.path]
		if !ok || e.key != f.key {
			e = indexedFile{key: f.key}
			p, err := inputfile.Profile(f.path)
			if err == nil {
				e.hash, err = enforcer.RuntimeHash(p)
			}
			if err != nil {
				n.log.Warn("skipping profile", "profile", f.path, "err", err)
			}
		}
		indexed[f.path] = e
		if e.hash == "" {
			bad++
			continue
		}
		if prev, dup := index[e.hash]; dup && prev < f.path {
			continue // same content twice: the first path by name wins
		}
		index[e.hash] = f.path
	}
	if over > 0 {
		n.log.Warn(fmt.Sprintf("more than %d profile files under the profiles dir: %d not read", MaxIndexedProfiles, over), "dir", n.opts.ProfilesDir)
	}
	n.mu.Lock()
	n.index = index
	n.badProfiles = bad + over
	n.mu.Unlock()
	n.indexed = indexed
	n.indexKey = b.String()
	n.log.Info("profile index", "dir", n.opts.ProfilesDir, "profiles", len(index), "skipped", bad+over)
}

// BadProfiles is how many *.json files under ProfilesDir the last index
// skipped: not a regular file, too large, not a valid profile, or beyond
// MaxIndexedProfiles.
func (n *Node) BadProfiles() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.badProfiles
}

// Profiles returns the indexed profiles: content hash -> file.
func (n *Node) Profiles() map[string]string {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := make(map[string]string, len(n.index))
	for k, v := range n.index {
		out[k] = v
	}
	return out
}

// forget drops what the Watcher keeps about cgroupID (after Remove), so a
// node agent watching containers come and go does not grow.
func (w *Watcher) forget(cgroupID uint64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if wl, ok := w.workloads[cgroupID]; ok && wl.final == nil {
		_ = w.prof.Untrack(cgroupID)
	}
	delete(w.workloads, cgroupID)
	w.met.WorkloadsTracked(w.trackedLocked())
}
