package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/urfave/cli/v2"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	v1 "github.com/sysward/sysward/api/v1alpha1"
	"github.com/sysward/sysward/internal/kubetest"
	"github.com/sysward/sysward/internal/store"
	"github.com/sysward/sysward/internal/store/storetest"
)

func TestParseWorkload(t *testing.T) {
	for _, c := range []struct {
		in   string
		want workloadRef
		err  string
	}{
		{"web", workloadRef{"deployment", "web"}, ""},
		{"deployment/web", workloadRef{"deployment", "web"}, ""},
		{"deploy/web", workloadRef{"deployment", "web"}, ""},
		{"Deployments.apps/web", workloadRef{"deployment", "web"}, ""},
		{"sts/db", workloadRef{"statefulset", "db"}, ""},
		{"statefulset/db", workloadRef{"statefulset", "db"}, ""},
		{"ds/agent", workloadRef{"daemonset", "agent"}, ""},
		{"cronjob/report", workloadRef{"cronjob", "report"}, ""},
		{"cj/report", workloadRef{"cronjob", "report"}, ""},
		{"job/once", workloadRef{"job", "once"}, ""},
		{"rs/web-5d8f", workloadRef{"replicaset", "web-5d8f"}, ""},
		{"", workloadRef{}, "empty"},
		{"service/web", workloadRef{}, `unknown kind "service"`},
		{"svc/web", workloadRef{}, "job, replicaset or pod"},
		{"po/tool", workloadRef{"pod", "tool"}, ""},
		{"deployment/", workloadRef{}, "name"},
		{"deployment/Web", workloadRef{}, "name"},
		{"deployment/a/b", workloadRef{}, "name"},
		{strings.Repeat("a", 400), workloadRef{}, "longer"},
	} {
		got, err := parseWorkload(c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%.20q: %v, want an error with %q", c.in, err, c.err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%q: %v %v, want %v", c.in, got, err, c.want)
		}
	}
}

func FuzzParseWorkload(f *testing.F) {
	for _, s := range []string{"web", "deploy/web", "sts/db", "cj/x", "a/b/c", "", "/", "DEPLOYMENT/w", "job/" + strings.Repeat("x", 300)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		w, err := parseWorkload(s)
		if err != nil {
			// Input is quoted and clipped: at most 4 bytes (\xNN) for
			// each of 64 input bytes, twice, plus the explanation.
			if len(err.Error()) > 1000 {
				t.Fatalf("unbounded error: %d bytes", len(err.Error()))
			}
			return
		}
		if workloadKinds[w.Kind] != w.Kind || w.Name == "" || len(w.Name) > 253 || strings.Contains(w.Name, "/") {
			t.Fatalf("%q parsed to %+v", s, w)
		}
		again, err := parseWorkload(w.String())
		if err != nil || again != w {
			t.Fatalf("%q -> %v does not parse back: %v %v", s, w, again, err)
		}
	})
}

// TestK8sUsage: bad usage exits 2 naming the flag or argument, before any
// connection is made.
func TestK8sUsage(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "kubeconfig")
	os.WriteFile(bad, []byte("apiVersion: v1\nkind: Config\nclusters: [[[\n"), 0o644)
	t.Setenv("KUBECONFIG", filepath.Join(dir, "none-1")+":"+filepath.Join(dir, "none-2"))
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"no mode", []string{"k8s", "apply", "web"}, "--mode is required"},
		{"bad mode", []string{"k8s", "apply", "web", "--mode", "audit"}, `--mode "audit"`},
		{"no workload", []string{"k8s", "apply", "--mode", "complain"}, "one WORKLOAD"},
		{"two workloads", []string{"k8s", "promote", "a", "b", "--window", "1h"}, "one WORKLOAD"},
		{"bad kind", []string{"k8s", "apply", "svc/web", "--mode", "complain"}, `unknown kind "svc"`},
		{"job", []string{"k8s", "apply", "job/once", "--mode", "complain"}, "CronJob"},
		{"pod", []string{"k8s", "learn", "pod/p"}, "workload"},
		{"timeout without wait", []string{"k8s", "apply", "web", "--mode", "complain", "--timeout", "1m"}, "--timeout needs --wait"},
		{"bad timeout", []string{"k8s", "apply", "web", "--mode", "complain", "--wait", "--timeout", "soon"}, "timeout"},
		{"no window", []string{"k8s", "promote", "web"}, "--window is required"},
		{"negative window", []string{"k8s", "promote", "web", "--window=-1h"}, "--window -1h0m0s: must be positive"},
		{"bad window", []string{"k8s", "promote", "--window", "1 day", "web"}, "window"},
		{"unknown flag after workload", []string{"k8s", "apply", "web", "--mode", "complain", "--bogus"}, "-bogus"},
		{"flag without value", []string{"k8s", "apply", "web", "--mode"}, "-mode"},
		{"bad auto", []string{"k8s", "promote", "web", "--auto", "soon"}, `--auto "soon"`},
		{"auto and window", []string{"k8s", "promote", "web", "--auto", "1h", "--window", "1h"}, "--auto and --window"},
		{"bad output", []string{"k8s", "status", "-o", "xml"}, `--output "xml"`},
		{"bad namespace", []string{"k8s", "status", "-n", "Not_A_Namespace"}, `--namespace "Not_A_Namespace"`},
		{"bad kubeconfig", []string{"k8s", "status", "--kubeconfig", bad}, "--kubeconfig " + bad},
		{"missing kubeconfig", []string{"k8s", "status", "--kubeconfig", filepath.Join(dir, "nope")}, "--kubeconfig " + filepath.Join(dir, "nope")},
		{"KUBECONFIG without files", []string{"k8s", "status"}, "KUBECONFIG=" + filepath.Join(dir, "none-1")},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, _, errs := runCLI(t, c.args...)
			if code != 2 || !strings.Contains(errs, c.want) {
				t.Errorf("exit %d, stderr %q; want 2 and %q", code, errs, c.want)
			}
		})
	}
}

