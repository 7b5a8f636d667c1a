// Package store keeps learned profiles in the cluster: WorkloadProfile
// objects (api/v1alpha1), one per (workload, container), that every node
// agent merges into with optimistic concurrency and that `sysward k8s`
// reads and moves through its phases.
//
// The merge (Apply) is a pure function of the object and a Delta: syscall
// sets are united, first-seen times keep the earliest, replica and node
// sets are united, so applying deltas in any order, or one delta again
// after a conflict, ends in the same syscall set. Client.Merge wraps it in
// the read, apply, update-with-resourceVersion, retry-on-conflict loop.
package store

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"

	v1 "github.com/sysward/sysward/api/v1alpha1"
	"github.com/sysward/sysward/internal/version"
	"github.com/sysward/sysward/profiler"
	"github.com/sysward/sysward/profiles"
)

// Key names one container of one workload.
type Key struct {
	Namespace string
	// Kind is lowercase: deployment, statefulset, daemonset, cronjob,
	// job, replicaset, pod.
	Kind      string
	Workload  string
	Container string
}

func (k Key) String() string {
	return k.Namespace + "/" + k.Kind + "/" + k.Workload + "/" + k.Container
}

var notName = regexp.MustCompile(`[^a-z0-9.-]+`)

// Name is the object name for k: "<kind>.<workload>.<container>". Kinds
// and container names (DNS labels) hold no dot, so the name says which
// key it is for every key the apiserver's own names can make: the kind
// ends at the first dot, the container starts after the last. A key that
// is not made of such names (upper case, other characters, a dot in the
// container, a name over 253 characters) is lowercased, its other
// characters replaced by '-', dots by '-' in the container, cut to fit a
// DNS subdomain and ended by a hash of the whole key, so two keys never
// share a name.
func (k Key) Name() string {
	plain := k.Kind + "." + k.Workload + "." + k.Container
	if len(plain) <= 253 && len(validation.IsDNS1123Subdomain(plain)) == 0 &&
		!strings.Contains(k.Kind, ".") && !strings.Contains(k.Container, ".") && k.Kind != "" && k.Workload != "" && k.Container != "" {
		return plain
	}
	clean := func(s string) string {
		s = strings.Trim(notName.ReplaceAllString(strings.ToLower(s), "-"), "-.")
		s = strings.ReplaceAll(s, "..", "-")
		return s
	}
	s := strings.ReplaceAll(clean(k.Kind), ".", "-") + "." + clean(k.Workload) + "." + strings.ReplaceAll(clean(k.Container), ".", "-")
	// Length-prefixed, so no two keys hash the same input.
	sum := sha256.Sum256(fmt.Appendf(nil, "%d:%s%d:%s%d:%s", len(k.Kind), k.Kind, len(k.Workload), k.Workload, len(k.Container), k.Container))
	h := hex.EncodeToString(sum[:])[:10]
	if len(s) > 242 {
		s = s[:242]
	}
	// Every label must start and end with a letter or digit.
	s = strings.Trim(strings.NewReplacer(".-", ".", "-.", ".", "..", ".").Replace(s), "-.")
	for strings.Contains(s, "..") || strings.Contains(s, ".-") || strings.Contains(s, "-.") {
		s = strings.NewReplacer(".-", ".", "-.", ".", "..", ".").Replace(s)
	}
	if s == "" {
		return "wp-" + h
	}
	return s + "-" + h
}

// Seen is one syscall in a Delta.
type Seen struct {
	// Arches are OCI names (SCMP_ARCH_X86_64, ...).
	Arches []string
	// First is when the reporting node first saw it.
	First time.Time
}

