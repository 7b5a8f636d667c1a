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
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/sysward/sysward/detector"
	"github.com/sysward/sysward/enforcer"
	"github.com/sysward/sysward/internal/cgroups"
	"github.com/sysward/sysward/internal/inputfile"
	"github.com/sysward/sysward/internal/procinfo"
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
	// InstallFrom is a directory of profiles to install into
	// ProfilesDir/sysward/ (a ConfigMap volume: "<namespace>.<name>.json"
	// per profile); installed files it no longer holds are removed when
	// no running container uses them. "" installs and removes nothing.
	InstallFrom string
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
	// PendingGrace is how long a cgroup the kernel holds pending
	// (profiler.Options.HoldNewCgroups) may stay unmatched by any
	// container before it is released as no container (0: 5 s).
	PendingGrace time.Duration
	// Audit, if set, adds the kube-apiserver's audit records as a second
	// source, through the rules and correlated with the containers'
	// calls outside their profiles (NodeSession).
	Audit *AuditInput
	// Store, if set, learns the marked containers into the cluster store
	// and installs the store's applied profiles (StoreLearner, started by
	// NodeSession).
	Store *StoreOptions
}

// PendingRule is the rule name of the internal alert raised when new
// cgroups could not be held from their creation (the pending map was full):
// what such a container ran before discovery found it was not seen.
const PendingRule = "sysward pending cgroups overflow"

// fastPoll is the discovery interval while a held cgroup is unmatched: a
// runtime writes its state within milliseconds of creating the cgroup, and
// a one-shot container may be gone (state and all) soon after.
const fastPoll = 10 * time.Millisecond

// pendingCgroup is a new cgroup the kernel holds until it is matched to a
// container or released.
type pendingCgroup struct {
	path   string // relative to the cgroup2 mount
	since  time.Time
	goneAt time.Time // when a pass first found its directory gone
	// container is the container its path names, when that is certain:
	// a runtime's own naming, or an id a runtime root had a directory for
	// when the cgroup was created.
	container string
	// bundle is the container's bundle, read from the runtime process
	// that made the cgroup (profiler.RuntimeBundle): its profile when the
	// runtime state is gone before a pass reads it.
	bundle string
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

	lister      profiler.ListCache     // runtime state already parsed
	index       map[string]string      // content hash -> profile path
	files       []profFile             // the *.json files of the last walk of ProfilesDir
	over        int                    // files beyond MaxIndexedProfiles at the last walk
	dirs        []profFile             // directories the last walk entered
	indexBuilt  bool                   // index reflects files
	indexed     map[string]indexedFile // profile path -> what its last read gave
	badProfiles int                    // files under ProfilesDir skipped by the last index
	capWarned   bool

	installKeys    []profFile               // InstallFrom's files when last installed
	installOver    int                      // files beyond MaxIndexedProfiles then
	installErr     string                   // last error reading InstallFrom (logged once)
	sources        map[string]installSource // file under InstallFrom -> what installing it gave
	wanted         map[string]bool          // installed names InstallFrom holds; nil: unknown
	keptLogged     map[string]bool          // stale profiles in use, already logged
	installSkipped uint64                   // refused versions of files under InstallFrom

	store          storeSource                          // the cluster store's applied profiles (StoreLearner); nil: none
	storeWanted    map[string][]byte                    // its files at the last full pass; nil: not known yet
	storeKeys      map[string]fileVersion               // store files as written or checked
	storeInstalled uint64                               // files written from the store
	onGone         func(NodeContainer, *profiler.State) // StoreLearner: a forgotten container's last state

	pending   map[uint64]*pendingCgroup // held by the kernel, not matched yet
	goneAt    map[string]time.Time      // tracked containers found gone, when
	poke      chan struct{}             // a new cgroup or a held event: look now
	adopted   uint64                    // containers tracked since NewNode
	overflows uint64                    // pending overflows already reported
	lastPass  atomic.Int64              // unix nanos of the last finished Sync

	beforePass func() // tests: stall discovery (set before Run starts)
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
	if opts.PendingGrace <= 0 {
		opts.PendingGrace = 5 * time.Second
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	n := &Node{w: w, opts: opts, log: log, containers: map[string]*NodeContainer{},
		index: map[string]string{}, indexed: map[string]indexedFile{}, keptLogged: map[string]bool{},
		pending: map[uint64]*pendingCgroup{}, goneAt: map[string]time.Time{}, poke: make(chan struct{}, 1)}
	n.lastPass.Store(time.Now().UnixNano())
	return n
}

// Run calls Sync every Interval until ctx is done; it returns nil then. A
// failing pass is logged and retried at the next tick. While a held cgroup
// is unmatched it runs every few milliseconds, and at once when poked
// (NotePending, Poke).
func (n *Node) Run(ctx context.Context) error {
	t := time.NewTicker(n.opts.Interval)
	defer t.Stop()
	fast := time.NewTimer(fastPoll)
	defer fast.Stop()
	full := true
	for {
		if err := n.sync(full); err != nil {
			n.log.Warn("container discovery", "err", err)
		}
		var fastC <-chan time.Time
		if n.awaiting() {
			fast.Reset(fastPoll)
			fastC = fast.C
		}
		full = false
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			full = true
		case <-n.poke:
		case <-fastC:
		}
	}
}

