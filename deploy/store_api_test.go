package deploy

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"

	v1 "github.com/sysward/sysward/api/v1alpha1"
	"github.com/sysward/sysward/internal/store"
	"github.com/sysward/sysward/internal/store/storetest"
	"github.com/sysward/sysward/profiles"
)

// storeAPI is a real apiserver with the WorkloadProfile CRD, for the
// agent's --store.
type storeAPI struct {
	api *storetest.API
	kc  kubernetes.Interface
	sc  *store.Client
}

func newStoreAPI(t *testing.T) *storeAPI {
	t.Helper()
	a := storetest.New(t)
	return &storeAPI{api: a, kc: a.Clientset, sc: a.Store}
}

var appliedKey = store.Key{Kind: "deployment", Workload: "applied", Container: "app"}

// appliedObject makes namespace ns (marked for learning) and an object in
// it applying p; it returns the profile's path under the seccomp root.
func (s *storeAPI) appliedObject(t *testing.T, ns string, p *profiles.Profile) string {
	t.Helper()
	ctx := context.Background()
	if _, err := s.kc.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns,
		Labels: map[string]string{v1.LearnLabel: "true"}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	data, err := profiles.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	h := hex.EncodeToString(sum[:])
	k := appliedKey
	k.Namespace = ns
	wp := store.New(k, time.Now())
	wp.Status.Phase = v1.PhaseEnforcing
	wp.Status.Syscalls = map[string]v1.Syscall{"read": {FirstSeen: metav1.Now()}}
	lp := fmt.Sprintf("sysward/%s/%s-v1-enforce-%s.json", ns, k.Name(), h[:12])
	wp.Status.Applied = []v1.AppliedProfile{{Mode: v1.ModeEnforce, Version: 1, LocalhostProfile: lp, Hash: h, Profile: runtime.RawExtension{Raw: data}}}
	if _, err := s.sc.Create(ctx, wp); err != nil {
		t.Fatal(err)
	}
	return lp
}

// deleteApplied deletes appliedObject's object.
func (s *storeAPI) deleteApplied(t *testing.T, ns string) {
	t.Helper()
	k := appliedKey
	k.Namespace = ns
	if err := s.sc.Interface().Delete().Namespace(ns).Resource(v1.Resource).Name(k.Name()).Do(context.Background()).Error(); err != nil {
		t.Fatal(err)
	}
}

// pod makes a bare pod on node-a whose container "app" is the runc
// container id.
func (s *storeAPI) pod(t *testing.T, ns, name, id string) {
	t.Helper()
	ctx := context.Background()
	no := false
	p, err := s.kc.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PodSpec{NodeName: "node-a", AutomountServiceAccountToken: &no, Containers: []corev1.Container{{Name: "app", Image: "b:1"}}}},
		metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app", ContainerID: "containerd://" + id, Image: "b:1"}}
	if _, err := s.kc.CoreV1().Pods(ns).UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// learned reports whether the bare pod's object holds a syscall.
func (s *storeAPI) learned(t *testing.T, ns, pod string) bool {
	k := store.Key{Namespace: ns, Kind: "pod", Workload: pod, Container: "app"}
	wp, err := s.sc.Get(context.Background(), ns, k.Name())
	return err == nil && len(wp.Status.Syscalls) > 0
}