// k8sCluster is a real apiserver with the WorkloadProfile CRD, and a
// kubeconfig split in two files (KUBECONFIG=a:b): the admin context
// "local" (namespace default, current) and a context "shop" (namespace
// shop) in the second file.
type k8sCluster struct {
	api   *kubetest.APIServer
	cs    kubernetes.Interface
	store *store.Client
	kc    string // KUBECONFIG value
}

func newK8sCluster(t *testing.T) *k8sCluster {
	sa := storetest.New(t)
	api := sa.APIServer
	if out, err := api.Kubectl("", "create", "namespace", "shop"); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	second := filepath.Join(api.Dir, "shop.kubeconfig")
	os.WriteFile(second, []byte("apiVersion: v1\nkind: Config\ncontexts: [{name: shop, context: {cluster: local, user: admin, namespace: shop}}]\n"), 0o600)
	cl := &k8sCluster{api: api, kc: api.Kubeconfig + ":" + second, cs: sa.Clientset, store: sa.Store}
	return cl
}

// learnedProfile creates the WorkloadProfile of k as the agents would
// have left it: syscalls from two replicas on two nodes.
func (cl *k8sCluster) learnedProfile(t *testing.T, k store.Key, image string, names ...string) *v1.WorkloadProfile {
	t.Helper()
	now := time.Now()
	wp := store.New(k, now)
	for i, pod := range []string{"web-a", "web-b"} {
		d := &store.Delta{Key: k, Image: image, Pod: pod, Node: fmt.Sprintf("node-%d", i), Traced: map[string]store.Seen{}}
		for _, n := range names {
			d.Traced[n] = store.Seen{Arches: []string{"SCMP_ARCH_X86_64"}, First: now.Add(-time.Minute)}
		}
		if _, err := store.Apply(wp, d, now); err != nil {
			t.Fatal(err)
		}
	}
	out, err := cl.store.Create(context.Background(), wp)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func (cl *k8sCluster) get(t *testing.T, k store.Key) *v1.WorkloadProfile {
	t.Helper()
	wp, err := cl.store.Get(context.Background(), k.Namespace, k.Name())
	if err != nil {
		t.Fatal(err)
	}
	return wp
}

func (cl *k8sCluster) deployment(t *testing.T, ns, name string) *appsv1.Deployment {
	t.Helper()
	d, err := cl.cs.AppsV1().Deployments(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// webDeployment: two containers, app (learned) and sidecar (not), each
// with fields apply must leave alone.
func webDeployment() *appsv1.Deployment {
	labels := map[string]string{"app": "web"}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](3),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels, Annotations: map[string]string{"team": "payments"}},
				Spec: corev1.PodSpec{
					SecurityContext: &corev1.PodSecurityContext{RunAsNonRoot: ptr.To(true)},
					Containers: []corev1.Container{
						{Name: "app", Image: "registry.example/web:1", Args: []string{"--port", "8080"},
							Env:             []corev1.EnvVar{{Name: "MODE", Value: "a"}},
							SecurityContext: &corev1.SecurityContext{RunAsUser: ptr.To[int64](1000), ReadOnlyRootFilesystem: ptr.To(true)}},
						{Name: "sidecar", Image: "registry.example/proxy:2",
							SecurityContext: &corev1.SecurityContext{SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}}},
					},
				},
			},
		},
	}
}