// fastWindow is how long after its creation a held cgroup whose path names
// a container is looked for every fastPoll; later (or when its path names
// none) it waits for the regular passes, so a host making many cgroups does
// not keep discovery busy.
const fastWindow = time.Second

// awaiting reports whether a held cgroup that looks like a container is
// young enough to be looked for every fastPoll, or a container found gone
// waits for its last events.
func (n *Node) awaiting() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.goneAt) > 0 {
		return true // forget it as soon as its events are handled
	}
	for _, pc := range n.pending {
		if pc.container != "" && time.Since(pc.since) < fastWindow {
			return true
		}
	}
	return false
}

// NotePending records a cgroup the kernel holds from its creation
// (profiler.ReadNewCgroup) and makes Run look for its container at once.
func (n *Node) NotePending(c profiler.NewCgroup) {
	pc := &pendingCgroup{path: c.Path, since: time.Now()}
	// The runtime's state directory exists now, if ever: it is made
	// before the cgroup and removed after it.
	if ct := procinfo.ParseCgroupPath(c.Path); ct.ID != "" && (!ct.Ambiguous || profiler.InRoots(ct.ID, n.opts.Roots)) {
		pc.container = ct.ID
		pc.bundle, _ = profiler.RuntimeBundle(c.PID, ct.ID)
	}
	n.mu.Lock()
	if old, ok := n.pending[c.ID]; !ok || old.path == "" { // "": noted by sweepPending
		n.pending[c.ID] = pc
	}
	n.mu.Unlock()
	n.Poke()
}

// Poke makes Run make a pass now (a held cgroup ran something). It never
// blocks.
func (n *Node) Poke() {
	select {
	case n.poke <- struct{}{}:
	default:
	}
}

// LastPass is when the last discovery pass finished.
func (n *Node) LastPass() time.Time { return time.Unix(0, n.lastPass.Load()) }

// Adopted is how many containers the Node started tracking since NewNode
// (each counted once, however short it lived).
func (n *Node) Adopted() uint64 {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.adopted
}

// Sync makes one discovery pass: it refreshes the profile index if
// ProfilesDir changed, tracks containers not yet tracked (up to the cap)
// and untracks those that are gone.
func (n *Node) Sync() error { return n.sync(true) }

