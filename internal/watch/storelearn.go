package watch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"

	v1 "github.com/sysward/sysward/api/v1alpha1"
	"github.com/sysward/sysward/enforcer"
	"github.com/sysward/sysward/internal/kube"
	"github.com/sysward/sysward/internal/store"
	"github.com/sysward/sysward/profiler"
	"github.com/sysward/sysward/profiles"
)

// DefaultStoreInterval is how often a StoreLearner reports to the store.
const DefaultStoreInterval = 5 * time.Second

// StoreOptions configure learning into (and installing from) the cluster
// store.
type StoreOptions struct {
	// Config reaches the API (the agent's service account); a copy is
	// made, with a transport that counts the requests.
	Config *rest.Config
	// Pods resolves containers to pods; it must have LearnNamespaces on
	// for namespace marking.
	Pods *kube.Resolver
	// NodeName is this node's name (Delta.Node).
	NodeName string
	// Interval between reports (0: DefaultStoreInterval).
	Interval time.Duration
	// Logger (nil: discarded). Merges at debug, failures at warn.
	Logger *slog.Logger
}

// maxStoreAttempts is how many failed reports of a gone container's last
// calls are tried before they are dropped (with a warning).
const maxStoreAttempts = 12

// unresolvedGrace is how long a gone container whose pod was never known
// is kept, waiting for the pod informer.
const unresolvedGrace = 30 * time.Second

// StoreLearner reports what the node's marked containers do to their
// WorkloadProfiles, and gives the Node the store's applied profiles to
// install. Every Interval, for each tracked container whose pod or
// namespace carries sysward.io/learn=true (or that runs under a profile
// its WorkloadProfile applied), it reads the container's kernel state,
// keeps what is new since its last successful report with the time the
// agent first noticed it, and sends one merge per (workload, container)
// for all the replicas on this node. A failed merge keeps the calls for
// the next interval (backing off per object).
//
// NewStoreLearner attaches it to a Node; Run reports until ctx is done,
// then once more. Counters are safe from any goroutine.
type StoreLearner struct {
	opts   StoreOptions
	node   *Node
	log    *slog.Logger
	client *store.Client
	inf    cache.SharedIndexInformer

	mu   sync.Mutex
	ctrs map[string]*learnCtr // by container id
	keys map[store.Key]*keyBackoff

	fmu        sync.Mutex
	objs       map[types.UID]objFiles // validated Applied entries per object version
	refused    uint64
	overLogged map[string]int // applied files over a namespace's bounds, by namespace, at the last pass

	httpRequests atomic.Uint64
	merges       atomic.Uint64 // writes that changed an object
	mergeErrors  atomic.Uint64
	promotions   atomic.Uint64
	unresolved   atomic.Uint64 // gone containers whose pod never resolved

	badAnnotation map[types.UID]string // auto-promote annotations already logged as bad, by object version

	// onMerge, for tests and benchmarks, sees each successful merge.
	onMerge func(k store.Key, st store.MergeStats, deltas []*store.Delta)
}

type objFiles struct {
	rv    string
	files map[string][]byte
}

type keyBackoff struct {
	fails int
	next  time.Time
}

// setKind is which kernel set a call came from.
type setKind uint8

const (
	kindTraced   setKind = iota // Seen
	kindComplain                // Deviations that were not refused, under a complain profile
	kindDenied                  // Denied
	kindStatic                  // static hints of the container's executables
)

type noticeKey struct {
	kind setKind
	arch profiles.Arch
	nr   int
}

// learnCtr is what the learner keeps of one container.
type learnCtr struct {
	id       string
	cgroup   uint64
	info     kube.Container
	resolved bool
	reported [4]profiler.SyscallSet // sent successfully
	exes     map[[2]uint64]bool     // executables read for static hints (device, inode)
	exeOf    map[int]string         // the executable each pid had at the last static scan
	// uid is the object the reported calls went into: once the informer
	// no longer has it (deleted, or deleted and made again), the traced
	// calls are sent again.
	uid      types.UID
	noticed  map[noticeKey]time.Time
	final    *profiler.State // the container is gone: its last state
	goneAt   time.Time
	attempts int
	// from the last interval: whether it is reported and how
	marked, applied bool
	mode            string
}