// TestK8sCommands runs status, apply, promote and learn against a real
// apiserver with the CRD installed.
func TestK8sCommands(t *testing.T) {
	cl := newK8sCluster(t)
	ctx := context.Background()
	t.Setenv("KUBECONFIG", cl.kc)
	if _, err := cl.cs.AppsV1().Deployments("shop").Create(ctx, webDeployment(), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	app := store.Key{Namespace: "shop", Kind: "deployment", Workload: "web", Container: "app"}
	cl.learnedProfile(t, app, "registry.example/web:1", "read", "write", "openat", "epoll_wait", "accept4")
	// Another workload elsewhere, for -A.
	other := store.Key{Namespace: "default", Kind: "statefulset", Workload: "db", Container: "postgres"}
	cl.learnedProfile(t, other, "postgres:16", "read", "fsync")

	t.Run("status", func(t *testing.T) {
		code, out, errs := runCLI(t, "k8s", "status", "--context", "shop")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errs)
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) != 2 || !strings.HasPrefix(lines[0], "WORKLOAD") {
			t.Fatalf("table:\n%s", out)
		}
		wp := cl.get(t, app)
		f := strings.Fields(lines[1])
		want := []string{"deployment/web", "app", "Learning", "1", fmt.Sprint(wp.Status.SyscallCount), "2", "2"}
		if !reflect.DeepEqual(f[:len(want)], want) || f[len(f)-2] != "0" || f[len(f)-1] != "<none>" {
			t.Fatalf("row %q, want %q ... 0 <none>", f, want)
		}
		// The current context is "local" (namespace default).
		code, out, _ = runCLI(t, "k8s", "status")
		if code != 0 || !strings.Contains(out, "statefulset/db") || strings.Contains(out, "deployment/web") {
			t.Fatalf("default namespace: exit %d\n%s", code, out)
		}
		code, out, _ = runCLI(t, "k8s", "status", "-A", "-o", "wide")
		if code != 0 || !strings.HasPrefix(out, "NAMESPACE") || !strings.Contains(out, "registry.example/web:1") ||
			!strings.Contains(out, "statefulset/db") || !strings.Contains(out, "deployment/web") {
			t.Fatalf("-A -o wide: exit %d\n%s", code, out)
		}
		code, out, _ = runCLI(t, "k8s", "status", "-n", "shop", "deploy/web", "-o", "json")
		var list v1.WorkloadProfileList
		if code != 0 || json.Unmarshal([]byte(out), &list) != nil || len(list.Items) != 1 || list.Items[0].Spec.Container != "app" || list.Kind != "WorkloadProfileList" {
			t.Fatalf("-o json: exit %d\n%s", code, out)
		}
		code, out, _ = runCLI(t, "k8s", "status", "-n", "shop", "-o", "yaml")
		if code != 0 || !strings.Contains(out, "kind: WorkloadProfileList") || !strings.Contains(out, "container: app") {
			t.Fatalf("-o yaml: exit %d\n%s", code, out)
		}
		code, _, errs = runCLI(t, "k8s", "status", "-n", "shop", "deployment/nope")
		if code != 1 || !strings.Contains(errs, "no WorkloadProfile for deployment/nope in namespace shop") {
			t.Fatalf("unknown workload: exit %d, %q", code, errs)
		}
		code, out, errs = runCLI(t, "k8s", "status", "-n", "kube-public")
		if code != 0 || out != "" || !strings.Contains(errs, "No WorkloadProfiles found in namespace kube-public") {
			t.Fatalf("empty namespace: exit %d, %q %q", code, out, errs)
		}
		code, _, errs = runCLI(t, "k8s", "status", "--context", "nope")
		if code != 2 || !strings.Contains(errs, `--context "nope": no such context in the kubeconfig (it has local, shop)`) {
			t.Fatalf("unknown context: exit %d, %q", code, errs)
		}
		// --kubeconfig wins over KUBECONFIG: its one file has no "shop".
		code, out, errs = runCLI(t, "k8s", "status", "--kubeconfig", cl.api.Kubeconfig, "-n", "shop")
		if code != 0 || !strings.Contains(out, "deployment/web") {
			t.Fatalf("--kubeconfig -n shop: exit %d, %q %q", code, out, errs)
		}
		code, _, errs = runCLI(t, "k8s", "status", "--kubeconfig", cl.api.Kubeconfig, "--context", "shop")
		if code != 2 || !strings.Contains(errs, `--context "shop"`) {
			t.Fatalf("--kubeconfig without the context: exit %d, %q", code, errs)
		}
	})

	t.Run("apply refusals", func(t *testing.T) {
		for _, c := range []struct {
			args []string
			code int
			want string
		}{
			{[]string{"apply", "web", "--mode", "enforce"}, 1, "is in Learning: run `sysward k8s apply deployment/web --mode complain` first"},
			{[]string{"apply", "deployment/nope", "--mode", "complain"}, 1, "deployment/nope not found in namespace shop"},
			{[]string{"apply", "web", "--mode", "complain", "--container", "db"}, 2, `--container "db": deployment/web has no such container (it has app, sidecar)`},
			{[]string{"apply", "web", "--mode", "complain", "-c", "sidecar"}, 1, "container sidecar of deployment/web has no WorkloadProfile"},
			{[]string{"promote", "web", "--window", "1h"}, 1, "is in Learning"},
		} {
			code, _, errs := runCLI(t, append([]string{"k8s"}, append(c.args, "--context", "shop")...)...)
			if code != c.code || !strings.Contains(errs, c.want) {
				t.Errorf("%q: exit %d, stderr %q; want %d and %q", c.args, code, errs, c.code, c.want)
			}
		}
		if wp := cl.get(t, app); wp.Status.Phase != v1.PhaseLearning || len(wp.Status.Applied) != 0 {
			t.Fatalf("refusals changed the object: %s, %d applied", wp.Status.Phase, len(wp.Status.Applied))
		}
	})

	var complainPath string
	t.Run("apply complain", func(t *testing.T) {
		before := cl.deployment(t, "shop", "web")
		code, out, errs := runCLI(t, "k8s", "apply", "web", "-n", "shop", "--mode", "complain")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errs)
		}
		wp := cl.get(t, app)
		if wp.Status.Phase != v1.PhaseComplain || len(wp.Status.Applied) != 1 || wp.Status.Applied[0].Mode != v1.ModeComplain {
			t.Fatalf("object after apply: %s, %+v", wp.Status.Phase, wp.Status.Applied)
		}
		complainPath = wp.Status.Applied[0].LocalhostProfile
		if !strings.Contains(out, complainPath) || !strings.Contains(out, "Learning -> Complain") || !strings.Contains(errs, "container sidecar: left as it is") ||
			!strings.Contains(out, "then 'sysward k8s promote deployment/web --window DURATION -n shop'") {
			t.Fatalf("output %q, stderr %q", out, errs)
		}
		// The template: exactly app's seccompProfile changed.
		after := cl.deployment(t, "shop", "web")
		want := before.Spec.DeepCopy()
		want.Template.Spec.Containers[0].SecurityContext.SeccompProfile = &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeLocalhost, LocalhostProfile: ptr.To(complainPath)}
		if !reflect.DeepEqual(*want, after.Spec) {
			t.Fatalf("template after apply:\n%+v\nwant\n%+v", after.Spec.Template.Spec, want.Template.Spec)
		}
		if after.Generation != before.Generation+1 {
			t.Fatalf("generation %d -> %d", before.Generation, after.Generation)
		}
		// The applied profile is the SCMP_ACT_LOG variant, and what the
		// agents write hashes to the entry's hash.
		if _, err := store.AppliedFile(&wp.Status.Applied[0]); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(wp.Status.Applied[0].Profile.Raw), `"SCMP_ACT_LOG"`) {
			t.Fatal("complain profile without SCMP_ACT_LOG")
		}
		// Again: same content, no new entry, same template.
		if code, _, errs := runCLI(t, "k8s", "apply", "web", "-n", "shop", "--mode", "complain"); code != 0 {
			t.Fatalf("again: exit %d: %s", code, errs)
		}
		if wp := cl.get(t, app); len(wp.Status.Applied) != 1 {
			t.Fatalf("again: %d applied", len(wp.Status.Applied))
		}
		code, _, errs = runCLI(t, "k8s", "apply", "web", "-n", "shop", "--mode", "enforce")
		if code != 1 || !strings.Contains(errs, "is in Complain: promote it first") {
			t.Fatalf("enforce before promote: exit %d, %q", code, errs)
		}
		code, out, _ = runCLI(t, "k8s", "status", "--context", "shop")
		if code != 0 || !strings.Contains(out, "Complain") || !strings.HasSuffix(strings.TrimSpace(out), "complain") {
			t.Fatalf("status after apply: %s", out)
		}
	})

	t.Run("promote", func(t *testing.T) {
		code, _, errs := runCLI(t, "k8s", "promote", "web", "-n", "shop", "--window", "1h")
		if code != 1 || !strings.Contains(errs, "in Complain only since") || !strings.Contains(errs, "to go") {
			t.Fatalf("just in complain: exit %d, %q", code, errs)
		}
		// Age the evidence in the object: complain for 3h, syscalls 2h
		// old, a complain-mode deviation 20 minutes ago.
		now := time.Now()
		devAt := metav1.NewTime(now.Add(-20 * time.Minute).Truncate(time.Second))
		age := func(mutate func(*v1.WorkloadProfile)) {
			t.Helper()
			if _, _, err := cl.store.Modify(ctx, app.Namespace, app.Name(), nil, nil, func(o *v1.WorkloadProfile) error {
				mutate(o)
				return nil
			}); err != nil {
				t.Fatal(err)
			}
		}
		age(func(o *v1.WorkloadProfile) {
			o.Status.PhaseSince = ptr.To(metav1.NewTime(now.Add(-3 * time.Hour)))
			for n, s := range o.Status.Syscalls {
				s.FirstSeen = metav1.NewTime(now.Add(-2 * time.Hour).Truncate(time.Second))
				o.Status.Syscalls[n] = s
			}
			o.Status.LastNewSyscall = ptr.To(metav1.NewTime(now.Add(-2 * time.Hour).Truncate(time.Second)))
			o.Status.RecentDeviations = []v1.Deviation{{Syscall: "connect", Time: devAt, Pod: "web-7", Node: "node-3", Mode: v1.ModeComplain, Absorbed: true}}
			o.Status.Deviations, o.Status.LastDeviation = 1, &devAt
		})
		code, _, errs = runCLI(t, "k8s", "promote", "web", "-n", "shop", "--window", "1h")
		for _, want := range []string{"complain-mode deviation connect", "web-7", "node-3", devAt.UTC().Format(time.RFC3339), "the window is 1h0m0s", "to go"} {
			if !strings.Contains(errs, want) {
				t.Errorf("refusal %q does not say %q", errs, want)
			}
		}
		if !strings.Contains(errs, "39m") && !strings.Contains(errs, "40m") {
			t.Errorf("refusal %q does not say how long is left (40m)", errs)
		}
		if code != 1 || cl.get(t, app).Status.Phase != v1.PhaseComplain {
			t.Fatalf("recent deviation: exit %d", code)
		}
		// A shorter window is met.
		code, out, errs := runCLI(t, "k8s", "promote", "web", "-n", "shop", "--window", "15m")
		if code != 0 || !strings.Contains(out, "promoted to Enforcing") || !strings.Contains(out, "next: sysward k8s apply deployment/web --mode enforce -n shop") {
			t.Fatalf("window met: exit %d, %q %q", code, out, errs)
		}
		if wp := cl.get(t, app); wp.Status.Phase != v1.PhaseEnforcing {
			t.Fatalf("phase %s", wp.Status.Phase)
		}
		code, out, _ = runCLI(t, "k8s", "promote", "web", "-n", "shop", "--window", "15m")
		if code != 0 || !strings.Contains(out, "already Enforcing") {
			t.Fatalf("again: exit %d, %q", code, out)
		}
	})

	t.Run("apply enforce keeps what pods use", func(t *testing.T) {
		// A pod still running under the complain profile.
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-old", Namespace: "shop"}, Spec: corev1.PodSpec{
			Containers: []corev1.Container{{Name: "app", Image: "registry.example/web:1", SecurityContext: &corev1.SecurityContext{
				SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeLocalhost, LocalhostProfile: ptr.To(complainPath)}}}}}}
		if _, err := cl.cs.CoreV1().Pods("shop").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		code, out, errs := runCLI(t, "k8s", "apply", "--mode", "enforce", "web", "--context", "shop")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errs)
		}
		wp := cl.get(t, app)
		last := wp.Status.Applied[len(wp.Status.Applied)-1]
		if len(wp.Status.Applied) != 2 || last.Mode != v1.ModeEnforce || wp.Status.Applied[0].LocalhostProfile != complainPath {
			t.Fatalf("applied %+v", wp.Status.Applied)
		}
		if !strings.Contains(out, last.LocalhostProfile) || !strings.Contains(out, "EPERM") {
			t.Fatalf("output %q", out)
		}
		d := cl.deployment(t, "shop", "web")
		if got := d.Spec.Template.Spec.Containers[0].SecurityContext.SeccompProfile; *got.LocalhostProfile != last.LocalhostProfile {
			t.Fatalf("template names %s", *got.LocalhostProfile)
		}
		if d.Spec.Template.Spec.Containers[1].SecurityContext.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
			t.Fatal("sidecar changed")
		}
		// The pod is gone: the complain profile goes on the next apply.
		if err := cl.cs.CoreV1().Pods("shop").Delete(ctx, "web-old", metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}); err != nil {
			t.Fatal(err)
		}
		code, out, errs = runCLI(t, "k8s", "apply", "--mode", "enforce", "web", "--context", "shop")
		if code != 0 || !strings.Contains(out, "removed applied profile "+complainPath) {
			t.Fatalf("exit %d, %q %q", code, out, errs)
		}
		if wp := cl.get(t, app); len(wp.Status.Applied) != 1 || wp.Status.Applied[0].Mode != v1.ModeEnforce {
			t.Fatalf("applied after the pod went: %+v", wp.Status.Applied)
		}
	})

	t.Run("wait", func(t *testing.T) {
		// Back to complain; no controller runs, so the rollout never ends.
		code, out, errs := runCLI(t, "k8s", "apply", "web", "-n", "shop", "--mode", "complain", "--wait", "--timeout", "2s")
		if code != 1 || !strings.Contains(errs, "deployment/web: rollout not finished after 2s") {
			t.Fatalf("exit %d, %q %q", code, out, errs)
		}
		if wp := cl.get(t, app); wp.Status.Phase != v1.PhaseComplain {
			t.Fatalf("back off to complain: %s", wp.Status.Phase)
		}
		// A stand-in for the deployment controller: once it reports the
		// new generation rolled out, --wait returns.
		stop := make(chan struct{})
		defer close(stop)
		go func() {
			for {
				select {
				case <-stop:
					return
				case <-time.After(300 * time.Millisecond):
				}
				d, err := cl.cs.AppsV1().Deployments("shop").Get(ctx, "web", metav1.GetOptions{})
				if err != nil || d.Status.ObservedGeneration >= d.Generation {
					continue
				}
				d.Status = appsv1.DeploymentStatus{ObservedGeneration: d.Generation, Replicas: 3, UpdatedReplicas: 3, ReadyReplicas: 3, AvailableReplicas: 3}
				cl.cs.AppsV1().Deployments("shop").UpdateStatus(ctx, d, metav1.UpdateOptions{})
			}
		}()
		// Change the profile so the template changes: a new syscall absorbed.
		if _, _, err := cl.store.Modify(ctx, app.Namespace, app.Name(), nil, nil, func(o *v1.WorkloadProfile) error {
			_, err := store.Apply(o, &store.Delta{Key: app, Image: "registry.example/web:1", Pod: "web-a", Node: "node-0",
				Complain: map[string]store.Seen{"connect": {First: time.Now()}}}, time.Now())
			return err
		}); err != nil {
			t.Fatal(err)
		}
		code, out, errs = runCLI(t, "k8s", "apply", "web", "-n", "shop", "--mode", "complain", "--wait", "--timeout", "30s")
		if code != 0 || !strings.Contains(out, "deployment/web: rolled out") {
			t.Fatalf("exit %d, %q %q", code, out, errs)
		}
	})

	t.Run("drift", func(t *testing.T) {
		// A pod of the old image still runs under the version 1 profile
		// the template names now.
		v1Path := *cl.deployment(t, "shop", "web").Spec.Template.Spec.Containers[0].SecurityContext.SeccompProfile.LocalhostProfile
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-v1", Namespace: "shop"}, Spec: corev1.PodSpec{
			Containers: []corev1.Container{{Name: "app", Image: "registry.example/web:1", SecurityContext: &corev1.SecurityContext{
				SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeLocalhost, LocalhostProfile: ptr.To(v1Path)}}}}}}
		if _, err := cl.cs.CoreV1().Pods("shop").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		// The new image's first report starts version 2, in Learning.
		now := time.Now()
		if _, _, err := cl.store.Modify(ctx, app.Namespace, app.Name(), nil, nil, func(o *v1.WorkloadProfile) error {
			_, err := store.Apply(o, &store.Delta{Key: app, Image: "registry.example/web:2", Pod: "web-n", Node: "node-0", PodCreated: now,
				Traced: map[string]store.Seen{"read": {First: now}, "write": {First: now}, "openat": {First: now}}}, now)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		code, out, _ := runCLI(t, "k8s", "status", "-n", "shop", "web")
		if f := strings.Fields(strings.Split(out, "\n")[1]); code != 0 || f[2] != "Learning" || f[3] != "2" {
			t.Fatalf("status after drift: %s", out)
		}
		// The template still runs image 1: version 2's profile is not for it.
		code, _, errs := runCLI(t, "k8s", "apply", "web", "-n", "shop", "--mode", "complain")
		if code != 1 || !strings.Contains(errs, "container app runs image registry.example/web:1, its profile (version 2) was learned from registry.example/web:2") {
			t.Fatalf("image mismatch: exit %d, %q", code, errs)
		}
		if _, err := cl.cs.AppsV1().Deployments("shop").Patch(ctx, "web", types.StrategicMergePatchType,
			[]byte(`{"spec":{"template":{"spec":{"containers":[{"name":"app","image":"registry.example/web:2"}]}}}}`), metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
		code, out, errs = runCLI(t, "k8s", "apply", "web", "-n", "shop", "--mode", "complain")
		if code != 0 || !strings.Contains(out, "-v2-complain-") {
			t.Fatalf("apply v2: exit %d, %q %q", code, out, errs)
		}
		wp := cl.get(t, app)
		var paths []string
		for _, a := range wp.Status.Applied {
			paths = append(paths, a.LocalhostProfile)
		}
		if len(paths) != 2 || paths[0] != v1Path || !strings.Contains(paths[1], "-v2-complain-") {
			t.Fatalf("applied after drift: %q (the v1 profile a pod uses must stay)", paths)
		}
		if err := cl.cs.CoreV1().Pods("shop").Delete(ctx, "web-v1", metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}); err != nil {
			t.Fatal(err)
		}
		code, out, _ = runCLI(t, "k8s", "apply", "web", "-n", "shop", "--mode", "complain")
		if code != 0 || !strings.Contains(out, "removed applied profile "+v1Path) || len(cl.get(t, app).Status.Applied) != 1 {
			t.Fatalf("old version's profile once no pod uses it: exit %d, %q", code, out)
		}
	})

	t.Run("learn", func(t *testing.T) {
		code, out, errs := runCLI(t, "k8s", "learn", "web", "-n", "shop")
		if code != 0 || !strings.Contains(out, "kubectl label ns shop sysward.io/learn=true") {
			t.Fatalf("exit %d, %q %q", code, out, errs)
		}
		d := cl.deployment(t, "shop", "web")
		if d.Spec.Template.Labels[v1.LearnLabel] != "true" || d.Spec.Template.Labels["app"] != "web" {
			t.Fatalf("labels %v", d.Spec.Template.Labels)
		}
		code, out, _ = runCLI(t, "k8s", "learn", "web", "-n", "shop")
		if code != 0 || !strings.Contains(out, "already marked") {
			t.Fatalf("again: %d %q", code, out)
		}
		code, _, errs = runCLI(t, "k8s", "learn", "web", "-n", "shop", "--off")
		if code != 0 {
			t.Fatalf("--off: exit %d, %s", code, errs)
		}
		d = cl.deployment(t, "shop", "web")
		if _, ok := d.Spec.Template.Labels[v1.LearnLabel]; ok || d.Spec.Template.Labels["app"] != "web" {
			t.Fatalf("labels after --off %v", d.Spec.Template.Labels)
		}
		code, _, errs = runCLI(t, "k8s", "learn", "statefulset/nope", "-n", "shop")
		if code != 1 || !strings.Contains(errs, "statefulset/nope not found in namespace shop") {
			t.Fatalf("unknown workload: %d %q", code, errs)
		}
	})

	t.Run("auto promote", func(t *testing.T) {
		code, out, errs := runCLI(t, "k8s", "promote", "web", "-n", "shop", "--auto", "90m")
		if code != 0 || !strings.Contains(out, "sysward.io/auto-promote=1h30m0s") {
			t.Fatalf("exit %d, %q %q", code, out, errs)
		}
		if d, ok, err := store.AutoPromoteWindow(cl.get(t, app)); d != 90*time.Minute || !ok || err != nil {
			t.Fatalf("annotation read back: %v %v %v", d, ok, err)
		}
		code, out, errs = runCLI(t, "k8s", "promote", "web", "-n", "shop", "--auto", "off", "-c", "app")
		if code != 0 || !strings.Contains(out, "automatic promotion off") {
			t.Fatalf("off: exit %d, %q %q", code, out, errs)
		}
		if _, ok := cl.get(t, app).Annotations[v1.AutoPromoteAnnotation]; ok {
			t.Fatal("annotation left after --auto off")
		}
		code, _, errs = runCLI(t, "k8s", "promote", "web", "-n", "shop", "--auto", "off", "-c", "sidecar")
		if code != 1 || !strings.Contains(errs, `--container "sidecar": deployment/web has no WorkloadProfile for that container`) {
			t.Fatalf("container without a profile: exit %d, %q", code, errs)
		}
	})

	t.Run("cronjob", func(t *testing.T) {
		cj := &batchv1.CronJob{ObjectMeta: metav1.ObjectMeta{Name: "report", Namespace: "shop"}, Spec: batchv1.CronJobSpec{
			Schedule: "0 * * * *",
			JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
				RestartPolicy: corev1.RestartPolicyOnFailure,
				Containers:    []corev1.Container{{Name: "report", Image: "report:1", Command: []string{"/report"}}},
			}}}},
		}}
		if _, err := cl.cs.BatchV1().CronJobs("shop").Create(ctx, cj, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		k := store.Key{Namespace: "shop", Kind: "cronjob", Workload: "report", Container: "report"}
		cl.learnedProfile(t, k, "report:1", "read", "write")
		code, out, errs := runCLI(t, "k8s", "apply", "cj/report", "-n", "shop", "--mode", "complain", "--wait")
		if code != 0 || !strings.Contains(out, "no rollout") {
			t.Fatalf("exit %d, %q %q", code, out, errs)
		}
		got, err := cl.cs.BatchV1().CronJobs("shop").Get(ctx, "report", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		c := got.Spec.JobTemplate.Spec.Template.Spec.Containers[0]
		wp := cl.get(t, k)
		if c.SecurityContext == nil || *c.SecurityContext.SeccompProfile.LocalhostProfile != wp.Status.Applied[0].LocalhostProfile || c.Command[0] != "/report" {
			t.Fatalf("cronjob container %+v", c)
		}
	})

	t.Run("no CRD", func(t *testing.T) {
		if out, err := cl.api.Kubectl("", "delete", "crd", "workloadprofiles.sysward.io", "--wait"); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		code, _, errs := runCLI(t, "k8s", "status", "-A")
		if code != 1 || !strings.Contains(errs, "is the WorkloadProfile CRD installed?") {
			t.Fatalf("exit %d, %q", code, errs)
		}
	})
}