// sync is one pass; a quick one (looking for a held cgroup's container)
// refreshes the profile index only when it has a container to add.
func (n *Node) sync(full bool) error {
	if n.beforePass != nil {
		n.beforePass()
	}
	defer func() { n.lastPass.Store(time.Now().UnixNano()) }()
	indexed := false
	if full {
		n.installProfiles()
		n.installStore()
		n.refreshIndex()
		indexed = true
	}
	n.mu.Lock()
	byPath := make(map[string]uint64, len(n.pending))
	for id, pc := range n.pending {
		if pc.path != "" {
			byPath[pc.path] = id
		}
	}
	n.mu.Unlock()
	mnt, _ := cgroups.Mountpoint()
	live := n.lister.List(n.opts.Roots)
	seen := make(map[string]bool, len(live))
	var errs []error
	skipped := 0
	for _, c := range live {
		seen[c.ID] = true
		n.mu.Lock()
		old := n.containers[c.ID]
		count := len(n.containers)
		n.mu.Unlock()
		if old != nil && c.Unchanged && old.Cgroup == c.Cgroup {
			continue // same state file as last pass: same instance, same cgroup
		}
		id, err := cgroups.ID(c.Cgroup)
		if err != nil {
			// Gone while we looked; a held cgroup is matched by its path.
			rel := "/" + strings.TrimPrefix(strings.TrimPrefix(c.Cgroup, mnt), "/")
			if id = byPath[rel]; id == 0 || old != nil {
				continue
			}
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
		if !indexed { // a profile may have been installed just before it
			n.refreshIndex()
			indexed = true
		}
		if err := n.add(c, id); err != nil {
			errs = append(errs, err)
		}
	}
	// A container found gone is forgotten once the Watcher has handled
	// every event queued by then: a short-lived one's exec is still in the
	// ring buffer when its runtime state disappears.
	now, drained := time.Now(), n.w.Drained()
	n.mu.Lock()
	var gone []*NodeContainer
	for id, nc := range n.containers {
		if seen[id] {
			delete(n.goneAt, id)
			continue
		}
		at, ok := n.goneAt[id]
		if !ok {
			n.goneAt[id], at = now, now
		}
		if drained.After(at) {
			gone = append(gone, nc)
			delete(n.goneAt, id)
		}
	}
	n.skipped = skipped
	warn := skipped > 0 && !n.capWarned
	n.capWarned = skipped > 0
	n.mu.Unlock()
	n.settlePending(mnt)
	for _, nc := range gone {
		n.forget(nc)
	}
	if full {
		n.w.pruneHeld(2 * n.opts.PendingGrace)
		n.sweepPending()
		n.removeStale()
		n.removeStaleStore()
	}
	if warn {
		n.warnCap(skipped)
	}
	n.checkOverflow()
	return errors.Join(errs...)
}

// settlePending decides the held cgroups no live container matched: one
// still there waits up to PendingGrace, then is released; one that is gone
// is a container only if it ran something and its path names a container
// (pendingCgroup.container). Those
// are tracked as containers without a known profile, so what they did is
// judged and alerted on (they are forgotten at the next pass); the others
// are released.
func (n *Node) settlePending(mnt string) {
	type cand struct {
		id uint64
		pc *pendingCgroup
	}
	var todo []cand
	n.mu.Lock()
	for id, pc := range n.pending {
		if nc := n.byCgroupLocked(id); nc != nil {
			delete(n.pending, id) // matched by this pass
			continue
		}
		todo = append(todo, cand{id, pc})
	}
	n.mu.Unlock()
	for _, c := range todo {
		alive := c.pc.path == "" // unknown path (sweepPending): until PendingGrace
		if !alive {
			_, err := os.Stat(filepath.Join(mnt, c.pc.path))
			alive = err == nil
		}
		if alive && time.Since(c.pc.since) < n.opts.PendingGrace {
			continue
		}
		if !alive {
			// Its tasks ran before the directory could go: wait until
			// the Watcher has handled every event queued by then.
			n.mu.Lock()
			if c.pc.goneAt.IsZero() {
				c.pc.goneAt = time.Now()
			}
			goneAt := c.pc.goneAt
			n.mu.Unlock()
			if !n.w.Drained().After(goneAt) {
				continue
			}
		}
		n.mu.Lock()
		delete(n.pending, c.id)
		n.mu.Unlock()
		id := c.pc.container
		if alive {
			id = "" // no runtime of ours lists it: not ours to watch
		}
		if id == "" || n.w.Held(c.id) == 0 {
			if err := n.w.Release(c.id); err != nil {
				n.log.Warn("releasing pending cgroup", "cgroup", c.pc.path, "err", err)
			}
			continue
		}
		if c.pc.bundle == "" {
			n.log.Warn("container gone before its runtime state was read, bundle unknown: watched without its profile",
				"container", id, "cgroup", c.pc.path)
		}
		ct := &profiler.Container{ID: id, Cgroup: filepath.Join(mnt, c.pc.path), Bundle: c.pc.bundle, Seccomp: c.pc.bundle != ""}
		if err := n.add(ct, c.id); err != nil {
			n.log.Warn("container discovery", "err", err)
			_ = n.w.Release(c.id)
		}
	}
}

// sweepPending notes the kernel's holds this Node was never told about (a
// notice lost to a full ring buffer): without a path they cannot be matched
// by it, so they are released after PendingGrace like any unmatched one.
func (n *Node) sweepPending() {
	ids, err := n.w.prof.PendingIDs()
	if err != nil {
		return
	}
	now := time.Now()
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, id := range ids {
		if _, ok := n.pending[id]; !ok && n.byCgroupLocked(id) == nil {
			n.pending[id] = &pendingCgroup{since: now}
		}
	}
}

// byCgroupLocked is the tracked container of cgroup id, nil if none.
func (n *Node) byCgroupLocked(id uint64) *NodeContainer {
	for _, nc := range n.containers {
		if nc.CgroupID == id {
			return nc
		}
	}
	return nil
}

// checkOverflow raises an internal alert when new cgroups were not held
// because the kernel's pending map was full.
func (n *Node) checkOverflow() {
	st, err := n.w.prof.PendingStats()
	if err != nil {
		return
	}
	n.mu.Lock()
	prev := n.overflows
	n.overflows = st.Overflows
	n.mu.Unlock()
	if st.Overflows <= prev {
		return
	}
	msg := fmt.Sprintf("New cgroups not held from their creation: %d (%d in total); the pending map is full, so what those containers run before discovery finds them is not seen", st.Overflows-prev, st.Overflows)
	n.log.Warn(msg)
	if n.opts.Internal == nil {
		return
	}
	n.opts.Internal.Send(&detector.Alert{
		Time: time.Now(), Rule: PendingRule, Priority: detector.PriorityWarning, Source: "internal",
		Hostname: n.opts.Hostname, Output: msg,
		OutputFields: map[string]any{"sysward.pending_overflows": st.Overflows - prev, "sysward.pending_overflows_total": st.Overflows},
		Tags:         []string{"sysward", "internal"},
	})
}

// add tracks one container, held to its profile when one under ProfilesDir
// matches its linux.seccomp.
func (n *Node) add(c *profiler.Container, cgroupID uint64) error {
	nc := &NodeContainer{ID: c.ID, Cgroup: c.Cgroup, CgroupID: cgroupID, Mode: ModeWatch}
	// The runtime sets the container up before its filter is in: only
	// calls made under the filter belong to the workload (its seen set is
	// what the store learns), with or without a profile of ours.
	wl := Workload{Name: c.ID, ContainerID: c.ID, CgroupID: cgroupID, Mode: ModeWatch, Profile: unrestricted, WaitSeccomp: c.Seccomp}
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
			if nc.Mode == ModeComplain {
				wl.Profile = strictView(p)
			}
		} else {
			n.log.Warn("profile changed while loading", "profile", path, "err", err)
		}
	}
	if err := n.w.Add(wl); err != nil {
		return fmt.Errorf("container %s: %w", c.ID, err)
	}
	n.mu.Lock()
	n.containers[c.ID] = nc
	n.adopted++
	delete(n.pending, cgroupID)
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
	if n.onGone != nil {
		if st := n.w.finalState(nc.CgroupID); st != nil {
			n.onGone(*nc, st)
		}
	}
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