// NewStoreLearner makes a StoreLearner for n and attaches it (n installs
// the store's applied profiles under ProfilesDir/sysward/<namespace>/ and
// hands it the last state of containers that go away). Call before n runs.
func NewStoreLearner(n *Node, opts StoreOptions) (*StoreLearner, error) {
	if opts.Config == nil || opts.Pods == nil {
		return nil, errors.New("store learner: Config and Pods are required")
	}
	if opts.Interval <= 0 {
		opts.Interval = DefaultStoreInterval
	}
	l := &StoreLearner{opts: opts, node: n, log: opts.Logger, ctrs: map[string]*learnCtr{},
		keys: map[store.Key]*keyBackoff{}, objs: map[types.UID]objFiles{}}
	if l.log == nil {
		l.log = slog.New(slog.DiscardHandler)
	}
	cfg := rest.CopyConfig(opts.Config)
	if cfg.QPS == 0 || cfg.QPS < 10 {
		// One merge per (workload, container) per interval: a busy
		// node's first interval may hold many.
		cfg.QPS, cfg.Burst = 10, 20
	}
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(r *http.Request) (*http.Response, error) {
			l.httpRequests.Add(1)
			return rt.RoundTrip(r)
		})
	})
	c, err := store.NewClient(cfg)
	if err != nil {
		return nil, err
	}
	l.client = c
	lw := cache.NewListWatchFromClient(c.Interface(), v1.Resource, metav1.NamespaceAll, fields.Everything())
	l.inf = cache.NewSharedIndexInformer(lw, &v1.WorkloadProfile{}, 0, cache.Indexers{})
	n.store = l
	n.onGone = l.gone
	return l, nil
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// Run starts the WorkloadProfile informer and reports every Interval until
// ctx is done; then it reports once more (at most 5 s), so what the
// containers did last is not lost when the agent stops.
func (l *StoreLearner) Run(ctx context.Context) {
	go l.inf.Run(ctx.Done())
	t := time.NewTicker(l.opts.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			l.Flush(fctx)
			cancel()
			return
		case <-t.C:
			l.Flush(ctx)
		}
	}
}

// Synced reports whether the WorkloadProfile informer made its first list.
func (l *StoreLearner) Synced() bool { return l.inf.HasSynced() }

// Client is the store client the learner writes with.
func (l *StoreLearner) Client() *store.Client { return l.client }

// cached returns the informer's copy of ns/name (not to be modified).
func (l *StoreLearner) cached(ns, name string) *v1.WorkloadProfile {
	o, ok, err := l.inf.GetStore().GetByKey(ns + "/" + name)
	if err != nil || !ok {
		return nil
	}
	wp, _ := o.(*v1.WorkloadProfile)
	return wp
}

// gone takes the last kernel state of a container the Node forgets.
func (l *StoreLearner) gone(nc NodeContainer, st *profiler.State) {
	l.mu.Lock()
	defer l.mu.Unlock()
	lc := l.ctrs[nc.ID]
	if lc == nil {
		lc = &learnCtr{id: nc.ID, cgroup: nc.CgroupID, noticed: map[noticeKey]time.Time{}, mode: nc.Mode}
		l.ctrs[nc.ID] = lc
	}
	lc.final, lc.goneAt = st, time.Now()
}

// keyOf is the store key of a resolved container; false for a workload
// kind the CRD does not name.
func keyOf(c kube.Container) (store.Key, bool) {
	parts := strings.SplitN(c.Workload, "/", 3)
	if len(parts) != 3 || c.Name == "" {
		return store.Key{}, false
	}
	switch parts[1] {
	case "deployment", "statefulset", "daemonset", "cronjob", "job", "replicaset", "pod":
	default:
		return store.Key{}, false
	}
	return store.Key{Namespace: parts[0], Kind: parts[1], Workload: parts[2], Container: c.Name}, true
}