// TestRolloutStatus: --wait ends when kubectl rollout status would.
func TestRolloutStatus(t *testing.T) {
	dep := func(gen, observed int64, replicas, total, updated, available int32, cond string) *appsv1.Deployment {
		d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web", Generation: gen}, Spec: appsv1.DeploymentSpec{Replicas: ptr.To(replicas)},
			Status: appsv1.DeploymentStatus{ObservedGeneration: observed, Replicas: total, UpdatedReplicas: updated, AvailableReplicas: available}}
		if cond != "" {
			d.Status.Conditions = []appsv1.DeploymentCondition{{Type: appsv1.DeploymentProgressing, Reason: cond}}
		}
		return d
	}
	for _, c := range []struct {
		name string
		d    *appsv1.Deployment
		gen  int64
		done bool
		msg  string
		err  bool
	}{
		{"not observed", dep(3, 2, 3, 3, 3, 3, ""), 3, false, "observe", false},
		{"patch generation not observed", dep(2, 2, 3, 3, 3, 3, ""), 3, false, "observe", false},
		{"updating", dep(3, 3, 3, 3, 1, 1, ""), 3, false, "1 of 3 new replicas updated", false},
		{"old pending", dep(3, 3, 3, 4, 3, 3, ""), 3, false, "1 old replicas pending termination", false},
		{"unavailable", dep(3, 3, 3, 3, 3, 2, ""), 3, false, "2 of 3 updated replicas available", false},
		{"deadline", dep(3, 3, 3, 3, 1, 1, "ProgressDeadlineExceeded"), 3, false, "", true},
		{"done", dep(3, 3, 3, 3, 3, 3, ""), 3, true, "", false},
	} {
		msg, done, err := deploymentRollout(c.d, c.gen)
		if done != c.done || (err != nil) != c.err || !strings.Contains(msg, c.msg) {
			t.Errorf("deployment %s: %q %v %v", c.name, msg, done, err)
		}
	}
	sts := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Generation: 2}, Spec: appsv1.StatefulSetSpec{Replicas: ptr.To[int32](3)},
		Status: appsv1.StatefulSetStatus{ObservedGeneration: 2, ReadyReplicas: 3, UpdatedReplicas: 1, CurrentRevision: "a", UpdateRevision: "b"}}
	if msg, done := statefulSetRollout(sts, 2); done || !strings.Contains(msg, "1 of 3 pods at the new revision") {
		t.Errorf("statefulset rolling: %q %v", msg, done)
	}
	sts.Spec.UpdateStrategy.RollingUpdate = &appsv1.RollingUpdateStatefulSetStrategy{Partition: ptr.To[int32](2)}
	if _, done := statefulSetRollout(sts, 2); !done {
		t.Error("statefulset with partition 2: 1 updated pod is the whole rollout")
	}
	sts.Spec.UpdateStrategy = appsv1.StatefulSetUpdateStrategy{Type: appsv1.OnDeleteStatefulSetStrategyType}
	if _, done := statefulSetRollout(sts, 2); !done {
		t.Error("statefulset OnDelete: nothing to wait for")
	}
	ds := &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Generation: 4}, Status: appsv1.DaemonSetStatus{ObservedGeneration: 4, DesiredNumberScheduled: 5, UpdatedNumberScheduled: 5, NumberAvailable: 4}}
	if msg, done := daemonSetRollout(ds, 4); done || !strings.Contains(msg, "4 of 5 updated pods available") {
		t.Errorf("daemonset: %q %v", msg, done)
	}
	ds.Status.NumberAvailable = 5
	if _, done := daemonSetRollout(ds, 4); !done {
		t.Error("daemonset rolled out")
	}
	if _, done := daemonSetRollout(ds, 5); done {
		t.Error("daemonset: generation of the patch not observed yet")
	}
}

