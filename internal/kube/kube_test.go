package kube

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/sysward/sysward/detector"
	"github.com/sysward/sysward/internal/kubetest"
	"github.com/sysward/sysward/internal/testutil"
)

func ctrID(n int) string { return fmt.Sprintf("%064x", n) }

func ref(kind, name string, uid types.UID) []metav1.OwnerReference {
	api := map[string]string{"ReplicaSet": "apps/v1", "Deployment": "apps/v1", "StatefulSet": "apps/v1",
		"DaemonSet": "apps/v1", "Job": "batch/v1", "CronJob": "batch/v1"}[kind]
	t := true
	return []metav1.OwnerReference{{APIVersion: api, Kind: kind, Name: name, UID: uid, Controller: &t}}
}

// TestResolverAgainstAPIServer runs the resolver against a real apiserver
// as the agent's own ServiceAccount bound by deploy/base/rbac.yaml: pods of
// its node only, container ids from status, owners resolved to the
// workload (ReplicaSet → Deployment, Job → CronJob, StatefulSet, DaemonSet,
// orphan ReplicaSet, bare pod), deletions followed.
func TestResolverAgainstAPIServer(t *testing.T) {
	testutil.Require(t, testutil.Root, testutil.Binary("etcd"))
	c := kubetest.Start(t, kubetest.ControlPlane)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	admin, err := Client(c.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	// The agent's identity and RBAC as deploy/ ships them.
	if _, err := c.KubectlIn("apiVersion: v1\nkind: Namespace\nmetadata: {name: sysward}\n---\napiVersion: v1\nkind: ServiceAccount\nmetadata: {name: sysward, namespace: sysward}\n", "apply", "-f", "-"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Kubectl("apply", "-f", "../../deploy/base/rbac.yaml"); err != nil {
		t.Fatal(err)
	}
	token, err := c.Kubectl("-n", "sysward", "create", "token", "sysward")
	if err != nil {
		t.Fatal(err)
	}
	kc := filepath.Join(t.TempDir(), "agent.kubeconfig")
	os.WriteFile(kc, []byte(fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:6443", certificate-authority: %q}}]
users: [{name: agent, user: {token: %q}}]
contexts: [{name: c, context: {cluster: c, user: agent}}]
current-context: c
`, filepath.Join(c.Dir, "pki/ca.crt"), strings.TrimSpace(token))), 0o600)
	agent, err := Client(kc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := agent.CoreV1().Secrets("sysward").List(ctx, metav1.ListOptions{}); err == nil {
		t.Error("the agent's ServiceAccount can list secrets")
	}

	ns := "shop"
	mk := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	_, err = admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	mk(err)
	_, err = admin.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}}, metav1.CreateOptions{})
	mk(err)
	labels := map[string]string{"app": "web"}
	tmpl := corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "x:1"}}}}
	jobTmpl := *tmpl.DeepCopy()
	jobTmpl.Spec.RestartPolicy = corev1.RestartPolicyNever
	dep, err := admin.AppsV1().Deployments(ns).Create(ctx, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: tmpl}}, metav1.CreateOptions{})
	mk(err)
	rs, err := admin.AppsV1().ReplicaSets(ns).Create(ctx, &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "web-5d8f", OwnerReferences: ref("Deployment", "web", dep.UID)},
		Spec: appsv1.ReplicaSetSpec{Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: tmpl}}, metav1.CreateOptions{})
	mk(err)
	orphan, err := admin.AppsV1().ReplicaSets(ns).Create(ctx, &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "lone"},
		Spec: appsv1.ReplicaSetSpec{Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: tmpl}}, metav1.CreateOptions{})
	mk(err)
	cj, err := admin.BatchV1().CronJobs(ns).Create(ctx, &batchv1.CronJob{ObjectMeta: metav1.ObjectMeta{Name: "backup"},
		Spec: batchv1.CronJobSpec{Schedule: "0 0 * * *", JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: jobTmpl}}}}, metav1.CreateOptions{})
	mk(err)
	suspend := true
	job, err := admin.BatchV1().Jobs(ns).Create(ctx, &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "backup-2917", OwnerReferences: ref("CronJob", "backup", cj.UID)},
		Spec: batchv1.JobSpec{Suspend: &suspend, Template: jobTmpl}}, metav1.CreateOptions{})
	mk(err)

	type podCase struct {
		name, node string
		owner      []metav1.OwnerReference
		workload   string
	}
	cases := []podCase{
		{"web-5d8f-abcde", "node-a", ref("ReplicaSet", rs.Name, rs.UID), "shop/deployment/web"},
		{"lone-xyz", "node-a", ref("ReplicaSet", orphan.Name, orphan.UID), "shop/replicaset/lone"},
		{"backup-2917-q", "node-a", ref("Job", job.Name, job.UID), "shop/cronjob/backup"},
		{"db-0", "node-a", ref("StatefulSet", "db", "u-sts"), "shop/statefulset/db"},
		{"agent-x", "node-a", ref("DaemonSet", "agent", "u-ds"), "shop/daemonset/agent"},
		{"debug", "node-a", nil, "shop/pod/debug"},
		{"elsewhere", "node-b", nil, ""},
	}
	no := false
	for i, pc := range cases {
		p, err := admin.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: pc.name, OwnerReferences: pc.owner, Labels: map[string]string{"app": "web", "tier": "front"}},
			Spec: corev1.PodSpec{NodeName: pc.node, AutomountServiceAccountToken: &no,
				Containers: []corev1.Container{{Name: "main", Image: "registry.example:5000/shop/web:1.4"}, {Name: "side", Image: "busybox"}}},
		}, metav1.CreateOptions{})
		mk(err)
		p.Status.ContainerStatuses = []corev1.ContainerStatus{
			{Name: "main", ContainerID: "containerd://" + ctrID(2*i), Image: "registry.example:5000/shop/web:1.4"},
			{Name: "side", ContainerID: "containerd://" + ctrID(2*i+1), Image: "docker.io/library/busybox:latest"},
		}
		_, err = admin.CoreV1().Pods(ns).UpdateStatus(ctx, p, metav1.UpdateOptions{})
		mk(err)
	}

	r := New(agent, "node-a", nil)
	r.LearnNamespaces() // as the agent's identity: namespaces list/watch granted
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	if err := r.Run(runCtx); err != nil {
		t.Fatal(err)
	}
	for i, pc := range cases {
		got, ok := r.Lookup(ctrID(2 * i))
		if pc.node != "node-a" {
			if ok {
				t.Errorf("%s on %s: seen by node-a's resolver", pc.name, pc.node)
			}
			continue
		}
		if !ok {
			t.Errorf("%s: container %s not found", pc.name, ctrID(2*i))
			continue
		}
		want := Container{Namespace: ns, Pod: pc.name, Labels: []string{"app:web", "tier:front"}, Name: "main",
			Image: "registry.example:5000/shop/web:1.4", Workload: pc.workload, PodUID: got.PodUID, PodCreated: got.PodCreated}
		if fmt.Sprint(got) != fmt.Sprint(want) || got.PodUID == "" || time.Since(got.PodCreated) > time.Minute || got.Learn || r.Marked(got) {
			t.Errorf("%s:\n got %+v\nwant %+v", pc.name, got, want)
		}
	}

	// Falco's fields on an event, usable in rules and rendered as Falco does.
	ev := &detector.Event{Workload: ctrID(0), Container: detector.ContainerInfo{ID: ctrID(1)[:12]}}
	if !r.Enrich(ctrID(1), ev) {
		t.Fatal("Enrich: sidecar not known")
	}
	ev.Normalize()
	if ev.K8s.Namespace != "shop" || ev.K8s.Pod != "web-5d8f-abcde" || ev.Container.Name != "side" || ev.Workload != "shop/deployment/web" ||
		ev.Container.ImageRepository != "busybox" || ev.Container.ImageTag != "" {
		t.Errorf("enriched event %+v %+v %+v", ev.K8s, ev.Container, ev.Workload)
	}
	ev = &detector.Event{Container: detector.ContainerInfo{ID: ctrID(0)[:12]}}
	r.Enrich(ctrID(0), ev)
	ev.Normalize()
	rs2, err := detector.LoadRulesFiles(detector.RulesFile{Name: "inline", Data: []byte(`- rule: web in shop
  desc: t
  condition: k8s.ns.name = shop and k8s.pod.label[tier] = front and sysward.workload = shop/deployment/web and container.image.repository = registry.example:5000/shop/web and container.image.tag = "1.4" and container.name = main
  output: "%k8s.pod.labels|%k8s.pod.uid"
  priority: WARNING
`)})
	if err != nil {
		t.Fatal(err)
	}
	var alerts []*detector.Alert
	eng, err := detector.NewEngine(rs2, &detector.EngineOptions{Sink: detector.AlertFunc(func(a *detector.Alert) { alerts = append(alerts, a) })})
	if err != nil {
		t.Fatal(err)
	}
	eng.Process(ev)
	if len(alerts) != 1 || !strings.HasPrefix(alerts[0].Output, "app:web, tier:front|") || !strings.HasSuffix(alerts[0].Output, ev.K8s.PodUID) {
		t.Errorf("rule on the k8s fields: %d alerts %v", len(alerts), alerts)
	}

	// Marking: the learn label on a pod (its template's) or on its
	// namespace; removing the namespace's label unmarks it.
	p, err := admin.CoreV1().Pods(ns).Get(ctx, "db-0", metav1.GetOptions{})
	mk(err)
	p.Labels["sysward.io/learn"] = "true"
	_, err = admin.CoreV1().Pods(ns).Update(ctx, p, metav1.UpdateOptions{})
	mk(err)
	waitTrue := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not after 10s", what)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitTrue("pod label", func() bool { c, _ := r.Lookup(ctrID(6)); return c.Learn && r.Marked(c) })
	if c, _ := r.Lookup(ctrID(0)); r.Marked(c) {
		t.Error("an unlabelled pod is marked")
	}
	_, err = admin.CoreV1().Namespaces().Patch(ctx, ns, types.MergePatchType, []byte(`{"metadata":{"labels":{"sysward.io/learn":"true"}}}`), metav1.PatchOptions{})
	mk(err)
	waitTrue("namespace label", func() bool { c, _ := r.Lookup(ctrID(0)); return !c.Learn && r.Marked(c) && r.NamespaceMarked(ns) })
	_, err = admin.CoreV1().Namespaces().Patch(ctx, ns, types.MergePatchType, []byte(`{"metadata":{"labels":{"sysward.io/learn":null}}}`), metav1.PatchOptions{})
	mk(err)
	waitTrue("namespace label removed", func() bool { c, _ := r.Lookup(ctrID(0)); return !r.Marked(c) && !r.NamespaceMarked(ns) })

	// Deleted pods are forgotten.
	mk(admin.CoreV1().Pods(ns).Delete(ctx, "debug", metav1.DeleteOptions{GracePeriodSeconds: new(int64)}))
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, ok := r.Lookup(ctrID(10)); !ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("deleted pod still resolved")
		}
		time.Sleep(100 * time.Millisecond)
	}
}