// applied reports whether nc runs under a profile the store installed for
// its namespace and its WorkloadProfile exists.
func (l *StoreLearner) applied(k store.Key, nc *NodeContainer) bool {
	if nc.Mode == ModeWatch || nc.Profile == "" || l.node.opts.ProfilesDir == "" {
		return false
	}
	dir := filepath.Join(l.node.opts.ProfilesDir, enforcer.KubeletSubdir, k.Namespace) + "/"
	if !strings.HasPrefix(nc.Profile, dir) {
		return false
	}
	return l.cached(k.Namespace, k.Name()) != nil
}

// notice records the calls of st not reported yet, with the time first
// noticed.
func (lc *learnCtr) notice(st *profiler.State, now time.Time) {
	note := func(kind setKind, s *profiler.SyscallSet, skip *profiler.SyscallSet) {
		for _, a := range s.Arches() {
			for _, nr := range s.Numbers(a) {
				if lc.reported[kind].Has(a, nr) || (skip != nil && skip.Has(a, nr)) {
					continue
				}
				k := noticeKey{kind, a, nr}
				if _, ok := lc.noticed[k]; !ok {
					lc.noticed[k] = now
				}
			}
		}
	}
	if lc.marked {
		note(kindTraced, &st.Seen, nil)
	}
	if lc.mode == ModeComplain {
		note(kindComplain, &st.Deviations, &st.Denied)
	}
	note(kindDenied, &st.Denied, nil)
}

// delta is the container's unreported calls as a store.Delta (nil when
// none), and the notices it carries.
func (lc *learnCtr) delta(k store.Key, node string) (*store.Delta, []noticeKey) {
	if len(lc.noticed) == 0 {
		return nil, nil
	}
	d := &store.Delta{Key: k, Image: lc.info.Image, PodCreated: lc.info.PodCreated, Pod: lc.info.Pod, Node: node}
	var carried []noticeKey
	for nk, at := range lc.noticed {
		name, ok := profiles.SyscallName(nk.arch, nk.nr)
		if !ok {
			carried = append(carried, nk) // not a syscall we can name: drop it
			continue
		}
		var m *map[string]store.Seen
		switch nk.kind {
		case kindTraced:
			m = &d.Traced
		case kindComplain:
			m = &d.Complain
		case kindStatic:
			m = &d.Static
		default:
			m = &d.Denied
		}
		if *m == nil {
			*m = map[string]store.Seen{}
		}
		s := (*m)[name]
		if s.First.IsZero() || at.Before(s.First) {
			s.First = at
		}
		if !containsArch(s.Arches, string(nk.arch)) {
			s.Arches = append(s.Arches, string(nk.arch))
			sort.Strings(s.Arches)
		}
		(*m)[name] = s
		carried = append(carried, nk)
	}
	return d, carried
}

func containsArch(list []string, a string) bool {
	for _, x := range list {
		if x == a {
			return true
		}
	}
	return false
}

// commit marks carried notices as reported.
func (lc *learnCtr) commit(carried []noticeKey) {
	for _, nk := range carried {
		lc.reported[nk.kind].Add(nk.arch, nk.nr)
		delete(lc.noticed, nk)
	}
}

type pendingMerge struct {
	key     store.Key
	deltas  []*store.Delta
	ctrs    []*learnCtr
	carried [][]noticeKey
}

