package watch

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	v1 "github.com/sysward/sysward/api/v1alpha1"
	"github.com/sysward/sysward/detector"
	"github.com/sysward/sysward/detector/output"
	"github.com/sysward/sysward/enforcer"
	"github.com/sysward/sysward/internal/kube"
	"github.com/sysward/sysward/internal/kubetest"
	"github.com/sysward/sysward/internal/store"
	"github.com/sysward/sysward/internal/testutil"
	"github.com/sysward/sysward/profiler"
	"github.com/sysward/sysward/profiles"
)

// storeEnv is a real apiserver with the WorkloadProfile CRD installed.
type storeEnv struct {
	api  *kubetest.APIServer
	cfg  *rest.Config
	kc   kubernetes.Interface
	sc   *store.Client
	node string
}

func newStoreEnv(t testing.TB) *storeEnv {
	t.Helper()
	e := newStoreEnvNoCRD(t)
	e.installCRD(t)
	return e
}

func (e *storeEnv) installCRD(t testing.TB) {
	t.Helper()
	if _, err := e.api.Kubectl("", "apply", "-f", "../../deploy/base/crd/"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.api.Kubectl("", "wait", "--for=condition=Established", "--timeout=60s", "crd/workloadprofiles.sysward.io"); err != nil {
		t.Fatal(err)
	}
}

// newStoreEnvNoCRD is an apiserver without the CRD (installCRD adds it).
func newStoreEnvNoCRD(t testing.TB) *storeEnv {
	t.Helper()
	a := kubetest.NewAPIServer(t)
	a.Start()
	cfg, err := kube.Config(a.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cfg.QPS, cfg.Burst = 50, 100
	kc, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	sc, err := store.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &storeEnv{api: a, cfg: cfg, kc: kc, sc: sc, node: "node-t"}
}

func (e *storeEnv) namespace(t testing.TB, name string, labels map[string]string) {
	t.Helper()
	_, err := e.kc.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
}

// pod creates a pod on e.node whose container "app" is the runc container
// id (its status names it, as the kubelet's would).
func (e *storeEnv) pod(t testing.TB, ns, name, id, image string, labels map[string]string, owner []metav1.OwnerReference) {
	t.Helper()
	ctx := context.Background()
	no := false
	p, err := e.kc.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels, OwnerReferences: owner},
		Spec: corev1.PodSpec{NodeName: e.node, AutomountServiceAccountToken: &no,
			Containers: []corev1.Container{{Name: "app", Image: image}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app", ContainerID: "containerd://" + id, Image: image}}
	if _, err := e.kc.CoreV1().Pods(ns).UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func stsOwner(name string) []metav1.OwnerReference {
	t := true
	return []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "StatefulSet", Name: name, UID: "u-" + "sts-" + "x", Controller: &t}}
}

var learnLabel = map[string]string{v1.LearnLabel: "true"}

// get reads ns/name; nil when it does not exist.
func (e *storeEnv) get(t testing.TB, ns, name string) *v1.WorkloadProfile {
	t.Helper()
	wp, err := e.sc.Get(context.Background(), ns, name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return wp
}

// agent runs a node session with the store on over the test's runc root.
type agent struct {
	node    *Node
	learner *StoreLearner
	sum     *strings.Builder
	out     *lines
	cancel  context.CancelFunc
	done    chan error
}

func (e *storeEnv) startAgent(t testing.TB, root, profDir, installFrom string, interval time.Duration) *agent {
	t.Helper()
	prof, err := profiler.Load(&profiler.Options{Watch: true, HoldNewCgroups: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { prof.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	r := kube.New(e.kc, e.node, nil)
	r.LearnNamespaces()
	if err := r.Run(ctx); err != nil {
		t.Fatal(err)
	}
	ag := &agent{sum: &strings.Builder{}, out: &lines{}, cancel: cancel, done: make(chan error, 1)}
	var rules = testRulesTB(t)
	level := slog.LevelDebug
	if _, ok := t.(*testing.B); ok {
		level = slog.LevelWarn
	}
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: level}))
	cfg := Config{Rules: rules, Format: output.FormatJSON, Stdout: ag.out, Stderr: ag.sum, Profiler: prof, DedupWindow: -1, Pods: r, ExtraFields: kube.Fields, Logger: log}
	nodes := make(chan *Node, 1)
	go func() {
		_, err := NodeSession(ctx, cfg, NodeOptions{Roots: []string{root}, ProfilesDir: profDir, InstallFrom: installFrom,
			Store: &StoreOptions{Config: e.cfg, Pods: r, NodeName: e.node, Interval: interval}}, func(n *Node) { nodes <- n })
		ag.done <- err
	}()
	select {
	case ag.node = <-nodes:
	case err := <-ag.done:
		t.Fatalf("node session: %v", err)
	}
	ag.learner = ag.node.store.(*StoreLearner)
	t.Cleanup(func() { ag.stop(t) })
	return ag
}

func (ag *agent) stop(t testing.TB) {
	if ag.cancel == nil {
		return
	}
	ag.cancel()
	ag.cancel = nil
	if err := <-ag.done; err != nil {
		t.Errorf("node session: %v", err)
	}
	t.Logf("summary: %s", ag.sum.String())
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func testRulesTB(t testing.TB) *detector.Ruleset {
	rs, err := LoadRules(false)
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

// waitObject polls ns/name until ok holds (or 20 s passed).
func (e *storeEnv) waitObject(t testing.TB, ns, name string, d time.Duration, ok func(*v1.WorkloadProfile) bool) *v1.WorkloadProfile {
	t.Helper()
	var wp *v1.WorkloadProfile
	deadline := time.Now().Add(d)
	for {
		wp = e.get(t, ns, name)
		if wp != nil && ok(wp) {
			return wp
		}
		if time.Now().After(deadline) {
			if wp != nil {
				t.Fatalf("%s/%s: condition not met after %v: status %+v", ns, name, d, wp.Status)
			}
			t.Fatalf("%s/%s: no object after %v", ns, name, d)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func hasSyscall(wp *v1.WorkloadProfile, name string) bool {
	_, ok := wp.Status.Syscalls[name]
	return ok
}

// TestStoreLearning: real runc containers, pods for them in a real
// apiserver, the node session with --store. Two replicas of a StatefulSet
// marked on the pod make one object with both pods and their syscalls
// (sync, made after a trigger, arrives within a few intervals); a bare pod
// in a namespace marked by its label is learned too; an unmarked pod makes
// no object; a third replica with a new image starts version 2.
func TestStoreLearning(t *testing.T) {
	requireWatch(t)
	testutil.Require(t, testutil.Runc)
	e := newStoreEnv(t)
	root, profDir := t.TempDir(), t.TempDir()
	e.namespace(t, "shop", nil)
	e.namespace(t, "lab", learnLabel)

	a := startRunc(t, root, gatedScript("sync"), nil)
	b := startRunc(t, root, gatedScript("sync"), nil)
	q := startRunc(t, root, gatedScript("sync"), nil)
	l := startRunc(t, root, gatedScript("sync"), nil)
	e.pod(t, "shop", "web-0", a.id, "web:1", learnLabel, stsOwner("web"))
	e.pod(t, "shop", "web-1", b.id, "web:1", learnLabel, stsOwner("web"))
	e.pod(t, "shop", "quiet", q.id, "quiet:1", nil, nil)
	e.pod(t, "lab", "tool", l.id, "tool:1", nil, nil)

	ag := e.startAgent(t, root, profDir, "", time.Second)
	web := store.Key{Namespace: "shop", Kind: "statefulset", Workload: "web", Container: "app"}
	tool := store.Key{Namespace: "lab", Kind: "pod", Workload: "tool", Container: "app"}
	quiet := store.Key{Namespace: "shop", Kind: "pod", Workload: "quiet", Container: "app"}

	wp := e.waitObject(t, "shop", web.Name(), 15*time.Second, func(wp *v1.WorkloadProfile) bool { return wp.Status.ReplicaCount == 2 })
	if hasSyscall(wp, "sync") {
		t.Fatalf("sync learned before the containers made it: %v", wp.Status.Syscalls["sync"])
	}
	if !slices.Equal(wp.Status.Replicas, []string{"web-0", "web-1"}) || !slices.Equal(wp.Status.Nodes, []string{e.node}) ||
		wp.Status.Image != "web:1" || wp.Status.Phase != v1.PhaseLearning || !hasSyscall(wp, "nanosleep") && !hasSyscall(wp, "clock_nanosleep") {
		t.Errorf("web object: %+v", wp.Status)
	}
	for _, c := range []*runcContainer{a, b, q, l} {
		c.trigger(t)
	}
	made := time.Now()
	wp = e.waitObject(t, "shop", web.Name(), 10*time.Second, func(wp *v1.WorkloadProfile) bool { return hasSyscall(wp, "sync") })
	t.Logf("sync in the store %v after the trigger (interval 1s)", time.Since(made).Round(10*time.Millisecond))
	if s := wp.Status.Syscalls["sync"]; !slices.Equal(s.Sources, []string{profiles.SourceTraced}) || s.FirstNode != e.node ||
		(s.FirstPod != "web-0" && s.FirstPod != "web-1") || s.FirstSeen.Time.Before(made.Add(-2*time.Second)) {
		t.Errorf("sync: %+v", s)
	}
	e.waitObject(t, "lab", tool.Name(), 10*time.Second, func(wp *v1.WorkloadProfile) bool { return hasSyscall(wp, "sync") })
	time.Sleep(2 * time.Second) // two more intervals
	if got := e.get(t, "shop", quiet.Name()); got != nil {
		t.Errorf("unmarked pod learned: %+v", got.Status)
	}
	// One merge per interval for both replicas: every write changed the
	// object, and requests stay near one per merge.
	st := ag.learner.Stats()
	t.Logf("after learning: %+v", st)
	if st.MergeErrors != 0 || st.Conflicts != 0 {
		t.Errorf("stats %+v: want no errors or conflicts", st)
	}

	// A third replica with a new image: the workload's container drifts
	// to version 2; the old replicas' later reports are dropped.
	c := startRunc(t, root, gatedScript("sync"), nil)
	e.pod(t, "shop", "web-2", c.id, "web:2", learnLabel, stsOwner("web"))
	wp = e.waitObject(t, "shop", web.Name(), 15*time.Second, func(wp *v1.WorkloadProfile) bool { return wp.Status.Version == 2 })
	if wp.Status.Image != "web:2" || len(wp.Status.Retired) != 1 || wp.Status.Retired[0].Image != "web:1" ||
		!slices.Equal(wp.Status.Replicas, []string{"web-2"}) {
		t.Errorf("after the new image: %+v", wp.Status)
	}
	c.trigger(t)
	e.waitObject(t, "shop", web.Name(), 10*time.Second, func(wp *v1.WorkloadProfile) bool { return hasSyscall(wp, "sync") })

	// A container that goes away right after a call: the call still
	// arrives (the Node hands the final state over when it forgets it).
	d := startRunc(t, root, gatedScript("mkfifo /tmp/f"), nil)
	e.pod(t, "shop", "web-3", d.id, "web:2", learnLabel, stsOwner("web"))
	if !waitFor(5*time.Second, func() bool { return nodeContainer(ag.node, d.id) != nil }) {
		t.Fatal("container d not tracked")
	}
	d.trigger(t)
	time.Sleep(150 * time.Millisecond)
	d.stop()
	e.waitObject(t, "shop", web.Name(), 10*time.Second, func(wp *v1.WorkloadProfile) bool { return hasSyscall(wp, "mknodat") })
	ag.stop(t)
	if !strings.Contains(ag.sum.String(), "store: ") {
		t.Errorf("summary without the store line: %s", ag.sum.String())
	}
}

// appliedEntry makes an Applied entry for object name in ns holding p (as
// `sysward k8s apply` writes one: canonical bytes, their sha256).
func appliedEntry(t testing.TB, ns, name, mode string, p *profiles.Profile) v1.AppliedProfile {
	t.Helper()
	data, err := profiles.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	h := hex.EncodeToString(sum[:])
	return v1.AppliedProfile{Mode: mode, Version: 1, LocalhostProfile: fmt.Sprintf("sysward/%s/%s-v1-%s-%s.json", ns, name, mode, h[:12]),
		Hash: h, Profile: runtime.RawExtension{Raw: data}}
}

func complainBut(names ...string) *profiles.Profile {
	p := profiles.New(profiles.ActAllow, profiles.NativeArch())
	p.AddRule(profiles.ActLog, nil, names...)
	return p
}

// TestStoreAppliedProfiles: the agent installs the applied profiles of the
// store's objects under sysward/<namespace>/; a container (not marked)
// running under the complain one reports its call outside the profile,
// which is absorbed with source complain and counted as a deviation; one
// under the enforce profile has its refused call counted, not absorbed.
// Hostile entries (a path out of the folder, another namespace's folder, a
// bad hash, junk content) are refused and nothing is written outside
// sysward/<namespace>/. The flat files of --install-from and the store's
// folders are each cleaned up by their own side only.
func TestStoreAppliedProfiles(t *testing.T) {
	requireWatch(t)
	testutil.Require(t, testutil.Runc)
	e := newStoreEnv(t)
	root, profDir, from := t.TempDir(), t.TempDir(), t.TempDir()
	e.namespace(t, "shop", nil)
	ctx := context.Background()

	cp, ep := complainBut("sync"), allowAllBut("sync")
	ck := store.Key{Namespace: "shop", Kind: "statefulset", Workload: "soft", Container: "app"}
	ek := store.Key{Namespace: "shop", Kind: "statefulset", Workload: "hard", Container: "app"}
	hk := store.Key{Namespace: "shop", Kind: "deployment", Workload: "evil", Container: "app"}
	mk := func(k store.Key, phase v1.Phase, applied ...v1.AppliedProfile) *v1.WorkloadProfile {
		wp := store.New(k, time.Now())
		wp.Status.Phase, wp.Status.Image = phase, "img:1"
		wp.Status.Syscalls = map[string]v1.Syscall{"read": {FirstSeen: metav1.Now(), Sources: []string{profiles.SourceTraced}}}
		wp.Status.Applied = applied
		got, err := e.sc.Create(ctx, wp)
		if err != nil {
			t.Fatalf("creating %s: %v", k, err)
		}
		return got
	}
	ce := appliedEntry(t, "shop", ck.Name(), v1.ModeComplain, cp)
	ee := appliedEntry(t, "shop", ek.Name(), v1.ModeEnforce, ep)
	mk(ck, v1.PhaseComplain, ce)
	mk(ek, v1.PhaseEnforcing, ee)
	// Hostile entries, next to a good one.
	good := appliedEntry(t, "shop", hk.Name(), v1.ModeEnforce, allowAllBut("mknodat"))
	escape := good
	escape.LocalhostProfile = "sysward/shop/../../etc/x.json"
	dots := good
	dots.LocalhostProfile = "../../etc/x.json"
	other := good
	other.LocalhostProfile = "sysward/kube-system/x.json"
	badHash := good
	badHash.LocalhostProfile, badHash.Hash = "sysward/shop/badhash.json", strings.Repeat("0", 64)
	junk := good
	junk.LocalhostProfile, junk.Profile = "sysward/shop/junk.json", runtime.RawExtension{Raw: []byte(`{"defaultAction":"SCMP_ACT_NOPE","junk":"` + strings.Repeat("x", 100000) + `"}`)}
	evil := mk(hk, v1.PhaseEnforcing, good, escape, dots, other, badHash, junk)

	// --install-from's flat file next to the store's folders.
	flat := allowAllBut("ptrace")
	configMapDir(t, from, 1, map[string][]byte{"shop.flat.json": marshalProfile(t, flat)})

	ag := e.startAgent(t, root, profDir, from, time.Second)
	sw := filepath.Join(profDir, "sysward")
	paths := func() []string {
		var out []string
		filepath.WalkDir(profDir, func(p string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				rel, _ := filepath.Rel(profDir, p)
				out = append(out, rel)
			}
			return nil
		})
		slices.Sort(out)
		return out
	}
	flatName := "shop-flat-" + runtimeHash(t, flat) + ".json"
	want := []string{"sysward/" + flatName, ce.LocalhostProfile, ee.LocalhostProfile, good.LocalhostProfile}
	slices.Sort(want)
	if !waitFor(10*time.Second, func() bool { return slices.Equal(paths(), want) }) {
		t.Fatalf("installed %v, want %v", paths(), want)
	}
	// The counter follows the write.
	waitFor(2*time.Second, func() bool { return ag.learner.Stats().Installed == 3 })
	if st := ag.learner.Stats(); st.Refused != 5 || st.Installed != 3 {
		t.Errorf("stats %+v: want 5 refused, 3 installed", st)
	}
	for _, p := range []string{"/etc/x.json", filepath.Join(profDir, "x.json"), filepath.Join(sw, "kube-system")} {
		if _, err := os.Lstat(p); err == nil {
			t.Errorf("%s written", p)
		}
	}
	if got, _ := os.ReadFile(filepath.Join(profDir, ce.LocalhostProfile)); string(got) != string(marshalProfile(t, cp)) {
		t.Errorf("complain profile content:\n%s", got)
	}

	// Containers under the applied profiles, not marked.
	cs, err := enforcer.OCISeccomp(cp)
	if err != nil {
		t.Fatal(err)
	}
	es, err := enforcer.OCISeccomp(ep)
	if err != nil {
		t.Fatal(err)
	}
	c := startRunc(t, root, gatedScript("sync"), func(s *specs.Spec) { s.Linux.Seccomp = cs })
	x := startRunc(t, root, gatedScript("sync"), func(s *specs.Spec) { s.Linux.Seccomp = es })
	e.pod(t, "shop", "soft-0", c.id, "img:1", nil, stsOwner("soft"))
	e.pod(t, "shop", "hard-0", x.id, "img:1", nil, stsOwner("hard"))
	if !waitFor(5*time.Second, func() bool {
		nc, nx := nodeContainer(ag.node, c.id), nodeContainer(ag.node, x.id)
		return nc != nil && nx != nil && nc.Mode == ModeComplain && nx.Mode == ModeEnforce
	}) {
		t.Fatalf("containers %+v", ag.node.Containers())
	}
	c.trigger(t)
	x.trigger(t)
	wp := e.waitObject(t, "shop", ck.Name(), 10*time.Second, func(wp *v1.WorkloadProfile) bool { return hasSyscall(wp, "sync") })
	if s := wp.Status.Syscalls["sync"]; !slices.Equal(s.Sources, []string{profiles.SourceComplain}) || wp.Status.Deviations != 1 ||
		len(wp.Status.RecentDeviations) != 1 || !wp.Status.RecentDeviations[0].Absorbed || wp.Status.RecentDeviations[0].Mode != v1.ModeComplain ||
		wp.Status.RecentDeviations[0].Pod != "soft-0" {
		t.Errorf("complain object: sync %+v, deviations %d %+v", s, wp.Status.Deviations, wp.Status.RecentDeviations)
	}
	if slices.Contains(wp.Status.Replicas, "soft-0") == false {
		t.Errorf("replicas %v", wp.Status.Replicas)
	}
	wp = e.waitObject(t, "shop", ek.Name(), 10*time.Second, func(wp *v1.WorkloadProfile) bool { return wp.Status.Deviations > 0 })
	if hasSyscall(wp, "sync") || wp.Status.Deviations != 1 || wp.Status.RecentDeviations[0].Mode != v1.ModeEnforce ||
		wp.Status.RecentDeviations[0].Syscall != "sync" || wp.Status.RecentDeviations[0].Absorbed {
		t.Errorf("enforce object: %+v", wp.Status)
	}
	// The alerts are as before the store: "would be denied" for the
	// complain container's call, "denied" for the enforce one's.
	if !waitFor(5*time.Second, func() bool {
		as := ag.out.alerts(t)
		w, d := detailed(as, "Syscall outside profile would be denied"), detailed(as, "Syscall outside profile denied")
		return len(w) == 1 && len(d) == 1 && w[0].field("container.id") == c.id && d[0].field("container.id") == x.id &&
			w[0].field("k8s.pod.name") == "soft-0" && d[0].field("k8s.pod.name") == "hard-0"
	}) {
		t.Errorf("alerts %+v", ag.out.alerts(t))
	}
	// Only the deviations: an unmarked container's other calls are not
	// learned.
	if len(wp.Status.Syscalls) != 1 {
		t.Errorf("enforce object learned %d syscalls", len(wp.Status.Syscalls))
	}

	// Automatic promotion: off without the annotation (the window has
	// long passed, the object stays in Complain); with
	// sysward.io/auto-promote=3s, the agent promotes it once 3 s passed
	// since the newest evidence (the absorbed sync).
	time.Sleep(3500 * time.Millisecond)
	soft := e.get(t, "shop", ck.Name())
	if soft.Status.Phase != v1.PhaseComplain {
		t.Fatalf("promoted without the annotation: %+v", soft.Status)
	}
	soft.Annotations = map[string]string{v1.AutoPromoteAnnotation: "3s"}
	if _, err := e.sc.Update(ctx, soft); err != nil {
		t.Fatal(err)
	}
	wp = e.waitObject(t, "shop", ck.Name(), 10*time.Second, func(wp *v1.WorkloadProfile) bool { return wp.Status.Phase == v1.PhaseEnforcing })
	// The counter follows the write (CI once read it between the two).
	waitFor(2*time.Second, func() bool { return ag.learner.Stats().Promotions == 1 })
	if wp.Status.PhaseSince.Time.Before(wp.Status.LastDeviation.Add(3*time.Second)) || ag.learner.Stats().Promotions != 1 {
		t.Errorf("promoted at %v, last deviation %v, %d promotions", wp.Status.PhaseSince, wp.Status.LastDeviation, ag.learner.Stats().Promotions)
	}

	// Cleanup, each side its own: the ConfigMap drops its file; the store
	// drops the evil object's entries. A profile a running container
	// uses stays.
	evil = e.get(t, "shop", hk.Name())
	evil.Status.Applied = nil
	if _, err := e.sc.Update(ctx, evil); err != nil {
		t.Fatal(err)
	}
	want = []string{"sysward/" + flatName, ce.LocalhostProfile, ee.LocalhostProfile}
	slices.Sort(want)
	if !waitFor(10*time.Second, func() bool { return slices.Equal(paths(), want) }) {
		t.Fatalf("after the store's cleanup %v, want %v (the flat file kept)", paths(), want)
	}
	configMapDir(t, from, 2, map[string][]byte{})
	want = []string{ce.LocalhostProfile, ee.LocalhostProfile}
	slices.Sort(want)
	if !waitFor(10*time.Second, func() bool { return slices.Equal(paths(), want) }) {
		t.Fatalf("after --install-from's cleanup %v, want %v (the store's kept)", paths(), want)
	}
	// An object deleted while its container runs: its file is kept.
	if err := e.sc.Interface().Delete().Namespace("shop").Resource(v1.Resource).Name(ck.Name()).Do(ctx).Error(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2500 * time.Millisecond)
	if !slices.Equal(paths(), want) {
		t.Errorf("a profile in use was removed: %v", paths())
	}
	c.stop()
	want = []string{ee.LocalhostProfile}
	if !waitFor(10*time.Second, func() bool { return slices.Equal(paths(), want) }) {
		t.Errorf("after its container stopped %v, want %v", paths(), want)
	}
}

// TestStoreRetry: while the store cannot take a merge (the CRD is not
// installed yet) the agent keeps what it saw and backs off; once it can,
// everything arrives, the calls made during the outage included.
func TestStoreRetry(t *testing.T) {
	requireWatch(t)
	testutil.Require(t, testutil.Runc)
	e := newStoreEnvNoCRD(t)
	root, profDir := t.TempDir(), t.TempDir()
	e.namespace(t, "lab", learnLabel)
	c := startRunc(t, root, gatedScript("sync"), nil)
	e.pod(t, "lab", "tool", c.id, "tool:1", nil, nil)
	ag := e.startAgent(t, root, profDir, "", time.Second)
	if !waitFor(10*time.Second, func() bool { return ag.learner.Stats().MergeErrors >= 2 }) {
		t.Fatalf("no failed merges: %+v", ag.learner.Stats())
	}
	c.trigger(t) // made while the store is down
	time.Sleep(1500 * time.Millisecond)
	e.installCRD(t)
	k := store.Key{Namespace: "lab", Kind: "pod", Workload: "tool", Container: "app"}
	wp := e.waitObject(t, "lab", k.Name(), 30*time.Second, func(wp *v1.WorkloadProfile) bool { return hasSyscall(wp, "sync") })
	if !hasSyscall(wp, "execve") || wp.Status.Replicas[0] != "tool" {
		t.Errorf("after the outage: %+v", wp.Status)
	}
	t.Logf("stats: %+v", ag.learner.Stats())
}

// TestStoreRelearnAfterDelete: a WorkloadProfile deleted while its pods
// run (to learn again, or by mistake) is made again with every call the
// running containers made, those sent to the deleted object included. The
// agent sends each call once, so the new object used to get only what was
// new since: an idle container's startup calls never came back.
func TestStoreRelearnAfterDelete(t *testing.T) {
	requireWatch(t)
	testutil.Require(t, testutil.Runc)
	e := newStoreEnv(t)
	root, profDir := t.TempDir(), t.TempDir()
	e.namespace(t, "shop", nil)
	a := startRunc(t, root, gatedScript("sync"), nil)
	e.pod(t, "shop", "web-0", a.id, "web:1", learnLabel, stsOwner("web"))
	ag := e.startAgent(t, root, profDir, "", time.Second)
	web := store.Key{Namespace: "shop", Kind: "statefulset", Workload: "web", Container: "app"}
	old := e.waitObject(t, "shop", web.Name(), 15*time.Second, func(wp *v1.WorkloadProfile) bool {
		return hasSyscall(wp, "nanosleep") || hasSyscall(wp, "clock_nanosleep")
	})
	time.Sleep(2 * time.Second) // everything the container made so far is sent
	old = e.get(t, "shop", web.Name())
	if err := e.sc.Interface().Delete().Namespace("shop").Resource(v1.Resource).Name(web.Name()).Do(context.Background()).Error(); err != nil {
		t.Fatal(err)
	}
	wp := e.waitObject(t, "shop", web.Name(), 10*time.Second, func(wp *v1.WorkloadProfile) bool {
		return wp.UID != old.UID && len(wp.Status.Syscalls) >= len(old.Status.Syscalls)
	})
	for name := range old.Status.Syscalls {
		if !hasSyscall(wp, name) {
			t.Errorf("%s: in the deleted object, not in the new one", name)
		}
	}
	a.trigger(t)
	e.waitObject(t, "shop", web.Name(), 10*time.Second, func(wp *v1.WorkloadProfile) bool { return hasSyscall(wp, "sync") })
	if st := ag.learner.Stats(); st.Conflicts != 0 {
		t.Errorf("stats %+v", st)
	}
}