// TestInterspersed: flags after WORKLOAD mean what they mean before it.
func TestInterspersed(t *testing.T) {
	type got struct {
		ns, mode  string
		wait      bool
		timeout   time.Duration
		container []string
		pos       []string
	}
	run := func(args ...string) (got, error) {
		var g got
		app := &cli.App{Name: "x", Writer: io.Discard, ErrWriter: io.Discard, Commands: []*cli.Command{{
			Name: "apply",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "namespace", Aliases: []string{"n"}},
				&cli.StringFlag{Name: "mode"},
				&cli.BoolFlag{Name: "wait"},
				&cli.DurationFlag{Name: "timeout", Value: time.Minute},
				&cli.StringSliceFlag{Name: "container", Aliases: []string{"c"}},
			},
			Action: func(c *cli.Context) error {
				pos, err := interspersed(c)
				g = got{c.String("namespace"), c.String("mode"), c.Bool("wait"), c.Duration("timeout"), c.StringSlice("container"), pos}
				return err
			},
		}}}
		err := app.Run(append([]string{"x", "apply"}, args...))
		return g, err
	}
	want := got{"shop", "enforce", true, 2 * time.Second, []string{"app"}, []string{"web"}}
	for _, args := range [][]string{
		{"-n", "shop", "--mode", "enforce", "--wait", "--timeout", "2s", "-c", "app", "web"},
		{"web", "-n", "shop", "--mode=enforce", "--wait", "--timeout", "2s", "-c", "app"},
		{"--wait", "web", "--namespace", "shop", "-mode", "enforce", "--timeout=2s", "--container", "app"},
		{"-n", "shop", "web", "--mode", "enforce", "--wait=true", "--timeout", "2s", "-c=app"},
	} {
		g, err := run(args...)
		if err != nil || !reflect.DeepEqual(g, want) {
			t.Errorf("%q: %+v %v", args, g, err)
		}
	}
	if g, err := run("web", "-c", "a", "--", "-c", "b"); err != nil || !reflect.DeepEqual(g.pos, []string{"web", "-c", "b"}) || !reflect.DeepEqual(g.container, []string{"a"}) {
		t.Errorf("after --: %+v %v", g, err)
	}
	if g, err := run("-c", "a", "web", "-c", "b"); err != nil || !reflect.DeepEqual(g.container, []string{"a", "b"}) {
		t.Errorf("-c before and after: %+v %v", g, err)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"web", "--timeout", "soon"}, `invalid value "soon" for flag -timeout`},
		{[]string{"web", "--nope"}, "flag provided but not defined: -nope"},
		{[]string{"web", "--mode"}, "flag needs an argument: -mode"},
	} {
		if _, err := run(c.args...); err == nil || !strings.Contains(err.Error(), c.want) || exitCode(err, io.Discard) != 2 {
			t.Errorf("%q: %v, want exit 2 and %q", c.args, err, c.want)
		}
	}
}