// Flush makes one report: the new calls of every reported container,
// one merge per (workload, container).
func (l *StoreLearner) Flush(ctx context.Context) {
	now := time.Now()
	live := l.node.Containers()
	byKey := map[store.Key]*pendingMerge{}
	add := func(k store.Key, lc *learnCtr) {
		d, carried := lc.delta(k, l.opts.NodeName)
		if d == nil {
			return
		}
		pm := byKey[k]
		if pm == nil {
			pm = &pendingMerge{key: k}
			byKey[k] = pm
		}
		pm.deltas, pm.ctrs, pm.carried = append(pm.deltas, d), append(pm.ctrs, lc), append(pm.carried, carried)
	}
	reported := map[store.Key]bool{}
	l.mu.Lock()
	seen := make(map[string]bool, len(live))
	for i := range live {
		nc := &live[i]
		seen[nc.ID] = true
		lc := l.ctrs[nc.ID]
		if lc == nil || lc.cgroup != nc.CgroupID {
			lc = &learnCtr{id: nc.ID, cgroup: nc.CgroupID, noticed: map[noticeKey]time.Time{}}
			l.ctrs[nc.ID] = lc
		}
		if lc.final != nil {
			continue // forgotten by the Node meanwhile
		}
		lc.mode = nc.Mode
		if info, ok := l.opts.Pods.Lookup(nc.ID); ok {
			lc.info, lc.resolved = info, true
		}
		if !lc.resolved {
			continue
		}
		k, ok := keyOf(lc.info)
		if !ok {
			continue
		}
		lc.marked = l.opts.Pods.Marked(lc.info)
		lc.applied = l.applied(k, nc)
		if !lc.marked && !lc.applied {
			clear(lc.noticed)
			continue
		}
		reported[k] = true
		l.checkObject(k, lc)
		st, err := l.node.w.prof.State(nc.CgroupID)
		if err != nil {
			continue // gone meanwhile: its final state comes through gone
		}
		lc.notice(st, now)
		if lc.marked {
			lc.scanStatic(nc.Cgroup, now, l.log)
		}
		add(k, lc)
	}
	var drop []string
	for id, lc := range l.ctrs {
		if lc.final == nil {
			if !seen[id] {
				drop = append(drop, id) // untracked without a final state
			}
			continue
		}
		if !lc.resolved {
			if info, ok := l.opts.Pods.Lookup(id); ok {
				lc.info, lc.resolved = info, true
				lc.marked = l.opts.Pods.Marked(info)
			}
		}
		k, ok := keyOf(lc.info)
		switch {
		case !lc.resolved && now.Sub(lc.goneAt) > unresolvedGrace:
			l.unresolved.Add(1)
			drop = append(drop, id)
			continue
		case !lc.resolved || !ok || (!lc.marked && !lc.applied):
			if lc.resolved {
				drop = append(drop, id)
			}
			continue
		}
		l.checkObject(k, lc)
		lc.notice(lc.final, now)
		if len(lc.noticed) == 0 || lc.attempts >= maxStoreAttempts {
			if lc.attempts >= maxStoreAttempts {
				l.log.Warn("store: dropping the last calls of a gone container after repeated failures", "container", id, "object", k.String())
			}
			drop = append(drop, id)
			continue
		}
		add(k, lc)
	}
	for _, id := range drop {
		delete(l.ctrs, id)
	}
	l.mu.Unlock()

	keys := make([]store.Key, 0, len(byKey))
	for k := range byKey {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].String() < keys[j].String() })
	for _, k := range keys {
		if b := l.keys[k]; b != nil && now.Before(b.next) {
			continue
		}
		if ctx.Err() != nil {
			return
		}
		l.merge(ctx, byKey[k], now)
	}
	promote := make([]store.Key, 0, len(reported))
	for k := range reported {
		promote = append(promote, k)
	}
	sort.Slice(promote, func(i, j int) bool { return promote[i].String() < promote[j].String() })
	l.autoPromote(ctx, promote, now)
}

// checkObject forgets which traced calls (and static hints) lc reported when the object
// they went into is gone from the informer: someone deleted it (to learn
// again, or by mistake), and the calls a running container made before
// would otherwise never reach the object that replaces it (each call is
// sent once). Deviations are not sent again (they are counts).
func (l *StoreLearner) checkObject(k store.Key, lc *learnCtr) {
	if lc.uid == "" {
		return
	}
	if wp := l.cached(k.Namespace, k.Name()); wp == nil || wp.UID != lc.uid {
		lc.reported[kindTraced] = profiler.SyscallSet{}
		// And the static hints: the executables are read again.
		lc.reported[kindStatic] = profiler.SyscallSet{}
		lc.exes = nil
		lc.uid = ""
	}
}

