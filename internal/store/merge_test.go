package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	v1 "github.com/sysward/sysward/api/v1alpha1"
	"github.com/sysward/sysward/profiles"
)

var (
	t0  = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	key = Key{Namespace: "shop", Kind: "deployment", Workload: "web", Container: "app"}
)

// randomDelta picks up to n syscalls of the native table, each with a
// first-seen time within an hour of t0.
func randomDelta(rng *rand.Rand, k Key, n int) *Delta {
	table := profiles.Syscalls(profiles.NativeArch())
	d := &Delta{Key: k, Image: "web:1", Pod: fmt.Sprintf("web-%d", rng.IntN(5)), Node: fmt.Sprintf("node-%d", rng.IntN(3)), Traced: map[string]Seen{}}
	for range 1 + rng.IntN(n) {
		d.Traced[table[rng.IntN(len(table))]] = Seen{Arches: []string{string(profiles.NativeArch())}, First: t0.Add(time.Duration(rng.IntN(3600)) * time.Second)}
	}
	return d
}

// firstSeen is the syscall set of wp with each first-seen time.
func firstSeen(wp *v1.WorkloadProfile) map[string]time.Time {
	out := map[string]time.Time{}
	for n, s := range wp.Status.Syscalls {
		out[n] = s.FirstSeen.Time
	}
	return out
}

// TestApplyOrderIndependent: random deltas applied in random orders, some
// twice, give the same Syscalls (names, first-seen times, first pod and
// node, arches, sources), the same replicas and nodes, and the expected
// union with the earliest time of each syscall.
func TestApplyOrderIndependent(t *testing.T) {
	for seed := range uint64(50) {
		rng := rand.New(rand.NewPCG(seed, 1))
		deltas := make([]*Delta, 2+rng.IntN(20))
		want := map[string]time.Time{}
		for i := range deltas {
			deltas[i] = randomDelta(rng, key, 30)
			for n, s := range deltas[i].Traced {
				if w, ok := want[n]; !ok || s.First.Before(w) {
					want[n] = s.First
				}
			}
		}
		var ref *v1.WorkloadProfile
		for run := range 6 {
			order := rng.Perm(len(deltas))
			for range rng.IntN(len(deltas)) { // some again
				order = append(order, rng.IntN(len(deltas)))
			}
			wp := New(key, t0)
			for _, i := range order {
				if _, err := Apply(wp, deltas[i], t0.Add(2*time.Hour)); err != nil {
					t.Fatal(err)
				}
			}
			got := firstSeen(wp)
			if len(got) != len(want) {
				t.Fatalf("seed %d run %d: %d syscalls, want %d", seed, run, len(got), len(want))
			}
			for n, w := range want {
				if !got[n].Equal(w) {
					t.Fatalf("seed %d run %d: %s first seen %v, want %v", seed, run, n, got[n], w)
				}
			}
			if ref == nil {
				ref = wp
				continue
			}
			a, _ := json.Marshal(ref.Status.Syscalls)
			b, _ := json.Marshal(wp.Status.Syscalls)
			if string(a) != string(b) {
				t.Fatalf("seed %d run %d: syscalls differ by order:\n%s\n%s", seed, run, a, b)
			}
			if !slices.Equal(ref.Status.Replicas, wp.Status.Replicas) || !slices.Equal(ref.Status.Nodes, wp.Status.Nodes) ||
				ref.Status.ReplicaCount != wp.Status.ReplicaCount || ref.Status.SyscallCount != wp.Status.SyscallCount ||
				!ref.Status.LastNewSyscall.Equal(wp.Status.LastNewSyscall) || string(ref.Status.Profile.Raw) != string(wp.Status.Profile.Raw) {
				t.Fatalf("seed %d run %d: status differs by order", seed, run)
			}
		}
	}
}

// TestApplyIdempotent: a delta applied again changes nothing and says so
// (Merge then writes nothing).
func TestApplyIdempotent(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	wp := New(key, t0)
	d := randomDelta(rng, key, 40)
	r, err := Apply(wp, d, t0)
	if err != nil || !r.Changed || len(r.New) != len(d.Traced) {
		t.Fatalf("first apply: %+v %v", r, err)
	}
	before, _ := json.Marshal(wp)
	r, err = Apply(wp, d, t0.Add(time.Hour))
	after, _ := json.Marshal(wp)
	if err != nil || r.Changed || len(r.New) != 0 || string(before) != string(after) {
		t.Fatalf("second apply: %+v %v\n%s\n%s", r, err, before, after)
	}
}