// strictView is p with its logging actions read as refusals: the profile
// a complain-mode file (SCMP_ACT_LOG where enforcement would refuse)
// stands for, so the calls it only logs are outside the watched set.
// (profiles.Allows counts SCMP_ACT_LOG as allowing: for the kernel it is.)
func strictView(p *profiles.Profile) *profiles.Profile {
	q := p.Clone()
	eperm := uint(1)
	if q.DefaultAction == specs.ActLog {
		q.DefaultAction, q.DefaultErrnoRet = specs.ActErrno, &eperm
	}
	for i := range q.Syscalls {
		if q.Syscalls[i].Action == specs.ActLog {
			q.Syscalls[i].Action, q.Syscalls[i].ErrnoRet = specs.ActErrno, &eperm
		}
	}
	return q
}

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

// maxBundleConfigSize bounds a bundle's config.json (untrusted: written by
// whoever created the container).
const maxBundleConfigSize = 16 << 20

// containerSeccomp reads linux.seccomp from the container's bundle
// config.json; nil when it has none or the bundle cannot be read.
func containerSeccomp(c *profiler.Container) *specs.LinuxSeccomp {
	if c.Bundle == "" || !c.Seccomp {
		return nil
	}
	raw, err := inputfile.Read(filepath.Join(c.Bundle, "config.json"), maxBundleConfigSize)
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
	key  fileVersion // statKey when it was read
	hash string      // its RuntimeHash; "" when it is not a usable profile
}

