package deploy

import (
	"encoding/json"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// TestKustomizeBuild runs kustomize itself (the library behind `kubectl
// kustomize`) on this directory and checks what it produces: every object
// in the sysward namespace (but cluster-scoped ones), the part-of label on
// all of them, and the generated dashboard ConfigMap.
func TestKustomizeBuild(t *testing.T) {
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	res, err := k.Run(filesys.MakeFsOnDisk(), ".")
	if err != nil {
		t.Fatalf("kustomize build deploy/: %v", err)
	}
	clusterScoped := map[string]bool{"Namespace": true, "ClusterRole": true, "ClusterRoleBinding": true}
	kinds := map[string]int{}
	var dashboard *corev1.ConfigMap
	for _, r := range res.Resources() {
		kinds[r.GetKind()]++
		if ns := r.GetNamespace(); clusterScoped[r.GetKind()] != (ns == "") || (ns != "" && ns != "sysward") {
			t.Errorf("%s/%s in namespace %q", r.GetKind(), r.GetName(), ns)
		}
		if r.GetLabels()["app.kubernetes.io/part-of"] != "sysward" {
			t.Errorf("%s/%s lacks app.kubernetes.io/part-of=sysward", r.GetKind(), r.GetName())
		}
		if r.GetKind() == "ConfigMap" && r.GetName() == "sysward-grafana-dashboard" {
			y, err := r.AsYAML()
			if err != nil {
				t.Fatal(err)
			}
			dashboard = &corev1.ConfigMap{}
			if err := yaml.UnmarshalStrict(y, dashboard); err != nil {
				t.Fatalf("generated dashboard ConfigMap: %v", err)
			}
		}
	}
	for kind, n := range map[string]int{"Namespace": 1, "ServiceAccount": 1, "ClusterRole": 1, "ClusterRoleBinding": 1,
		"ConfigMap": 2, "Service": 1, "DaemonSet": 1, "ServiceMonitor": 1, "PrometheusRule": 1} {
		if kinds[kind] != n {
			t.Errorf("%d %s objects, want %d (all: %v)", kinds[kind], kind, n, kinds)
		}
	}
	if dashboard == nil {
		t.Fatal("no generated dashboard ConfigMap")
	}
	if dashboard.Labels["grafana_dashboard"] != "1" {
		t.Errorf("dashboard labels %v", dashboard.Labels)
	}
	if !json.Valid([]byte(dashboard.Data["sysward-dashboard.json"])) {
		t.Error("dashboard ConfigMap data sysward-dashboard.json is not JSON")
	}
}