func TestApplyWrongKey(t *testing.T) {
	wp := New(key, t0)
	other := key
	other.Container = "sidecar"
	if _, err := Apply(wp, &Delta{Key: other}, t0); !errors.Is(err, ErrKey) {
		t.Fatalf("err %v, want ErrKey", err)
	}
}

func seen(names ...string) map[string]Seen {
	m := map[string]Seen{}
	for _, n := range names {
		m[n] = Seen{First: t0}
	}
	return m
}

// TestApplyDrift: a new image retires the version and starts the next in
// Learning; a replica of the old image not rolled yet is dropped; a pod of
// the old image created after the new version began is a rollback (one more
// version, the old image again).
func TestApplyDrift(t *testing.T) {
	wp := New(key, t0)
	mustApply := func(d *Delta, now time.Time) Result {
		t.Helper()
		d.Key = key
		r, err := Apply(wp, d, now)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	mustApply(&Delta{Image: "web:1", Pod: "web-a", Node: "n1", PodCreated: t0, Traced: seen("read", "write")}, t0)
	wp.Status.Phase = v1.PhaseEnforcing

	r := mustApply(&Delta{Image: "web:2", Pod: "web-b", Node: "n2", PodCreated: t0.Add(time.Hour), Traced: seen("openat")}, t0.Add(time.Hour))
	st := &wp.Status
	if !r.Drift || st.Version != 2 || st.Image != "web:2" || st.Phase != v1.PhaseLearning || len(st.Retired) != 1 {
		t.Fatalf("drift: %+v, status %+v", r, st)
	}
	if rv := st.Retired[0]; rv.Version != 1 || rv.Image != "web:1" || rv.Phase != v1.PhaseEnforcing || rv.SyscallCount == 0 {
		t.Fatalf("retired %+v", rv)
	}
	if _, ok := st.Syscalls["read"]; ok || len(st.Syscalls) != 1 || !slices.Equal(st.Replicas, []string{"web-b"}) {
		t.Fatalf("new version holds %v, replicas %v", st.Syscalls, st.Replicas)
	}

	// web-a still runs web:1, created before version 2: dropped.
	r = mustApply(&Delta{Image: "web:1", Pod: "web-a", Node: "n1", PodCreated: t0, Traced: seen("mkdir")}, t0.Add(2*time.Hour))
	if !r.Dropped || r.Changed || st.Version != 2 || len(st.Syscalls) != 1 {
		t.Fatalf("old replica: %+v, version %d, %v", r, st.Version, st.Syscalls)
	}

	// A pod of web:1 created after version 2 began: rolled back.
	r = mustApply(&Delta{Image: "web:1", Pod: "web-c", Node: "n1", PodCreated: t0.Add(3 * time.Hour), Traced: seen("mkdir")}, t0.Add(3*time.Hour))
	if !r.Drift || st.Version != 3 || st.Image != "web:1" || len(st.Retired) != 2 || st.Retired[0].Image != "web:2" {
		t.Fatalf("rollback: %+v, status %+v", r, st)
	}
	if _, ok := st.Syscalls["mkdir"]; !ok || len(st.Syscalls) != 1 {
		t.Fatalf("rollback version holds %v", st.Syscalls)
	}

	// Retired stays within its bound.
	for i := range 3 * v1.MaxRetired {
		mustApply(&Delta{Image: fmt.Sprintf("web:%d", 10+i), PodCreated: t0.Add(4 * time.Hour), Traced: seen("read")}, t0.Add(4*time.Hour))
	}
	if len(st.Retired) != v1.MaxRetired || st.Version != int32(3+3*v1.MaxRetired) {
		t.Fatalf("%d retired, version %d", len(st.Retired), st.Version)
	}
}

// webApplier applies deltas from pod web-a of image web:1 on node n1 to
// wp, an hour after t0.
func webApplier(t *testing.T, wp *v1.WorkloadProfile) func(*Delta) Result {
	return func(d *Delta) Result {
		t.Helper()
		d.Key, d.Image, d.Pod, d.Node = key, "web:1", "web-a", "n1"
		r, err := Apply(wp, d, t0.Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
}

// TestApplyPhases: Learning records traced calls; Complain absorbs
// complain-mode calls as deviations (absorbed when new); Enforcing only
// counts; a refusal counts in every phase.
func TestApplyPhases(t *testing.T) {
	wp := New(key, t0)
	st := &wp.Status
	apply := webApplier(t, wp)
	apply(&Delta{Traced: seen("read"), Denied: seen("mount")})
	if len(st.Syscalls) != 1 || st.Deviations != 1 || st.RecentDeviations[0].Mode != v1.ModeEnforce {
		t.Fatalf("learning: %+v", st)
	}
	st.Phase = v1.PhaseComplain
	r := apply(&Delta{Traced: seen("write"), Complain: seen("read", "openat")})
	if _, ok := st.Syscalls["write"]; ok {
		t.Fatal("traced call learned in Complain")
	}
	if !slices.Equal(r.New, []string{"openat"}) || st.Deviations != 3 || !slices.Equal(st.Syscalls["openat"].Sources, []string{profiles.SourceComplain}) {
		t.Fatalf("complain: %+v %+v", r, st)
	}
	absorbed := map[string]bool{}
	for _, d := range st.RecentDeviations {
		if d.Mode == v1.ModeComplain {
			absorbed[d.Syscall] = d.Absorbed
		}
	}
	if !absorbed["openat"] || absorbed["read"] {
		t.Fatalf("absorbed %v", absorbed)
	}
	st.Phase = v1.PhaseEnforcing
	r = apply(&Delta{Traced: seen("chdir"), Complain: seen("mkdir"), Denied: seen("ptrace")})
	if len(r.New) != 0 || len(st.Syscalls) != 2 || st.Deviations != 5 {
		t.Fatalf("enforcing: %+v, %d syscalls, %d deviations", r, len(st.Syscalls), st.Deviations)
	}
	for i := range 2 * v1.MaxDeviations {
		apply(&Delta{Denied: map[string]Seen{"ptrace": {First: t0.Add(time.Duration(i) * time.Second)}}})
	}
	if len(st.RecentDeviations) != v1.MaxDeviations || !st.LastDeviation.Equal(&st.RecentDeviations[0].Time) {
		t.Fatalf("%d recent deviations, last %v, newest %v", len(st.RecentDeviations), st.LastDeviation, st.RecentDeviations[0].Time)
	}
}

// TestApplyBounds: names, syscalls and times from a delta stay within what
// the schema allows.
func TestApplyBounds(t *testing.T) {
	wp := New(key, t0)
	st := &wp.Status
	now := t0.Add(time.Hour)
	for i := range 3 * v1.MaxReplicas {
		d := &Delta{Key: key, Pod: fmt.Sprintf("web-%03d", 3*v1.MaxReplicas-i), Node: fmt.Sprintf("n-%03d", i)}
		if _, err := Apply(wp, d, now); err != nil {
			t.Fatal(err)
		}
	}
	if len(st.Replicas) != v1.MaxReplicas || st.ReplicaCount != v1.MaxReplicas+1 || st.Replicas[0] != "web-001" || !slices.IsSorted(st.Replicas) {
		t.Fatalf("replicas %d (count %d) first %s", len(st.Replicas), st.ReplicaCount, st.Replicas[0])
	}
	if len(st.Nodes) != 3*v1.MaxReplicas || st.NodeCount != int32(len(st.Nodes)) {
		t.Fatalf("nodes %d count %d", len(st.Nodes), st.NodeCount)
	}
	long := strings.Repeat("x", 300)
	r, err := Apply(wp, &Delta{Key: key, Image: strings.Repeat("i", 5000), Pod: long, Node: long, Traced: map[string]Seen{
		"read":          {First: time.Time{}, Arches: []string{"SCMP_ARCH_X86_64", "nonsense", "arm64"}},
		"write":         {First: now.Add(100 * 365 * 24 * time.Hour)},
		"not_a_syscall": {First: t0},
		long:            {First: t0},
	}}, now)
	if err != nil {
		t.Fatal(err)
	}
	if r.Skipped != 2 || len(st.Syscalls) != 2 {
		t.Fatalf("%+v, syscalls %v", r, st.Syscalls)
	}
	if len(st.Image) != 1024 || slices.Contains(st.Replicas, long) || slices.Contains(st.Nodes, long) {
		t.Fatalf("image %d bytes, long names kept", len(st.Image))
	}
	want := metav1.NewTime(now)
	if rd := st.Syscalls["read"]; !rd.FirstSeen.Equal(&want) || !slices.Equal(rd.Arches, []string{"SCMP_ARCH_AARCH64", "SCMP_ARCH_X86_64"}) {
		t.Fatalf("read %+v", rd)
	}
	if w := st.Syscalls["write"]; !w.FirstSeen.Equal(&want) {
		t.Fatalf("future first-seen kept: %v", w.FirstSeen)
	}
	// Every syscall name of every table is fewer than MaxSyscalls, so
	// with unknown names skipped the bound cannot be reached through a
	// delta; addSyscall still keeps to it when an object holds that many.
	if n := len(allNames()); n >= v1.MaxSyscalls {
		t.Fatalf("%d known syscall names: MaxSyscalls (%d) too low", n, v1.MaxSyscalls)
	}
	full := &v1.WorkloadProfileStatus{Syscalls: map[string]v1.Syscall{}}
	for i := range v1.MaxSyscalls {
		full.Syscalls[fmt.Sprint(i)] = v1.Syscall{}
	}
	if isNew, _, stored := addSyscall(full, "read", Seen{First: t0}, profiles.SourceTraced, "", "", now); isNew || stored || len(full.Syscalls) != v1.MaxSyscalls {
		t.Fatalf("added to a full set: %d", len(full.Syscalls))
	}
}

func allNames() map[string]bool {
	m := map[string]bool{}
	for _, a := range profiles.KnownArches() {
		for _, n := range profiles.Syscalls(a) {
			m[n] = true
		}
	}
	return m
}

// TestBuildParses: the profile Build makes is one profiles.Parse accepts
// and allows every learned syscall, in both variants.
func TestBuildParses(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	wp := New(key, t0)
	for range 10 {
		if _, err := Apply(wp, randomDelta(rng, key, 60), t0.Add(2*time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	p, err := profiles.Parse("status.profile", wp.Status.Profile.Raw)
	if err != nil {
		t.Fatal(err)
	}
	allowed := p.AllowedSyscalls(profiles.NativeArch())
	for n := range wp.Status.Syscalls {
		if !slices.Contains(allowed, n) {
			t.Errorf("%s learned, not allowed", n)
		}
	}
	if int(wp.Status.SyscallCount) != len(allowed) {
		t.Errorf("syscallCount %d, profile allows %d", wp.Status.SyscallCount, len(allowed))
	}
	log := Build(wp, profiles.ActLog)
	data, _ := json.Marshal(log)
	if lp, err := profiles.Parse("complain", data); err != nil || lp.DefaultAction != profiles.ActLog {
		t.Fatalf("complain variant: %v", err)
	}
}

func TestKeyName(t *testing.T) {
	for _, tc := range []struct {
		k    Key
		want string
	}{
		{Key{Kind: "deployment", Workload: "web", Container: "app"}, "deployment.web.app"},
		{Key{Kind: "statefulset", Workload: "db.primary", Container: "pg-main"}, "statefulset.db.primary.pg-main"},
	} {
		if got := tc.k.Name(); got != tc.want {
			t.Errorf("%v: %q, want %q", tc.k, got, tc.want)
		}
	}
	// Keys whose plain names would meet, and odd keys: all distinct,
	// all DNS subdomains.
	keys := []Key{
		{Kind: "deployment", Workload: "a-b", Container: "c"},
		{Kind: "deployment", Workload: "a", Container: "b-c"},
		{Kind: "deployment", Workload: "a.b", Container: "c"},
		{Kind: "deployment", Workload: "a", Container: "b.c"},
		{Kind: "deployment", Workload: "A", Container: "b"},
		{Kind: "deployment", Workload: "a", Container: "B"},
		{Kind: "", Workload: "", Container: ""},
		{Kind: "pod", Workload: "-.-", Container: ".."},
		{Kind: "pod", Workload: strings.Repeat("w", 253), Container: "c"},
		{Kind: "pod", Workload: strings.Repeat("w", 253), Container: "d"},
		{Kind: "pod", Workload: strings.Repeat("w.", 126) + "w", Container: "c"},
		{Kind: "pod", Workload: "ünï", Container: "c"},
	}
	names := map[string]Key{}
	for _, k := range keys {
		n := k.Name()
		if errs := validation.IsDNS1123Subdomain(n); len(errs) > 0 {
			t.Errorf("%+v: %q: %v", k, n, errs)
		}
		if o, ok := names[n]; ok {
			t.Errorf("%+v and %+v share %q", k, o, n)
		}
		names[n] = k
	}
}

// FuzzKeyName: every key's name is a DNS subdomain and names differ when
// keys do.
func FuzzKeyName(f *testing.F) {
	f.Add("deployment", "web", "app", "deployment", "web", "app-2")
	f.Add("deployment", "a-b", "c", "deployment", "a", "b-c")
	f.Fuzz(func(t *testing.T, k1, w1, c1, k2, w2, c2 string) {
		a, b := Key{Kind: k1, Workload: w1, Container: c1}, Key{Kind: k2, Workload: w2, Container: c2}
		na, nb := a.Name(), b.Name()
		if errs := validation.IsDNS1123Subdomain(na); len(errs) > 0 {
			t.Fatalf("%+v: %q: %v", a, na, errs)
		}
		if a != b && na == nb {
			t.Fatalf("%+v and %+v share %q", a, b, na)
		}
	})
}

// FuzzApply decodes an arbitrary object and a delta for it: Apply does not
// panic, keeps every bound, and when the schema accepted the object it
// accepts what Apply made of it (the apiserver's own validator).
func FuzzApply(f *testing.F) {
	rng := rand.New(rand.NewPCG(1, 2))
	wp := New(key, t0)
	for range 3 {
		Apply(wp, randomDelta(rng, key, 20), t0.Add(time.Hour))
	}
	seed, _ := json.Marshal(wp)
	delta, _ := json.Marshal(randomDelta(rng, key, 5))
	f.Add(seed, delta)
	f.Add(seed, []byte(`{"Image":"web:2","PodCreated":"2030-01-01T00:00:00Z","Pod":"p","Node":"n","Traced":{"read":{"First":"0001-01-01T00:00:00Z"}}}`))
	f.Add([]byte(`{"spec":{"workload":{"kind":"pod","name":"x"},"container":"c"},"status":{"phase":"Complain","replicas":["b","a","a"],"replicaCount":-4,"syscalls":{"nope":{"firstSeen":"2020-01-01T00:00:00Z"},"read":{"arches":["x","x"],"firstSeen":"2020-01-01T00:00:00Z"}}}}`),
		[]byte(`{"Complain":{"read":{},"write":{"Arches":["arm64"]}},"Denied":{"ptrace":{}}}`))
	f.Add([]byte(`{"status":{"version":2147483647,"deviations":9223372036854775807,"phase":"Enforcing","retired":[{"image":"a"}]}}`),
		[]byte(`{"Image":"a","Denied":{"read":{}}}`))
	validate := schemaValidator(f)
	now := t0.Add(24 * time.Hour)
	f.Fuzz(func(t *testing.T, obj, delta []byte) {
		wp := &v1.WorkloadProfile{}
		if json.Unmarshal(obj, wp) != nil {
			return
		}
		d := &Delta{}
		if json.Unmarshal(delta, d) != nil {
			return
		}
		d.Key = Key{Namespace: wp.Namespace, Kind: wp.Spec.Workload.Kind, Workload: wp.Spec.Workload.Name, Container: wp.Spec.Container}
		errsIn, _ := validateObject(t, validate, wp)
		if _, err := Apply(wp, d, now); err != nil {
			t.Fatalf("Apply: %v", err)
		}
		st := &wp.Status
		if len(st.Syscalls) > v1.MaxSyscalls || len(st.Replicas) > v1.MaxReplicas || len(st.Nodes) > v1.MaxNodes ||
			len(st.RecentDeviations) > v1.MaxDeviations || len(st.Retired) > v1.MaxRetired || len(st.Image) > 1024 {
			t.Fatalf("bounds: %d syscalls, %d replicas, %d nodes, %d deviations, %d retired, image %d",
				len(st.Syscalls), len(st.Replicas), len(st.Nodes), len(st.RecentDeviations), len(st.Retired), len(st.Image))
		}
		for n, s := range st.Syscalls {
			if len(s.Arches) > 8 || len(s.Sources) > 8 || s.FirstSeen.After(now) {
				t.Fatalf("%s: %+v", n, s)
			}
		}
		errsOut, data := validateObject(t, validate, wp)
		if len(errsIn) == 0 && len(errsOut) > 0 {
			t.Fatalf("the schema accepted the object, not what Apply made of it: %v\n%s", errsOut.ToAggregate(), data)
		}
		back := &v1.WorkloadProfile{}
		if err := json.Unmarshal(data, back); err != nil {
			t.Fatalf("output does not decode: %v\n%s", err, data)
		}
		if st.Profile != nil {
			if _, err := profiles.Parse("status.profile", st.Profile.Raw); err != nil {
				t.Fatalf("profile: %v", err)
			}
		}
	})
}

// TestApplyEnforcingCountsComplain: after promote, the pods run under the
// complain profile until `apply --mode enforce` rolls them; a call they
// make outside it would be refused by the enforcing profile, so it counts
// as a deviation (mode complain, not absorbed: the profile is frozen). It
// was dropped, and the agent never sends a call twice: the evidence that
// enforcing would break the workload was lost.
func TestApplyEnforcingCountsComplain(t *testing.T) {
	wp := New(key, t0)
	now := t0.Add(time.Hour)
	if _, err := Apply(wp, &Delta{Key: key, Image: "web:1", Pod: "web-a", Node: "n1", Traced: seen("read")}, now); err != nil {
		t.Fatal(err)
	}
	st := &wp.Status
	st.Phase = v1.PhaseEnforcing
	r, err := Apply(wp, &Delta{Key: key, Image: "web:1", Pod: "web-a", Node: "n1", Complain: seen("mkdir")}, now)
	if err != nil {
		t.Fatal(err)
	}
	if !r.Changed || len(r.New) != 0 || st.Deviations != 1 || len(st.RecentDeviations) != 1 || st.LastDeviation == nil {
		t.Fatalf("%+v: %d deviations %+v", r, st.Deviations, st.RecentDeviations)
	}
	if d := st.RecentDeviations[0]; d.Syscall != "mkdir" || d.Mode != v1.ModeComplain || d.Absorbed || d.Pod != "web-a" || d.Node != "n1" {
		t.Fatalf("deviation %+v", d)
	}
	if _, ok := st.Syscalls["mkdir"]; ok {
		t.Fatal("absorbed while Enforcing")
	}
}

// TestApplyStatic: a delta's static hints join the set in Learning with
// the source "static" (and stay beside "traced" when both saw a call), a
// dangerous one never does, and outside Learning they change nothing.
func TestApplyStatic(t *testing.T) {
	wp := New(key, t0)
	st := &wp.Status
	apply := webApplier(t, wp)
	if (&Delta{Static: seen("fsync")}).Empty() {
		t.Fatal("a delta of static hints only is empty")
	}
	r := apply(&Delta{Traced: seen("read"), Static: seen("read", "fsync", "wait4", "ptrace", "bpf")})
	if slices.Sort(r.New); !slices.Equal(r.New, []string{"fsync", "read", "wait4"}) {
		t.Fatalf("new %v", r.New)
	}
	if got := st.Syscalls["fsync"].Sources; !slices.Equal(got, []string{profiles.KindStatic}) {
		t.Errorf("fsync sources %v", got)
	}
	if got := st.Syscalls["read"].Sources; !slices.Equal(got, []string{profiles.KindStatic, profiles.SourceTraced}) {
		t.Errorf("read sources %v", got)
	}
	for _, d := range []string{"ptrace", "bpf"} {
		if _, ok := st.Syscalls[d]; ok {
			t.Errorf("dangerous %s learned from static hints", d)
		}
	}
	p := Build(wp, profiles.ActErrno)
	if !slices.Contains(p.AllowedSyscalls(profiles.ArchX86_64), "fsync") {
		t.Error("fsync not in the built profile")
	}
	st.Phase = v1.PhaseComplain
	if r := apply(&Delta{Static: seen("rename")}); r.Changed || len(r.New) != 0 {
		t.Errorf("static hints in Complain: %+v", r)
	}
}