// TestK8sApplyAllOrNothing: apply refused for one container writes none:
// the other container moved to Complain with its pods left unpatched
// would stop learning (Complain does not take what pods trace). promote
// too: one container frozen while another stays in Complain blocks
// apply --mode enforce, and the frozen one stops absorbing.
func TestK8sApplyAllOrNothing(t *testing.T) {
	cl := newK8sCluster(t)
	ctx := context.Background()
	t.Setenv("KUBECONFIG", cl.kc)
	d := webDeployment()
	d.Spec.Template.Spec.Containers[1].SecurityContext = nil
	if _, err := cl.cs.AppsV1().Deployments("shop").Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	app := store.Key{Namespace: "shop", Kind: "deployment", Workload: "web", Container: "app"}
	cl.learnedProfile(t, app, "registry.example/web:1", "read", "write")
	// The sidecar's object exists, with nothing learned yet (only refused calls reported).
	side := store.Key{Namespace: "shop", Kind: "deployment", Workload: "web", Container: "sidecar"}
	wp := store.New(side, time.Now())
	if _, err := store.Apply(wp, &store.Delta{Key: side, Image: "registry.example/proxy:2", Pod: "web-a", Denied: map[string]store.Seen{"ptrace": {}}}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.store.Create(ctx, wp); err != nil {
		t.Fatal(err)
	}
	code, _, errs := runCLI(t, "k8s", "apply", "web", "-n", "shop", "--mode", "complain")
	if code != 1 || !strings.Contains(errs, "no syscalls learned") || !strings.Contains(errs, "sidecar") {
		t.Fatalf("exit %d, stderr %q; want 1 and the sidecar's refusal", code, errs)
	}
	if got := cl.get(t, app); got.Status.Phase != v1.PhaseLearning || len(got.Status.Applied) != 0 {
		t.Fatalf("app after a refused apply: %s, %d applied", got.Status.Phase, len(got.Status.Applied))
	}
	if sc := cl.deployment(t, "shop", "web").Spec.Template.Spec.Containers[0].SecurityContext; sc.SeccompProfile != nil {
		t.Fatalf("template patched: %+v", sc.SeccompProfile)
	}

	// promote likewise: app's evidence is old enough, the sidecar's not.
	if _, _, err := cl.store.Merge(ctx, &store.Delta{Key: side, Image: "registry.example/proxy:2", Pod: "web-a", Node: "n1",
		Traced: map[string]store.Seen{"read": {First: time.Now()}}}, nil); err != nil {
		t.Fatal(err)
	}
	if code, _, errs := runCLI(t, "k8s", "apply", "web", "-n", "shop", "--mode", "complain"); code != 0 {
		t.Fatalf("apply complain: exit %d: %s", code, errs)
	}
	long := metav1.NewTime(time.Now().Add(-3 * time.Hour).Truncate(time.Second))
	if _, _, err := cl.store.Modify(ctx, "shop", app.Name(), nil, nil, func(o *v1.WorkloadProfile) error {
		o.Status.PhaseSince, o.Status.LastNewSyscall = &long, &long
		for n, s := range o.Status.Syscalls {
			s.FirstSeen = long
			o.Status.Syscalls[n] = s
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	code, out, errs := runCLI(t, "k8s", "promote", "web", "-n", "shop", "--window", "1h")
	if code != 1 || !strings.Contains(errs, "container sidecar: not promoting") || strings.Contains(errs, "container app") || strings.Contains(out, "promoted") {
		t.Fatalf("exit %d, %q %q; want 1 and the sidecar's refusal alone", code, out, errs)
	}
	if got := cl.get(t, app); got.Status.Phase != v1.PhaseComplain {
		t.Fatalf("app promoted while the sidecar was refused: %s", got.Status.Phase)
	}
}

// TestK8sApplyKeepsRollbackHistory: an applied profile that only the
// rollout history names (a scaled-down ReplicaSet, a ControllerRevision)
// stays: `kubectl rollout undo` puts that template back, and its pods
// could not start without the file. It was removed once the rollout of
// the next apply scaled the old ReplicaSet down.
func TestK8sApplyKeepsRollbackHistory(t *testing.T) {
	cl := newK8sCluster(t)
	ctx := context.Background()
	t.Setenv("KUBECONFIG", cl.kc)
	if _, err := cl.cs.AppsV1().Deployments("shop").Create(ctx, webDeployment(), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	app := store.Key{Namespace: "shop", Kind: "deployment", Workload: "web", Container: "app"}
	cl.learnedProfile(t, app, "registry.example/web:1", "read", "write")
	if code, _, errs := runCLI(t, "k8s", "apply", "web", "-n", "shop", "--mode", "complain"); code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	old := cl.get(t, app).Status.Applied[0].LocalhostProfile
	tmpl := cl.deployment(t, "shop", "web").Spec.Template
	// The rollout's old ReplicaSet, scaled down, and a StatefulSet's revision.
	rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "web-1", Namespace: "shop"}, Spec: appsv1.ReplicaSetSpec{
		Replicas: ptr.To[int32](0), Selector: &metav1.LabelSelector{MatchLabels: tmpl.Labels}, Template: tmpl}}
	if _, err := cl.cs.AppsV1().ReplicaSets("shop").Create(ctx, rs, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// Something new absorbed in complain mode: the next apply makes a new profile.
	absorb := func(name string) {
		t.Helper()
		if _, _, err := cl.store.Merge(ctx, &store.Delta{Key: app, Image: "registry.example/web:1", Pod: "web-a", Node: "n1",
			Complain: map[string]store.Seen{name: {First: time.Now()}}}, nil); err != nil {
			t.Fatal(err)
		}
	}
	applied := func() []string {
		t.Helper()
		var out []string
		for _, a := range cl.get(t, app).Status.Applied {
			out = append(out, a.LocalhostProfile)
		}
		return out
	}
	absorb("fsync")
	if code, _, errs := runCLI(t, "k8s", "apply", "web", "-n", "shop", "--mode", "complain"); code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if got := applied(); len(got) != 2 || got[0] != old {
		t.Fatalf("with a scaled-down ReplicaSet naming %s: applied %v", old, got)
	}
	if err := cl.cs.AppsV1().ReplicaSets("shop").Delete(ctx, "web-1", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	data, _ := json.Marshal(map[string]any{"spec": map[string]any{"template": map[string]any{"$patch": "replace", "metadata": tmpl.ObjectMeta, "spec": tmpl.Spec}}})
	cr := &appsv1.ControllerRevision{ObjectMeta: metav1.ObjectMeta{Name: "db-1", Namespace: "shop"}, Revision: 1, Data: runtime.RawExtension{Raw: data}}
	if _, err := cl.cs.AppsV1().ControllerRevisions("shop").Create(ctx, cr, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	absorb("fdatasync")
	if code, _, errs := runCLI(t, "k8s", "apply", "web", "-n", "shop", "--mode", "complain"); code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if got := applied(); len(got) != 2 || got[0] != old {
		t.Fatalf("with a ControllerRevision naming %s: applied %v", old, got)
	}
	if err := cl.cs.AppsV1().ControllerRevisions("shop").Delete(ctx, "db-1", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	code, out, errs := runCLI(t, "k8s", "apply", "web", "-n", "shop", "--mode", "complain")
	if got := applied(); code != 0 || len(got) != 1 || got[0] == old || !strings.Contains(out, "removed applied profile "+old) {
		t.Fatalf("history gone: exit %d, applied %v, %q %q", code, got, out, errs)
	}
}