// Delta is what one node saw of one container since its last report.
type Delta struct {
	Key Key
	// Image is the container's image (the pod spec's); a new one starts a
	// new profile version (drift).
	Image string
	// PodCreated is the pod's creation time: a pod running an earlier
	// version's image that was created after the current version began is
	// a rollback; one created before is a replica not rolled yet, whose
	// report is dropped.
	PodCreated time.Time
	Pod, Node  string
	// Traced are syscalls made (the Learning phase records them).
	Traced map[string]Seen
	// Complain are calls outside the applied complain profile (absorbed
	// in the Complain phase, counted as deviations).
	Complain map[string]Seen
	// Denied are calls an enforce profile refused (counted as
	// deviations, never absorbed).
	Denied map[string]Seen
	// Static are calls the container's executables can make that a small
	// learning load may never show (their imports from glibc, read by
	// package elfhints; dangerous ones left out by the reporter): the
	// Learning phase records them with the source "static".
	Static map[string]Seen
}

// Empty reports whether d carries no syscall.
func (d *Delta) Empty() bool {
	return len(d.Traced)+len(d.Complain)+len(d.Denied)+len(d.Static) == 0
}

// Result says what Apply did.
type Result struct {
	// Changed is false when the object already held everything.
	Changed bool
	// New are syscalls the version did not hold before, sorted.
	New []string
	// Drift is true when the delta's image started a new version.
	Drift bool
	// Dropped is true when the delta was for an older version's image
	// from a pod that is not a rollback.
	Dropped bool
	// Skipped counts syscalls of the delta not stored: a name no syscall
	// table knows, or the version already holding MaxSyscalls.
	Skipped int
}

// ErrKey is returned when a delta does not belong to the object.
var ErrKey = errors.New("delta for another workload or container")

// New returns a fresh object for k, in Learning.
func New(k Key, now time.Time) *v1.WorkloadProfile {
	wp := &v1.WorkloadProfile{}
	wp.APIVersion = v1.SchemeGroupVersion.String()
	wp.Kind = v1.Kind
	wp.Namespace, wp.Name = k.Namespace, k.Name()
	wp.Spec.Workload = v1.WorkloadRef{Kind: k.Kind, Name: k.Workload}
	wp.Spec.Container = k.Container
	t := metav1.NewTime(now.UTC().Truncate(time.Second))
	wp.Status.Phase, wp.Status.Version, wp.Status.Since, wp.Status.PhaseSince = v1.PhaseLearning, 1, &t, &t
	return wp
}