// merge sends one key's deltas in one optimistic update, the informer's
// copy as the first read.
func (l *StoreLearner) merge(ctx context.Context, pm *pendingMerge, now time.Time) {
	// Older pods first: a rolled pod's new image then drifts after the
	// old replicas' report, and theirs after it is dropped as stale.
	sort.SliceStable(pm.deltas, func(i, j int) bool {
		return pm.deltas[i].PodCreated.Before(pm.deltas[j].PodCreated)
	})
	name := pm.key.Name()
	mctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var res store.Result
	out, st, err := l.client.Modify(mctx, pm.key.Namespace, name, l.cached(pm.key.Namespace, name),
		func() *v1.WorkloadProfile { return store.New(pm.key, now) },
		func(wp *v1.WorkloadProfile) error {
			res = store.Result{}
			for _, d := range pm.deltas {
				r, err := store.Apply(wp, d, now)
				if err != nil {
					return err
				}
				res.Changed = res.Changed || r.Changed
				res.Drift = res.Drift || r.Drift
				res.New = append(res.New, r.New...)
			}
			if !res.Changed {
				return store.ErrNoChange
			}
			return nil
		})
	st.Result = res
	if err != nil {
		l.mergeErrors.Add(1)
		b := l.keys[pm.key]
		if b == nil {
			b = &keyBackoff{}
			l.keys[pm.key] = b
		}
		b.fails++
		l.mu.Lock()
		for _, lc := range pm.ctrs {
			if lc.final != nil {
				lc.attempts++ // a gone container's calls are tried maxStoreAttempts times
			}
		}
		l.mu.Unlock()
		wait := l.opts.Interval << min(b.fails-1, 4) // up to 16 intervals
		b.next = now.Add(wait - l.opts.Interval/2)
		l.log.Warn("store: merge failed, kept for a later report", "object", pm.key.Namespace+"/"+name, "replicas", len(pm.deltas), "retry_in", wait, "err", err)
		return
	}
	delete(l.keys, pm.key)
	if out == nil { // nothing to write: the first read held it all
		out = l.cached(pm.key.Namespace, name)
	}
	l.mu.Lock()
	for i, lc := range pm.ctrs {
		lc.commit(pm.carried[i])
		lc.attempts = 0
		if out != nil {
			lc.uid = out.UID
		}
	}
	l.mu.Unlock()
	if res.Changed {
		l.merges.Add(1)
	}
	l.log.Debug("store: merged", "object", pm.key.Namespace+"/"+name, "replicas", len(pm.deltas), "new", res.New,
		"drift", res.Drift, "changed", res.Changed, "requests", st.Requests, "conflicts", st.Conflicts)
	if l.onMerge != nil {
		l.onMerge(pm.key, st, pm.deltas)
	}
}

// wantedFiles is the Node's view of the store (storeSource): every
// object's Applied entries that pass storeEntryFile, within the
// per-namespace bounds (filesOf). An object is checked again only when its
// resourceVersion changes; refusals are counted and logged once per
// object version.
func (l *StoreLearner) wantedFiles() (map[string][]byte, bool) {
	if !l.inf.HasSynced() {
		return nil, false
	}
	return l.filesOf(l.inf.GetStore().List()), true
}

// Bounds of what one namespace's WorkloadProfiles install on every node:
// whoever may create them in a namespace could otherwise fill the
// kubelet's disk on every node (each object is bounded, their number is
// not). Objects are taken in name order, so the same files are kept on
// every pass and every node; only that namespace's profiles are refused.
// Variables for the tests.
var (
	maxStoreNamespaceFiles = 2048
	maxStoreNamespaceBytes = 64 << 20
)

