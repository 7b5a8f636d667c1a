package kube

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sysward/sysward/detector"
	"github.com/sysward/sysward/internal/kubetest"
	"github.com/sysward/sysward/internal/testutil"
)

// BenchmarkResolverPass measures the pod informer's side of the node agent
// against a real apiserver with 50 pods of one Deployment on the node (two
// containers each): what one pass over the node's pods costs (indexing
// every pod as a relist or resync hands them to the handler, owners cached
// as after the first list) and what enriching one event costs. The
// baseline is listing the node's pods from the apiserver (the informer's
// own relist, client-go decoding included); the other rows are ratios to
// it. The informer does nothing while pods do not change: its idle cost
// per discovery pass is zero, the pass itself is BenchmarkNodeSync
// (internal/watch).
func BenchmarkResolverPass(b *testing.B) {
	testutil.Require(b, testutil.Root, testutil.Binary("etcd"))
	c := kubetest.Start(b, kubetest.ControlPlane)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cs, err := Client(c.Kubeconfig)
	if err != nil {
		b.Fatal(err)
	}
	const ns, node, pods = "bench", "bench-node", 50
	mk := func(err error) {
		b.Helper()
		if err != nil {
			b.Fatal(err)
		}
	}
	_, err = cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	mk(err)
	_, err = cs.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}}, metav1.CreateOptions{})
	mk(err)
	labels := map[string]string{"app": "web"}
	tmpl := corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "x:1"}}}}
	dep, err := cs.AppsV1().Deployments(ns).Create(ctx, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: tmpl}}, metav1.CreateOptions{})
	mk(err)
	rs, err := cs.AppsV1().ReplicaSets(ns).Create(ctx, &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "web-5d8f", OwnerReferences: ref("Deployment", "web", dep.UID)},
		Spec: appsv1.ReplicaSetSpec{Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: tmpl}}, metav1.CreateOptions{})
	mk(err)
	no := false
	for i := 0; i < pods; i++ {
		p, err := cs.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("web-5d8f-%03d", i), OwnerReferences: ref("ReplicaSet", rs.Name, rs.UID),
				Labels: map[string]string{"app": "web", "tier": "front", "pod-template-hash": "5d8f"}},
			Spec: corev1.PodSpec{NodeName: node, AutomountServiceAccountToken: &no,
				Containers: []corev1.Container{{Name: "main", Image: "registry.example:5000/shop/web:1.4"}, {Name: "side", Image: "busybox"}}},
		}, metav1.CreateOptions{})
		mk(err)
		p.Status.ContainerStatuses = []corev1.ContainerStatus{
			{Name: "main", ContainerID: "containerd://" + ctrID(2*i), Image: "registry.example:5000/shop/web:1.4"},
			{Name: "side", ContainerID: "containerd://" + ctrID(2*i+1), Image: "docker.io/library/busybox:latest"},
		}
		_, err = cs.CoreV1().Pods(ns).UpdateStatus(ctx, p, metav1.UpdateOptions{})
		mk(err)
	}
	r := New(cs, node, nil)
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	if err := r.Run(runCtx); err != nil {
		b.Fatal(err)
	}
	// The handler gets the first list after the store syncs.
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) {
		if _, ok := r.Lookup(ctrID(2*pods - 1)); ok {
			break
		}
		if time.Now().After(deadline) {
			b.Fatal("last pod's container not resolved")
		}
	}

	measure := func(n int, f func()) int64 { // median of 5 rounds, by hand (see BenchmarkNodeSync)
		var rounds []int64
		for k := 0; k < 5; k++ {
			start := time.Now()
			for i := 0; i < n; i++ {
				f()
			}
			rounds = append(rounds, time.Since(start).Nanoseconds()/int64(n))
		}
		sort.Slice(rounds, func(i, j int) bool { return rounds[i] < rounds[j] })
		return rounds[2]
	}
	var list *corev1.PodList
	base := measure(20, func() {
		list, err = cs.CoreV1().Pods("").List(ctx, metav1.ListOptions{FieldSelector: "spec.nodeName=" + node})
		if err != nil || len(list.Items) != pods {
			b.Fatalf("list: %v", err)
		}
	})
	pass := measure(200, func() {
		for i := range list.Items {
			r.update(ctx, &list.Items[i])
		}
	})
	ev := &detector.Event{}
	enrich := measure(100000, func() {
		*ev = detector.Event{}
		if !r.Enrich(ctrID(77), ev) {
			b.Fatal("Enrich: unknown container")
		}
	})
	b.ResetTimer()
	b.Logf("\n%-56s %12s %8s\n%-56s %12d %8.2f\n%-56s %12d %8.2g\n%-56s %12d %8.2g",
		fmt.Sprintf("pod informer (%d pods, %d containers)", pods, 2*pods), "ns/op", "ratio",
		"list the node's pods from the apiserver (baseline)", base, 1.0,
		"index every pod (one relist/resync pass, owners cached)", pass, float64(pass)/float64(base),
		"enrich one event (container id -> pod fields)", enrich, float64(enrich)/float64(base))
	for i := 0; i < b.N; i++ {
		for j := range list.Items {
			r.update(ctx, &list.Items[j])
		}
	}
}