// fileVersion identifies a file's version for the index: type, size,
// modification time and inode of what path leads to (symlinks followed, so
// a retargeted link is re-read), or the error stat gave.
type fileVersion struct {
	mode      fs.FileMode
	size      int64
	mtime     int64
	ino       uint64
	statError string
}

// statKey is path's fileVersion. Stat never opens the file: a FIFO or a
// device costs nothing here.
func statKey(path string) fileVersion {
	fi, err := os.Stat(path)
	if err != nil {
		return fileVersion{statError: err.Error()}
	}
	return versionOf(fi)
}

func versionOf(fi fs.FileInfo) fileVersion {
	v := fileVersion{mode: fi.Mode(), size: fi.Size(), mtime: fi.ModTime().UnixNano()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		v.ino = st.Ino
	}
	return v
}

// profFile is a *.json file under ProfilesDir and its version.
type profFile struct {
	path string
	key  fileVersion
}

// racyWindow: a directory modified this recently may change again within
// the same timestamp tick, so its modification time does not prove it
// unchanged yet (git's "racily clean" entries).
const racyWindow = 2 * time.Second

// dirsUnchanged reports whether every directory the last walk of
// ProfilesDir entered still has the version it had then (and is not
// racily recent): no file was added, removed or renamed in any, so the
// walk's file list still holds and only the files need a stat.
func (n *Node) dirsUnchanged() bool {
	if len(n.dirs) == 0 {
		return false
	}
	now := time.Now().UnixNano()
	for _, d := range n.dirs {
		v := statKey(d.path)
		if v != d.key || now-v.mtime < int64(racyWindow) {
			return false
		}
	}
	return true
}

// refreshIndex rebuilds the hash index when a file under ProfilesDir was
// added, removed or changed (type, size, modification time or inode).
// While no directory under it changed, a pass stats the known files only
// (no directory is read), and allocates nothing.
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
	files, over := n.files, n.over
	if n.dirsUnchanged() {
		same := true
		for i := range files {
			if v := statKey(files[i].path); v != files[i].key {
				files[i].key, same = v, false
			}
		}
		if same {
			return
		}
	} else {
		files, over = nil, 0
		var dirs []profFile
		_ = filepath.WalkDir(n.opts.ProfilesDir, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return nil
			}
			if d.IsDir() {
				if fi, err := d.Info(); err == nil {
					dirs = append(dirs, profFile{path, versionOf(fi)})
				}
				return nil
			}
			if !strings.HasSuffix(d.Name(), ".json") {
				return nil
			}
			if len(files) >= MaxIndexedProfiles {
				over++
				return nil
			}
			files = append(files, profFile{path, statKey(path)})
			return nil
		})
		n.dirs = dirs
		if n.indexBuilt && slices.Equal(files, n.files) && over == n.over {
			n.files = files
			return
		}
	}
	n.files, n.over = files, over
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
	n.indexed, n.indexBuilt = indexed, true
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

// finalState is the kernel state Remove kept for cgroupID, nil if none.
func (w *Watcher) finalState(cgroupID uint64) *profiler.State {
	w.mu.Lock()
	defer w.mu.Unlock()
	if wl, ok := w.workloads[cgroupID]; ok {
		return wl.final
	}
	return nil
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