// filesOf is wantedFiles of the objects objs (the informer's list).
func (l *StoreLearner) filesOf(objs []any) map[string][]byte {
	wps := make([]*v1.WorkloadProfile, 0, len(objs))
	for _, o := range objs {
		if wp, ok := o.(*v1.WorkloadProfile); ok {
			wps = append(wps, wp)
		}
	}
	sort.Slice(wps, func(i, j int) bool {
		if wps[i].Namespace != wps[j].Namespace {
			return wps[i].Namespace < wps[j].Namespace
		}
		return wps[i].Name < wps[j].Name
	})
	l.fmu.Lock()
	defer l.fmu.Unlock()
	out := map[string][]byte{}
	live := make(map[types.UID]bool, len(wps))
	type usage struct{ files, bytes int }
	used := map[string]*usage{}
	over := map[string]int{}
	for _, wp := range wps {
		live[wp.UID] = true
		of, ok := l.objs[wp.UID]
		if !ok || of.rv != wp.ResourceVersion {
			of = objFiles{rv: wp.ResourceVersion, files: map[string][]byte{}}
			for i := range wp.Status.Applied {
				if i >= v1.MaxApplied {
					break
				}
				rel, data, err := storeEntryFile(wp.Namespace, &wp.Status.Applied[i])
				if err != nil {
					l.refused++
					l.log.Warn("store: refusing an applied profile", "object", wp.Namespace+"/"+wp.Name, "entry", i, "err", err)
					continue
				}
				of.files[rel] = data
			}
			l.objs[wp.UID] = of
		}
		u := used[wp.Namespace]
		if u == nil {
			u = &usage{}
			used[wp.Namespace] = u
		}
		rels := make([]string, 0, len(of.files))
		for rel := range of.files {
			rels = append(rels, rel)
		}
		sort.Strings(rels)
		for _, rel := range rels {
			data := of.files[rel]
			if _, dup := out[rel]; dup {
				continue // named by an earlier object too: the first one's
			}
			if u.files+1 > maxStoreNamespaceFiles || u.bytes+len(data) > maxStoreNamespaceBytes {
				over[wp.Namespace]++
				continue
			}
			u.files, u.bytes = u.files+1, u.bytes+len(data)
			out[rel] = data
		}
	}
	for uid := range l.objs {
		if !live[uid] {
			delete(l.objs, uid)
		}
	}
	for ns, n := range over {
		if l.overLogged[ns] != n {
			l.refused += uint64(n)
			l.log.Warn("store: a namespace's applied profiles are over the bound, not all installed", "namespace", ns, "not_installed", n,
				"max_files", maxStoreNamespaceFiles, "max_bytes", maxStoreNamespaceBytes)
		}
	}
	l.overLogged = over
	return out
}

// StoreStats are a StoreLearner's counters.
type StoreStats struct {
	// Requests are HTTP requests to the apiserver (informer list and
	// watch included); Conflicts are updates refused for a stale
	// resourceVersion.
	Requests, Conflicts uint64
	// Merges are writes that changed an object; MergeErrors failed
	// reports (kept and retried).
	Merges, MergeErrors uint64
	// Installed profile files written from the store; Refused applied
	// entries not installed (bad path, content or hash, or over their
	// namespace's bound).
	Installed, Refused uint64
	// Promotions made by the auto-promote annotation.
	Promotions uint64
}

// Stats returns the counters.
func (l *StoreLearner) Stats() StoreStats {
	l.fmu.Lock()
	refused := l.refused
	l.fmu.Unlock()
	return StoreStats{Requests: l.httpRequests.Load(), Conflicts: l.client.Conflicts(), Merges: l.merges.Load(),
		MergeErrors: l.mergeErrors.Load(), Installed: l.node.StoreInstalled(), Refused: refused, Promotions: l.promotions.Load()}
}

func (s StoreStats) String() string {
	return fmt.Sprintf("store: %d merges, %d requests, %d conflicts, %d failed reports; profiles from the store: %d installed, %d refused, %d auto-promotions",
		s.Merges, s.Requests, s.Conflicts, s.MergeErrors, s.Installed, s.Refused, s.Promotions)
}

