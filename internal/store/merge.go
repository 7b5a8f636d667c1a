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
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	v1 "github.com/sysward/sysward/api/v1alpha1"
	"github.com/sysward/sysward/internal/version"
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

// Name is the object name for k: "<kind>-<workload>-<container>",
// lowercased, other characters replaced by '-'; names over 253 characters
// (a DNS subdomain) are cut and end in a hash of the whole key so two
// keys never share one.
func (k Key) Name() string {
	s := notName.ReplaceAllString(strings.ToLower(k.Kind+"-"+k.Workload+"-"+k.Container), "-")
	s = strings.Trim(s, "-.")
	full := s != k.Kind+"-"+k.Workload+"-"+k.Container
	if len(s) > 253 || full {
		sum := sha256.Sum256([]byte(k.Kind + "\x00" + k.Workload + "\x00" + k.Container))
		h := hex.EncodeToString(sum[:])[:10]
		if len(s) > 242 {
			s = strings.TrimRight(s[:242], "-.")
		}
		s += "-" + h
	}
	return s
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
}

// Empty reports whether d carries no syscall.
func (d *Delta) Empty() bool { return len(d.Traced)+len(d.Complain)+len(d.Denied) == 0 }

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
// set; in Complain, Complain syscalls join it (source "complain") and count
// as deviations; in Enforcing, Denied (and Complain) calls count as
// deviations only. Replicas and nodes are united in every phase. A delta
// whose image differs from the version's starts a new version (Learning)
// unless it is from an earlier version's image and its pod is not newer
// than the current version (Result.Dropped).
func Apply(wp *v1.WorkloadProfile, d *Delta, now time.Time) (Result, error) {
	var r Result
	if wp.Spec.Workload.Kind != d.Key.Kind || wp.Spec.Workload.Name != d.Key.Workload || wp.Spec.Container != d.Key.Container {
		return r, fmt.Errorf("%w: object %s/%s is %s/%s/%s, delta %s", ErrKey, wp.Namespace, wp.Name,
			wp.Spec.Workload.Kind, wp.Spec.Workload.Name, wp.Spec.Container, d.Key)
	}
	st := &wp.Status
	if st.Phase == "" {
		st.Phase, st.Version = v1.PhaseLearning, 1
	}
	if d.Image != "" && st.Image != "" && d.Image != st.Image {
		since := time.Time{}
		if st.Since != nil {
			since = st.Since.Time
		}
		if retiredImage(st, d.Image) && !d.PodCreated.After(since) {
			r.Dropped = true
			return r, nil
		}
		retire(st, now)
		r.Drift, r.Changed = true, true
	}
	if st.Image == "" && d.Image != "" {
		st.Image, r.Changed = d.Image, true
	}
	if d.Pod != "" {
		before := st.ReplicaCount
		st.Replicas, st.ReplicaCount = addName(st.Replicas, st.ReplicaCount, d.Pod, v1.MaxReplicas)
		r.Changed = r.Changed || before != st.ReplicaCount
	}
	if d.Node != "" {
		before := st.NodeCount
		st.Nodes, st.NodeCount = addName(st.Nodes, st.NodeCount, d.Node, v1.MaxNodes)
		r.Changed = r.Changed || before != st.NodeCount
	}
	if st.Syscalls == nil {
		st.Syscalls = map[string]v1.Syscall{}
	}
	absorb := func(m map[string]Seen, source string) {
		for _, name := range sortedNames(m) {
			s := m[name]
			isNew, changed := addSyscall(st, name, s, source, d.Pod, d.Node)
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
	case v1.PhaseComplain:
		for _, name := range sortedNames(d.Complain) {
			_, held := st.Syscalls[name]
			deviation(st, name, d.Complain[name].First, d.Pod, d.Node, v1.ModeComplain, !held)
		}
		absorb(d.Complain, profiles.SourceComplain)
		if len(d.Complain) > 0 {
			r.Changed = true
		}
	}
	// A refusal is a deviation in every phase (a pod may still run
	// under an enforce profile while its workload learns a new image).
	for _, name := range sortedNames(d.Denied) {
		deviation(st, name, d.Denied[name].First, d.Pod, d.Node, v1.ModeEnforce, false)
		r.Changed = true
	}
	if r.Changed {
		if err := Rebuild(wp); err != nil {
			return r, err
		}
	}
	return r, nil
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
	st.Version++
	st.Image = ""
	st.Phase, st.Since, st.PhaseSince = v1.PhaseLearning, &t, &t
	st.Syscalls, st.SyscallCount, st.LastNewSyscall = nil, 0, nil
	st.Replicas, st.ReplicaCount, st.Nodes, st.NodeCount = nil, 0, nil, 0
	st.Deviations, st.LastDeviation, st.RecentDeviations = 0, nil, nil
	st.Profile = nil
}

func addName(list []string, count int32, name string, max int) ([]string, int32) {
	i, found := slices.BinarySearch(list, name)
	if found {
		return list, count
	}
	if count > int32(len(list)) || len(list) >= max {
		// The list is full: names beyond it are counted once each only
		// if it has room, so a full list counts no further (a pod seen
		// again cannot be told from a new one).
		if len(list) >= max && count == int32(len(list)) {
			return list, count + 1
		}
		return list, count
	}
	return slices.Insert(list, i, name), count + 1
}

// addSyscall adds one observation; isNew when the version did not hold
// the syscall, changed when anything about it changed.
func addSyscall(st *v1.WorkloadProfileStatus, name string, s Seen, source, pod, node string) (isNew, changed bool) {
	first := metav1.NewTime(s.First.UTC().Truncate(time.Second))
	cur, ok := st.Syscalls[name]
	if !ok {
		if len(st.Syscalls) >= v1.MaxSyscalls {
			return false, false
		}
		cur = v1.Syscall{FirstSeen: first, FirstPod: pod, FirstNode: node}
		isNew, changed = true, true
	}
	if ok && first.Before(&cur.FirstSeen) {
		cur.FirstSeen, cur.FirstPod, cur.FirstNode, changed = first, pod, node, true
	}
	for _, a := range s.Arches {
		if !slices.Contains(cur.Arches, a) {
			cur.Arches = append(cur.Arches, a)
			sort.Strings(cur.Arches)
			changed = true
		}
	}
	if !slices.Contains(cur.Sources, source) {
		cur.Sources = append(cur.Sources, source)
		sort.Strings(cur.Sources)
		changed = true
	}
	st.Syscalls[name] = cur
	return isNew, changed
}

func deviation(st *v1.WorkloadProfileStatus, name string, at time.Time, pod, node, mode string, absorbed bool) {
	t := metav1.NewTime(at.UTC().Truncate(time.Second))
	st.Deviations++
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
// Unknown names are skipped (a hostile object cannot make it fail).
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
		if !profiles.KnownSyscall(name) {
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
	sort.Strings(names)
	p.Allow(names...)
	profiles.WidenFamilies(p, names)
	profiles.AddBaseline(p)
	p.Sysward.Provenance = []profiles.Provenance{{Tool: "sysward " + version.Version, Target: "workload",
		Workload: wp.Namespace + "/" + wp.Spec.Workload.Kind + "/" + wp.Spec.Workload.Name + "/" + wp.Spec.Container}}
	return profiles.Canonical(p)
}

// Rebuild recomputes Profile, SyscallCount and LastNewSyscall from
// Syscalls.
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
	data, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("encoding the profile of %s/%s: %w", wp.Namespace, wp.Name, err)
	}
	st.Profile = &runtime.RawExtension{Raw: data}
	st.SyscallCount = int32(len(p.AllowedSyscalls(profiles.NativeArch())))
	return nil
}
