package deploy

import (
	"encoding/json"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	"github.com/sysward/sysward/internal/store"
)

// kustomizeBuild runs kustomize itself (the library behind `kubectl
// kustomize`) on dir and returns the objects by "Kind/name" as YAML.
func kustomizeBuild(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	res, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize build deploy/%s: %v", dir, err)
	}
	objs := map[string][]byte{}
	for _, r := range res.Resources() {
		y, err := r.AsYAML()
		if err != nil {
			t.Fatal(err)
		}
		objs[r.GetKind()+"/"+r.GetName()] = y
	}
	return objs
}

// decodeObj decodes objs[key] strictly into v.
func decodeObj(t *testing.T, objs map[string][]byte, key string, v any) {
	t.Helper()
	y, ok := objs[key]
	if !ok {
		t.Fatalf("kustomize output has no %s", key)
	}
	if err := yaml.UnmarshalStrict(y, v); err != nil {
		t.Fatalf("%s: %v", key, err)
	}
}

// TestKustomizeBuild builds the base and overlays/prometheus and checks
// what they produce: every object in the sysward namespace (but the
// cluster-scoped Namespace, RBAC and CRD), the part-of label on all of them, the generated ConfigMaps.
func TestKustomizeBuild(t *testing.T) {
	for dir, want := range map[string]map[string]int{
		".":    {"Namespace": 1, "ServiceAccount": 1, "ClusterRole": 1, "ClusterRoleBinding": 1, "ConfigMap": 2, "DaemonSet": 1, "CustomResourceDefinition": 1},
		"base": {"Namespace": 1, "ServiceAccount": 1, "ClusterRole": 1, "ClusterRoleBinding": 1, "ConfigMap": 2, "DaemonSet": 1, "CustomResourceDefinition": 1},
		"overlays/prometheus": {"Namespace": 1, "ServiceAccount": 1, "ClusterRole": 1, "ClusterRoleBinding": 1, "ConfigMap": 3, "DaemonSet": 1, "CustomResourceDefinition": 1,
			"Service": 1, "NetworkPolicy": 1, "ServiceMonitor": 1, "PrometheusRule": 1},
	} {
		t.Run(dir, func(t *testing.T) {
			k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
			res, err := k.Run(filesys.MakeFsOnDisk(), dir)
			if err != nil {
				t.Fatalf("kustomize build deploy/%s: %v", dir, err)
			}
			kinds := map[string]int{}
			for _, r := range res.Resources() {
				kinds[r.GetKind()]++
				clusterScoped := r.GetKind() == "Namespace" || r.GetKind() == "ClusterRole" || r.GetKind() == "ClusterRoleBinding" ||
					r.GetKind() == "CustomResourceDefinition"
				if ns := r.GetNamespace(); clusterScoped != (ns == "") || (ns != "" && ns != "sysward") {
					t.Errorf("%s/%s in namespace %q", r.GetKind(), r.GetName(), ns)
				}
				if r.GetLabels()["app.kubernetes.io/part-of"] != "sysward" {
					t.Errorf("%s/%s lacks app.kubernetes.io/part-of=sysward", r.GetKind(), r.GetName())
				}
			}
			for kind, n := range want {
				if kinds[kind] != n {
					t.Errorf("%d %s objects, want %d (all: %v)", kinds[kind], kind, n, kinds)
				}
			}
			if len(kinds) != len(want) {
				t.Errorf("kinds %v, want %v", kinds, want)
			}
		})
	}
	objs := kustomizeBuild(t, "overlays/prometheus")
	dashboard := &corev1.ConfigMap{}
	decodeObj(t, objs, "ConfigMap/sysward-grafana-dashboard", dashboard)
	if dashboard.Labels["grafana_dashboard"] != "1" {
		t.Errorf("dashboard labels %v", dashboard.Labels)
	}
	if !json.Valid([]byte(dashboard.Data["sysward-dashboard.json"])) {
		t.Error("dashboard ConfigMap data sysward-dashboard.json is not JSON")
	}
}

// TestCRDInBuild: the build carries the WorkloadProfile CRD as generated
// from api/v1alpha1 (the copy store.InstallCRD embeds), only labelled.
func TestCRDInBuild(t *testing.T) {
	want, err := store.CRD()
	if err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{".", "overlays/prometheus"} {
		got := &apiextensionsv1.CustomResourceDefinition{}
		decodeObj(t, kustomizeBuild(t, dir), "CustomResourceDefinition/"+want.Name, got)
		if !equality.Semantic.DeepEqual(got.Spec, want.Spec) {
			t.Errorf("deploy/%s: the CRD's spec is not the generated one", dir)
		}
		if got.Namespace != "" || got.Labels["app.kubernetes.io/part-of"] != "sysward" {
			t.Errorf("deploy/%s: CRD namespace %q labels %v", dir, got.Namespace, got.Labels)
		}
	}
}