// autoPromote promotes, from Complain to Enforcing, the objects of this
// node's reported containers that carry sysward.io/auto-promote=<window>
// and that store.Promote accepts: no new syscall, no complain-mode
// deviation and no phase change within the window. The informer's copy
// decides whether to try (no request otherwise); the write re-checks on
// the object it updates, so agents on several nodes promote once (the
// others find it Enforcing). A bad annotation is logged once per object
// version. The pods keep their complain profile until `sysward k8s apply
// --mode enforce` rolls them.
func (l *StoreLearner) autoPromote(ctx context.Context, keys []store.Key, now time.Time) {
	for _, k := range keys {
		if ctx.Err() != nil {
			return
		}
		wp := l.cached(k.Namespace, k.Name())
		if wp == nil || wp.Status.Phase != v1.PhaseComplain {
			continue
		}
		window, ok, err := store.AutoPromoteWindow(wp)
		if err != nil {
			if l.badAnnotation[wp.UID] != wp.ResourceVersion {
				if l.badAnnotation == nil {
					l.badAnnotation = map[types.UID]string{}
				}
				l.badAnnotation[wp.UID] = wp.ResourceVersion
				l.log.Warn("store: not promoting automatically", "err", err)
			}
			continue
		}
		if !ok || store.Promote(wp.DeepCopy(), window, now) != nil {
			continue
		}
		mctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		out, _, err := l.client.Modify(mctx, k.Namespace, k.Name(), wp, nil, func(cur *v1.WorkloadProfile) error {
			w, ok, err := store.AutoPromoteWindow(cur)
			if err != nil || !ok || cur.Status.Phase != v1.PhaseComplain {
				return store.ErrNoChange
			}
			if err := store.Promote(cur, w, now); err != nil {
				return store.ErrNoChange
			}
			window = w
			return nil
		})
		cancel()
		if err != nil {
			l.log.Warn("store: automatic promotion failed", "object", k.Namespace+"/"+k.Name(), "err", err)
			continue
		}
		if out != nil { // written: this agent promoted it
			l.promotions.Add(1)
			l.log.Info("store: promoted to Enforcing by its annotation", "object", k.Namespace+"/"+k.Name(), "window", window,
				"next", "sysward k8s apply "+k.Kind+"/"+k.Workload+" -n "+k.Namespace+" --mode enforce")
		}
	}
}

// metrics are the learner's Prometheus counters (sysward_store_*).
func (l *StoreLearner) metrics() []prometheus.Collector {
	c := func(name, help string, f func(StoreStats) uint64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 { return float64(f(l.Stats())) })
	}
	return []prometheus.Collector{
		c("sysward_store_requests_total", "HTTP requests to the apiserver for WorkloadProfiles (informer list and watch included).", func(s StoreStats) uint64 { return s.Requests }),
		c("sysward_store_conflicts_total", "WorkloadProfile updates refused for a stale resourceVersion (retried).", func(s StoreStats) uint64 { return s.Conflicts }),
		c("sysward_store_merges_total", "WorkloadProfile writes that added what this node saw.", func(s StoreStats) uint64 { return s.Merges }),
		c("sysward_store_merge_errors_total", "Failed reports to the store (the calls are kept and sent again).", func(s StoreStats) uint64 { return s.MergeErrors }),
		c("sysward_store_profiles_installed_total", "Profile files written from WorkloadProfiles' applied entries.", func(s StoreStats) uint64 { return s.Installed }),
		c("sysward_store_profiles_refused_total", "Applied entries refused: path outside sysward/<namespace>/, bad content, size or hash, or over their namespace's bound.", func(s StoreStats) uint64 { return s.Refused }),
		c("sysward_store_promotions_total", "WorkloadProfiles promoted to Enforcing by the auto-promote annotation.", func(s StoreStats) uint64 { return s.Promotions }),
	}
}