// Apply merges d into wp in place. In Learning, Traced syscalls join the
// set (and Static ones, but never a dangerous one, source "static"); in Complain, Complain syscalls join it (source "complain") and count
// as deviations; in Enforcing, Denied (and Complain) calls count as
// deviations only. Replicas and nodes are united in every phase. A delta
// whose image differs from the version's starts a new version (Learning)
// unless it is from an earlier version's image and its pod is not newer
// than the current version (Result.Dropped).
//
// For the syscall set Apply is a union: deltas applied in any order, any of
// them again, end in the same Syscalls with the same first-seen times
// (the earliest; the first pod and node of a tie are the least by name).
// Replicas and Nodes keep the MaxReplicas and MaxNodes least names seen,
// also independent of the order. Deviations are counts: a delta applied
// twice counts twice (Client.Merge applies each delta to one read of the
// object per attempt, so a retry does not).
//
// wp may come from the API, written by anyone who can write the object:
// whatever it holds, Apply does not panic, and what it writes back keeps
// to the bounds the CRD schema enforces. Times are clamped to now (a zero
// or future first-seen is now); names longer than a DNS subdomain are not
// kept as replicas or nodes; an image over 1024 bytes is cut and ended by
// its hash.
func Apply(wp *v1.WorkloadProfile, d *Delta, now time.Time) (Result, error) {
	var r Result
	if wp.Spec.Workload.Kind != d.Key.Kind || wp.Spec.Workload.Name != d.Key.Workload || wp.Spec.Container != d.Key.Container {
		return r, fmt.Errorf("%w: object %s/%s is %s/%s/%s, delta %s", ErrKey, wp.Namespace, wp.Name,
			wp.Spec.Workload.Kind, wp.Spec.Workload.Name, wp.Spec.Container, d.Key)
	}
	st := &wp.Status
	normalize(st, now)
	if st.Phase == "" {
		st.Phase, st.Version = v1.PhaseLearning, max(st.Version, 1)
	}
	image := boundImage(d.Image)
	if image != "" && st.Image != "" && image != st.Image {
		since := time.Time{}
		if st.Since != nil {
			since = st.Since.Time
		}
		if retiredImage(st, image) && !d.PodCreated.After(since) {
			r.Dropped = true
			return r, nil
		}
		retire(st, now)
		r.Drift, r.Changed = true, true
	}
	if st.Image == "" && image != "" {
		st.Image, r.Changed = image, true
	}
	if d.Pod != "" && len(d.Pod) <= maxName {
		var ch bool
		st.Replicas, st.ReplicaCount, ch = addName(st.Replicas, st.ReplicaCount, d.Pod, v1.MaxReplicas)
		r.Changed = r.Changed || ch
	}
	if d.Node != "" && len(d.Node) <= maxName {
		var ch bool
		st.Nodes, st.NodeCount, ch = addName(st.Nodes, st.NodeCount, d.Node, v1.MaxNodes)
		r.Changed = r.Changed || ch
	}
	pod, node := d.Pod, d.Node
	if len(pod) > maxName {
		pod = ""
	}
	if len(node) > maxName {
		node = ""
	}
	if st.Syscalls == nil {
		st.Syscalls = map[string]v1.Syscall{}
	}
	absorb := func(m map[string]Seen, source string) {
		for _, name := range sortedNames(m) {
			if !profiles.KnownSyscall(name) {
				r.Skipped++
				continue
			}
			s := m[name]
			isNew, changed, stored := addSyscall(st, name, s, source, pod, node, now)
			if !stored {
				r.Skipped++
			}
			if isNew {
				r.New = append(r.New, name)
			}
			r.Changed = r.Changed || changed
		}
	}
	switch st.Phase {
	case v1.PhaseLearning:
		absorb(d.Traced, profiles.SourceTraced)
		// A pod of a learning workload may still run under an older
		// applied profile: what it made outside is learned too.
		absorb(d.Complain, profiles.SourceTraced)
		// Never a dangerous one: the reporter leaves them out, and Apply
		// too (the object may be written by anyone who can write it, but
		// a delta comes from an agent; this is the agent's bound).
		static := make(map[string]Seen, len(d.Static))
		for name, s := range d.Static {
			if _, bad := profiles.DangerousSyscalls[name]; !bad {
				static[name] = s
			}
		}
		absorb(static, profiles.KindStatic)
	case v1.PhaseComplain:
		for _, name := range sortedNames(d.Complain) {
			if !profiles.KnownSyscall(name) {
				continue
			}
			_, held := st.Syscalls[name]
			deviation(st, name, clampTime(d.Complain[name].First, now), pod, node, v1.ModeComplain, !held)
			r.Changed = true
		}
		absorb(d.Complain, profiles.SourceComplain)
	case v1.PhaseEnforcing:
		// Pods still under the complain profile (promoted, not yet
		// rolled by apply --mode enforce): a call outside it would be
		// refused once they are; the frozen profile does not absorb it.
		for _, name := range sortedNames(d.Complain) {
			if !profiles.KnownSyscall(name) {
				continue
			}
			deviation(st, name, clampTime(d.Complain[name].First, now), pod, node, v1.ModeComplain, false)
			r.Changed = true
		}
	}
	// A refusal is a deviation in every phase (a pod may still run
	// under an enforce profile while its workload learns a new image).
	for _, name := range sortedNames(d.Denied) {
		if !profiles.KnownSyscall(name) {
			continue
		}
		deviation(st, name, clampTime(d.Denied[name].First, now), pod, node, v1.ModeEnforce, false)
		r.Changed = true
	}
	if r.Changed {
		if err := Rebuild(wp); err != nil {
			return r, err
		}
	}
	return r, nil
}

// maxName is the longest pod or node name kept: a DNS subdomain.
const maxName = 253

// boundImage returns image, or when it is longer than the schema allows,
// its first bytes and a hash of the whole (so two long images still
// differ).
func boundImage(image string) string {
	const limit = 1024
	if len(image) <= limit {
		return image
	}
	sum := sha256.Sum256([]byte(image))
	return image[:limit-17] + "#" + hex.EncodeToString(sum[:8])
}

// clampTime returns t truncated to the second, or now when t is zero or
// after now (a node's clock ahead of the writer's, or a hostile report):
// first-seen times decide promotion windows, a future one would hold it
// off forever.
func clampTime(t, now time.Time) metav1.Time {
	if t.IsZero() || t.After(now) || t.Year() < 1970 {
		t = now
	}
	return metav1.NewTime(t.UTC().Truncate(time.Second))
}

// normalize makes an object read from the API keep the invariants Apply
// relies on, whoever wrote it: Replicas and Nodes sorted, unique, within
// their bounds and no shorter than their counts say; Syscalls within
// MaxSyscalls (unknown names dropped first); lists within their bounds;
// counters not negative; first-seen times not after now (a future one
// would keep LastNewSyscall ahead, holding a promotion off for ever).
func normalize(st *v1.WorkloadProfileStatus, now time.Time) {
	fixNames := func(list []string, count int32, limit int) ([]string, int32) {
		out := list[:0:0]
		for _, n := range list {
			if n != "" && len(n) <= maxName {
				out = append(out, n)
			}
		}
		slices.Sort(out)
		out = slices.Compact(out)
		if len(out) > limit {
			out, count = out[:limit], max(count, int32(limit)+1)
		}
		if count < int32(len(out)) {
			count = int32(len(out))
		}
		if count > int32(limit)+1 {
			count = int32(limit) + 1
		}
		return out, count
	}
	st.Replicas, st.ReplicaCount = fixNames(st.Replicas, st.ReplicaCount, v1.MaxReplicas)
	st.Nodes, st.NodeCount = fixNames(st.Nodes, st.NodeCount, v1.MaxNodes)
	for name := range st.Syscalls {
		if !profiles.KnownSyscall(name) {
			delete(st.Syscalls, name)
		}
	}
	if len(st.Syscalls) > v1.MaxSyscalls {
		names := make([]string, 0, len(st.Syscalls))
		for n := range st.Syscalls {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names[v1.MaxSyscalls:] {
			delete(st.Syscalls, n)
		}
	}
	for name, s := range st.Syscalls {
		s.Arches = boundStrings(s.Arches, 8)
		s.Sources = boundStrings(s.Sources, 8)
		if len(s.FirstPod) > maxName {
			s.FirstPod = ""
		}
		if len(s.FirstNode) > maxName {
			s.FirstNode = ""
		}
		if s.FirstSeen.IsZero() || s.FirstSeen.Time.After(now) {
			s.FirstSeen = clampTime(s.FirstSeen.Time, now)
		}
		st.Syscalls[name] = s
	}
	if len(st.RecentDeviations) > v1.MaxDeviations {
		st.RecentDeviations = st.RecentDeviations[:v1.MaxDeviations]
	}
	if len(st.Retired) > v1.MaxRetired {
		st.Retired = st.Retired[:v1.MaxRetired]
	}
	if len(st.Image) > 1024 {
		st.Image = boundImage(st.Image)
	}
	if st.Deviations < 0 {
		st.Deviations = 0
	}
	if st.Version < 0 {
		st.Version = 1
	}
}

// boundStrings returns list sorted, unique, at most limit entries.
func boundStrings(list []string, limit int) []string {
	if len(list) == 0 {
		return list
	}
	out := slices.Clone(list)
	slices.Sort(out)
	out = slices.Compact(out)
	if len(out) > limit {
		out = out[:limit]
	}
	return out
}

func retiredImage(st *v1.WorkloadProfileStatus, image string) bool {
	for _, rv := range st.Retired {
		if rv.Image == image {
			return true
		}
	}
	return false
}

// retire moves the current version into Retired and starts the next one in
// Learning (its applied profiles stay in Applied until no pod uses them).
func retire(st *v1.WorkloadProfileStatus, now time.Time) {
	t := metav1.NewTime(now.UTC().Truncate(time.Second))
	rv := v1.RetiredVersion{Version: st.Version, Image: st.Image, Phase: st.Phase, SyscallCount: st.SyscallCount, Since: st.Since, Until: &t}
	st.Retired = append([]v1.RetiredVersion{rv}, st.Retired...)
	if len(st.Retired) > v1.MaxRetired {
		st.Retired = st.Retired[:v1.MaxRetired]
	}
	if st.Version < math.MaxInt32 {
		st.Version++
	}
	st.Image = ""
	st.Phase, st.Since, st.PhaseSince = v1.PhaseLearning, &t, &t
	st.Syscalls, st.SyscallCount, st.LastNewSyscall = nil, 0, nil
	st.Replicas, st.ReplicaCount, st.Nodes, st.NodeCount = nil, 0, nil, 0
	st.Deviations, st.LastDeviation, st.RecentDeviations = 0, nil, nil
	st.Profile = nil
}

// addName adds name to the sorted list of at most limit names, counted by
// count. The list keeps the least names seen, so it does not depend on the
// order names come in; once a name did not fit, count stays at limit+1
// ("more than limit": a pod reported again cannot be told from a new one).
func addName(list []string, count int32, name string, limit int) ([]string, int32, bool) {
	i, found := slices.BinarySearch(list, name)
	if found {
		return list, count, false
	}
	if len(list) < limit {
		return slices.Insert(list, i, name), count + 1, true
	}
	changed := count != int32(limit)+1
	if i < len(list) {
		list, changed = slices.Insert(list[:len(list)-1:len(list)-1], i, name), true
	}
	return list, int32(limit) + 1, changed
}

// addSyscall adds one observation; isNew when the version did not hold
// the syscall, changed when anything about it changed, stored false when
// the set is full.
func addSyscall(st *v1.WorkloadProfileStatus, name string, s Seen, source, pod, node string, now time.Time) (isNew, changed, stored bool) {
	first := clampTime(s.First, now)
	cur, ok := st.Syscalls[name]
	if !ok {
		if len(st.Syscalls) >= v1.MaxSyscalls {
			return false, false, false
		}
		cur = v1.Syscall{FirstSeen: first, FirstPod: pod, FirstNode: node}
		isNew, changed = true, true
	}
	// The earliest observation wins; a tie goes to the least (pod, node),
	// so the order reports arrive in does not matter.
	if ok && (first.Before(&cur.FirstSeen) || first.Equal(&cur.FirstSeen) &&
		(pod < cur.FirstPod || pod == cur.FirstPod && node < cur.FirstNode)) {
		cur.FirstSeen, cur.FirstPod, cur.FirstNode, changed = first, pod, node, true
	}
	for _, a := range s.Arches {
		pa, known := profiles.ParseArch(a)
		if !known || slices.Contains(cur.Arches, string(pa)) || len(cur.Arches) >= 8 {
			continue
		}
		cur.Arches = append(cur.Arches, string(pa))
		sort.Strings(cur.Arches)
		changed = true
	}
	if !slices.Contains(cur.Sources, source) && len(cur.Sources) < 8 {
		cur.Sources = append(cur.Sources, source)
		sort.Strings(cur.Sources)
		changed = true
	}
	st.Syscalls[name] = cur
	return isNew, changed, true
}

func deviation(st *v1.WorkloadProfileStatus, name string, t metav1.Time, pod, node, mode string, absorbed bool) {
	if st.Deviations < math.MaxInt64 {
		st.Deviations++
	}
	if st.LastDeviation == nil || st.LastDeviation.Before(&t) {
		st.LastDeviation = &t
	}
	st.RecentDeviations = append(st.RecentDeviations, v1.Deviation{Syscall: name, Time: t, Pod: pod, Node: node, Mode: mode, Absorbed: absorbed})
	sort.SliceStable(st.RecentDeviations, func(i, j int) bool {
		return st.RecentDeviations[j].Time.Before(&st.RecentDeviations[i].Time)
	})
	if len(st.RecentDeviations) > v1.MaxDeviations {
		st.RecentDeviations = st.RecentDeviations[:v1.MaxDeviations]
	}
}

func sortedNames(m map[string]Seen) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Build returns the profile the object's syscalls make: default action
// def (profiles.ActErrno with EPERM, or profiles.ActLog for the complain
// variant), the native architecture and those seen, each syscall with its
// sources and first-seen time, widened by families and the baseline.
// Names no syscall table of the profile's architectures knows are
// skipped, so whatever the object holds the result is a profile
// profiles.Parse accepts.
func Build(wp *v1.WorkloadProfile, def profiles.Action) *profiles.Profile {
	arches := map[profiles.Arch]bool{profiles.NativeArch(): true}
	for _, s := range wp.Status.Syscalls {
		for _, a := range s.Arches {
			if pa, ok := profiles.ParseArch(a); ok {
				arches[pa] = true
			}
		}
	}
	var al []profiles.Arch
	for a := range arches {
		al = append(al, a)
	}
	p := profiles.New(def, al...)
	p.Sysward = &profiles.Metadata{Stats: map[string]profiles.SyscallStats{}}
	names := make([]string, 0, len(wp.Status.Syscalls))
	for name, s := range wp.Status.Syscalls {
		if !knownOn(name, al) {
			continue
		}
		names = append(names, name)
		var sa []profiles.Arch
		for _, a := range s.Arches {
			if pa, ok := profiles.ParseArch(a); ok {
				sa = append(sa, pa)
			}
		}
		p.Sysward.Stats[name] = profiles.SyscallStats{FirstSeen: s.FirstSeen.Time, Arches: sa, Sources: append([]string(nil), s.Sources...)}
	}
	slices.Sort(al)
	sort.Strings(names)
	p.Allow(names...)
	profiles.WidenFamilies(p, names)
	profiles.AddBaseline(p)
	// The kubelet starts the pods with runc, which runs under the pod's
	// filter from its seccomp() to the entrypoint's execve: a container
	// learned without a filter never shows that window's calls, and an
	// enforced profile without them kills the container's start
	// (TestClusterLearning: fcntl, chdir, capget refused to runc:[2:INIT]).
	if base, err := profiler.LookupRuntimeBase(profiler.RuntimeBaseRunc); err == nil {
		profiler.MergeRuntimeBase(p, base)
	}
	p.Sysward.Provenance = append([]profiles.Provenance{{Tool: "sysward " + version.Version, Target: "workload",
		Workload: wp.Namespace + "/" + wp.Spec.Workload.Kind + "/" + wp.Spec.Workload.Name + "/" + wp.Spec.Container}}, p.Sysward.Provenance...)
	return profiles.Canonical(p)
}

func knownOn(name string, arches []profiles.Arch) bool {
	for _, a := range arches {
		if _, ok := profiles.SyscallNumber(a, name); ok {
			return true
		}
	}
	return false
}

// Rebuild recomputes Profile, SyscallCount and LastNewSyscall from
// Syscalls. The stored Profile leaves out the per-syscall statistics
// (Syscalls holds them; Build(wp, ...) gives the profile with them): they
// were 37 KB of a 125 KB object with every x86_64 syscall, and every
// merge writes the whole object (a PUT of it cost 57 ms on the test
// apiserver).
func Rebuild(wp *v1.WorkloadProfile) error {
	st := &wp.Status
	st.LastNewSyscall = nil
	for _, s := range st.Syscalls {
		if st.LastNewSyscall == nil || st.LastNewSyscall.Before(&s.FirstSeen) {
			t := s.FirstSeen
			st.LastNewSyscall = &t
		}
	}
	if len(st.Syscalls) == 0 {
		st.Profile, st.SyscallCount = nil, 0
		return nil
	}
	p := Build(wp, profiles.ActErrno)
	st.SyscallCount = int32(len(p.AllowedSyscalls(profiles.NativeArch())))
	p.Sysward.Stats = nil
	data, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("encoding the profile of %s/%s: %w", wp.Namespace, wp.Name, err)
	}
	st.Profile = &runtime.RawExtension{Raw: data}
	return nil
}
