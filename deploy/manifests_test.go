// Package deploy holds sysward's Kubernetes manifests (kustomize). This test
// decodes every manifest strictly into the Kubernetes API types, checks the
// references between them and the agent's hardening, and checks that the
// PrometheusRule and the Grafana dashboard use only metric names the metrics
// package registers.
package deploy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/sysward/sysward/detector"
	"github.com/sysward/sysward/detector/metrics"
	"github.com/sysward/sysward/detector/output"
	"github.com/sysward/sysward/internal/inputfile"
	"github.com/sysward/sysward/internal/testutil"
)

// kustomization is the subset of kustomize's Kustomization this directory
// uses; decoding it strictly catches a misspelt key.
type kustomization struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Namespace  string `json:"namespace"`
	Resources  []string
	Labels     []struct {
		Pairs            map[string]string `json:"pairs"`
		IncludeSelectors bool              `json:"includeSelectors"`
	} `json:"labels"`
	ConfigMapGenerator []struct {
		Name    string   `json:"name"`
		Files   []string `json:"files"`
		Options struct {
			DisableNameSuffixHash bool              `json:"disableNameSuffixHash"`
			Labels                map[string]string `json:"labels"`
		} `json:"options"`
	} `json:"configMapGenerator"`
	Images []struct {
		Name   string `json:"name"`
		NewTag string `json:"newTag"`
	} `json:"images"`
	Components []string `json:"components"`
	Patches    []struct {
		Target struct {
			Kind string `json:"kind"`
			Name string `json:"name"`
		} `json:"target"`
		Patch string `json:"patch"`
	} `json:"patches"`
}

// baseDir holds the agent's manifests; metricsComponent is the kustomize
// Component that exposes /metrics.
const (
	baseDir          = "base"
	metricsComponent = "components/metrics"
)

// manifests holds every decoded object by kind and name.
type manifests struct {
	namespaces      map[string]*corev1.Namespace
	serviceAccounts map[string]*corev1.ServiceAccount
	configMaps      map[string]*corev1.ConfigMap
	services        map[string]*corev1.Service
	daemonSets      map[string]*appsv1.DaemonSet
	clusterRoles    map[string]*rbacv1.ClusterRole
	bindings        map[string]*rbacv1.ClusterRoleBinding
	netpols         map[string]*networkingv1.NetworkPolicy
	custom          map[string]*unstructured.Unstructured // "Kind/name"
	crds            map[string]*apiextensionsv1.CustomResourceDefinition
	kust            kustomization // the base, deploy/
	comp            kustomization // components/metrics
}

func splitDocs(b []byte) [][]byte {
	var docs [][]byte
	for _, d := range regexp.MustCompile(`(?m)^---\s*$`).Split(string(b), -1) {
		if strings.TrimSpace(stripComments(d)) != "" {
			docs = append(docs, []byte(d))
		}
	}
	return docs
}

func stripComments(s string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "#") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// strict decodes one YAML document into v, refusing unknown fields.
func strict(file string, doc []byte, v any) error {
	if err := yaml.UnmarshalStrict(doc, v); err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	return nil
}

// load decodes the base (deploy/kustomization.yaml) and the metrics
// component's resources, each strictly into its API type.
func load(t *testing.T) *manifests {
	t.Helper()
	m := &manifests{
		namespaces: map[string]*corev1.Namespace{}, serviceAccounts: map[string]*corev1.ServiceAccount{},
		configMaps: map[string]*corev1.ConfigMap{}, services: map[string]*corev1.Service{},
		daemonSets: map[string]*appsv1.DaemonSet{}, clusterRoles: map[string]*rbacv1.ClusterRole{},
		bindings: map[string]*rbacv1.ClusterRoleBinding{}, netpols: map[string]*networkingv1.NetworkPolicy{},
		custom: map[string]*unstructured.Unstructured{}, crds: map[string]*apiextensionsv1.CustomResourceDefinition{},
	}
	for _, k := range []struct {
		dir, kind string
		into      *kustomization
	}{{baseDir, "Kustomization", &m.kust}, {metricsComponent, "Component", &m.comp}} {
		file := filepath.Join(k.dir, "kustomization.yaml")
		kb, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if err := strict(file, kb, k.into); err != nil {
			t.Fatal(err)
		}
		if k.into.Kind != k.kind || !strings.HasPrefix(k.into.APIVersion, "kustomize.config.k8s.io/") {
			t.Fatalf("%s: %s/%s", file, k.into.APIVersion, k.into.Kind)
		}
		for _, res := range k.into.Resources {
			m.loadFile(t, filepath.Join(k.dir, res))
		}
	}
	return m
}

func (m *manifests) loadFile(t *testing.T, file string) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("kustomization resource: %v", err)
	}
	for i, doc := range splitDocs(b) {
		where := fmt.Sprintf("%s (document %d)", file, i+1)
		var tm metav1.TypeMeta
		if err := yaml.Unmarshal(doc, &tm); err != nil {
			t.Fatalf("%s: %v", where, err)
		}
		var name string
		switch gvk := tm.APIVersion + "/" + tm.Kind; gvk {
		case "v1/Namespace":
			o := &corev1.Namespace{}
			err, name = strict(where, doc, o), o.Name
			m.namespaces[name] = o
		case "v1/ServiceAccount":
			o := &corev1.ServiceAccount{}
			err, name = strict(where, doc, o), o.Name
			m.serviceAccounts[name] = o
		case "v1/ConfigMap":
			o := &corev1.ConfigMap{}
			err, name = strict(where, doc, o), o.Name
			m.configMaps[name] = o
		case "v1/Service":
			o := &corev1.Service{}
			err, name = strict(where, doc, o), o.Name
			m.services[name] = o
		case "apps/v1/DaemonSet":
			o := &appsv1.DaemonSet{}
			err, name = strict(where, doc, o), o.Name
			m.daemonSets[name] = o
		case "rbac.authorization.k8s.io/v1/ClusterRole":
			o := &rbacv1.ClusterRole{}
			err, name = strict(where, doc, o), o.Name
			m.clusterRoles[name] = o
		case "rbac.authorization.k8s.io/v1/ClusterRoleBinding":
			o := &rbacv1.ClusterRoleBinding{}
			err, name = strict(where, doc, o), o.Name
			m.bindings[name] = o
		case "networking.k8s.io/v1/NetworkPolicy":
			o := &networkingv1.NetworkPolicy{}
			err, name = strict(where, doc, o), o.Name
			m.netpols[name] = o
		case "apiextensions.k8s.io/v1/CustomResourceDefinition":
			o := &apiextensionsv1.CustomResourceDefinition{}
			err, name = strict(where, doc, o), o.Name
			m.crds[name] = o
		case "monitoring.coreos.com/v1/ServiceMonitor", "monitoring.coreos.com/v1/PrometheusRule":
			o := &unstructured.Unstructured{}
			var obj map[string]any
			err = yaml.Unmarshal(doc, &obj)
			o.Object = obj
			name = o.GetName()
			m.custom[tm.Kind+"/"+name] = o
		default:
			t.Fatalf("%s: unexpected kind %s", where, gvk)
		}
		if err != nil {
			t.Fatal(err)
		}
		if name == "" {
			t.Fatalf("%s: no metadata.name", where)
		}
	}
}

func TestKustomizationFiles(t *testing.T) {
	m := load(t)
	if m.kust.Namespace != "sysward" || m.namespaces["sysward"] == nil {
		t.Errorf("namespace %q, Namespace objects %v", m.kust.Namespace, m.namespaces)
	}
	gens := map[string]bool{}
	for _, k := range []struct {
		dir string
		kz  kustomization
	}{{baseDir, m.kust}, {metricsComponent, m.comp}} {
		for _, g := range k.kz.ConfigMapGenerator {
			gens[g.Name] = true
			for _, f := range g.Files {
				key, path, ok := strings.Cut(f, "=")
				if !ok {
					path = key
				}
				b, err := os.ReadFile(filepath.Join(k.dir, path))
				if err != nil {
					t.Fatalf("generator file: %v", err)
				}
				if !json.Valid(b) {
					t.Errorf("%s is not JSON", path)
				}
				if len(b) > 1<<20 {
					t.Errorf("%s is over a ConfigMap's 1 MiB", path)
				}
			}
			if g.Name == "sysward-grafana-dashboard" && (g.Options.Labels["grafana_dashboard"] != "1" || !g.Options.DisableNameSuffixHash) {
				t.Errorf("dashboard ConfigMap generator options %+v", g.Options)
			}
		}
	}
	if !gens["sysward-agent-seccomp"] || !gens["sysward-grafana-dashboard"] {
		t.Errorf("configMapGenerators %v", gens)
	}
	for _, im := range m.kust.Images {
		found := false
		for _, ds := range m.daemonSets {
			for _, c := range append(ds.Spec.Template.Spec.Containers, ds.Spec.Template.Spec.InitContainers...) {
				found = found || strings.HasPrefix(c.Image, im.Name+":")
				if strings.HasSuffix(c.Image, ":latest") || !strings.Contains(c.Image, ":") {
					t.Errorf("container %s: image %q is not pinned to a version", c.Name, c.Image)
				}
			}
		}
		if !found {
			t.Errorf("images: %s is used by no container", im.Name)
		}
		if im.NewTag == "" || im.NewTag == "latest" {
			t.Errorf("images: %s newTag %q is not a version", im.Name, im.NewTag)
		}
	}
}

// agentCapsAllowed is exactly what the agent was seen to need
// (TestAgentUnderItsOwnProfile runs it with these and no others).
var agentCapsAllowed = []corev1.Capability{"BPF", "PERFMON", "SYS_PTRACE"}

func TestDaemonSetHardening(t *testing.T) {
	m := load(t)
	ds := m.daemonSets["sysward"]
	if ds == nil {
		t.Fatal("no DaemonSet sysward")
	}
	spec := ds.Spec.Template.Spec
	sel, err := metav1.LabelSelectorAsSelector(ds.Spec.Selector)
	if err != nil {
		t.Fatal(err)
	}
	if !sel.Matches(labelSet(ds.Spec.Template.Labels)) {
		t.Errorf("selector %v does not match the pod labels %v", sel, ds.Spec.Template.Labels)
	}
	if !spec.HostPID {
		t.Error("hostPID must be true: the kernel reports host pids")
	}
	if spec.HostNetwork {
		t.Error("hostNetwork is not needed")
	}
	if m.serviceAccounts[spec.ServiceAccountName] == nil {
		t.Errorf("serviceAccountName %q has no ServiceAccount", spec.ServiceAccountName)
	}
	if len(spec.Containers) != 1 || len(spec.InitContainers) != 1 {
		t.Fatalf("%d containers, %d init containers", len(spec.Containers), len(spec.InitContainers))
	}
	c := spec.Containers[0]
	sc := c.SecurityContext
	if sc == nil || sc.Privileged == nil || *sc.Privileged {
		t.Fatal("the agent must not be privileged")
	}
	if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		t.Error("readOnlyRootFilesystem must be true")
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Error("allowPrivilegeEscalation must be false")
	}
	if sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
		t.Fatal("capabilities must drop ALL")
	}
	if got := slices.Sorted(slices.Values(sc.Capabilities.Add)); !slices.Equal(got, agentCapsAllowed) {
		t.Errorf("capabilities add %v, want exactly %v", got, agentCapsAllowed)
	}

	// The agent runs under its own Localhost profile, which the init
	// container writes where the kubelet looks for it.
	seccomp := sc.SeccompProfile
	if seccomp == nil || seccomp.Type != corev1.SeccompProfileTypeLocalhost || seccomp.LocalhostProfile == nil {
		t.Fatalf("the agent's seccomp profile %+v, want Localhost", seccomp)
	}
	vols := map[string]corev1.Volume{}
	for _, v := range spec.Volumes {
		vols[v.Name] = v
	}
	ic := spec.InitContainers[0]
	if isc := ic.SecurityContext; isc == nil || isc.Capabilities == nil || len(isc.Capabilities.Add) != 0 ||
		isc.AllowPrivilegeEscalation == nil || *isc.AllowPrivilegeEscalation || isc.SeccompProfile == nil ||
		isc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("init container %s security context %+v: want no capabilities, no escalation, RuntimeDefault", ic.Name, isc)
	}
	// `sysward profile export --format=oci -o DEST SRC`
	if len(ic.Args) != 6 || ic.Args[0] != "profile" || ic.Args[1] != "export" || ic.Args[3] != "-o" {
		t.Fatalf("init container args %q", ic.Args)
	}
	dest, src := ic.Args[4], ic.Args[5]
	hostDest := ""
	for _, vm := range ic.VolumeMounts {
		v := vols[vm.Name]
		if v.HostPath != nil && strings.HasPrefix(dest, vm.MountPath+"/") {
			hostDest = filepath.Join(v.HostPath.Path, strings.TrimPrefix(dest, vm.MountPath+"/"))
		}
		if v.ConfigMap != nil && strings.HasPrefix(src, vm.MountPath+"/") {
			if v.ConfigMap.Name != "sysward-agent-seccomp" || strings.TrimPrefix(src, vm.MountPath+"/") != agentProfile {
				t.Errorf("init container reads %s from ConfigMap %s", src, v.ConfigMap.Name)
			}
		}
	}
	if want := filepath.Join("/var/lib/kubelet/seccomp", *seccomp.LocalhostProfile); hostDest != want {
		t.Errorf("init container writes the profile to %q on the node, the agent's localhostProfile is %q", hostDest, want)
	}
	if _, err := inputfile.Profile(filepath.Join(baseDir, agentProfile)); err != nil {
		t.Errorf("the agent's profile: %v", err)
	}

	// Read-only host paths only, and only the ones it reads: not
	// /run/containerd as a whole (containerd.sock: connect() needs no write
	// permission). The one writable host path is the sysward folder of the
	// seccomp root, where --install-from installs the sysward-profiles
	// ConfigMap's profiles.
	const ownedDir = "/var/lib/kubelet/seccomp/sysward"
	hostPaths := map[string]bool{}
	installFrom := ""
	for _, a := range c.Args {
		if v, ok := strings.CutPrefix(a, "--install-from="); ok {
			installFrom = v
		}
	}
	if installFrom == "" {
		t.Errorf("agent args %q: no --install-from", c.Args)
	}
	installMounted := false
	for _, vm := range c.VolumeMounts {
		v, ok := vols[vm.Name]
		if !ok {
			t.Errorf("volumeMount %s has no volume", vm.Name)
			continue
		}
		if v.HostPath != nil {
			hostPaths[v.HostPath.Path] = true
			if !vm.ReadOnly && v.HostPath.Path != ownedDir {
				t.Errorf("hostPath %s is mounted read-write", v.HostPath.Path)
			}
			if vm.MountPath != v.HostPath.Path {
				t.Errorf("hostPath %s mounted at %s: the agent reads paths the runtime names", v.HostPath.Path, vm.MountPath)
			}
		}
		if v.ConfigMap != nil && m.configMaps[v.ConfigMap.Name] == nil && v.ConfigMap.Name != "sysward-agent-seccomp" &&
			(v.ConfigMap.Optional == nil || !*v.ConfigMap.Optional) {
			t.Errorf("volume %s: ConfigMap %s is not in the manifests", v.Name, v.ConfigMap.Name)
		}
		if vm.MountPath == installFrom {
			installMounted = v.ConfigMap != nil && v.ConfigMap.Name == "sysward-profiles" && vm.ReadOnly
		}
	}
	if !installMounted {
		t.Errorf("--install-from=%s is not the sysward-profiles ConfigMap mounted read-only", installFrom)
	}
	want := []string{"/sys/kernel/btf", "/sys/fs/cgroup", "/var/lib/kubelet/seccomp", ownedDir, "/run/containerd/runc", "/run/containerd/io.containerd.runtime.v2.task"}
	if got := slices.Sorted(maps.Keys(hostPaths)); !slices.Equal(got, slices.Sorted(slices.Values(want))) {
		t.Errorf("host paths %v, want %v", got, want)
	}
	// Only the state roots that are mounted are searched.
	args := strings.Join(c.Args, " ")
	if !strings.Contains(args, "--container-root=/run/containerd/runc") {
		t.Errorf("agent args %q: --container-root must name the mounted state root", args)
	}

	// Metrics on loopback (unauthenticated), /healthz alone on the health
	// port for the probes.
	if !slices.Contains(c.Args, "--metrics-addr=127.0.0.1:9376") {
		t.Errorf("agent args %q: metrics must listen on 127.0.0.1 only in the base", c.Args)
	}
	ports := map[string]int32{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	if ports["health"] == 0 || !slices.Contains(c.Args, fmt.Sprintf("--health-addr=:%d", ports["health"])) {
		t.Errorf("health port %d, args %q", ports["health"], c.Args)
	}
	if _, ok := ports["metrics"]; ok {
		t.Error("the base declares a metrics port; metrics listen on loopback there")
	}
	for _, pr := range []*corev1.Probe{c.LivenessProbe, c.ReadinessProbe} {
		if pr == nil || pr.HTTPGet == nil || pr.HTTPGet.Path != "/healthz" || pr.HTTPGet.Port.StrVal != "health" {
			t.Errorf("probe %+v: want GET /healthz on the health port", pr)
		}
	}
	if c.Resources.Limits.Memory().IsZero() {
		t.Error("no memory limit")
	}
}

// TestAPIAccessIsMinimal: the agent reads pods (its node's, by field
// selector) and the ReplicaSets and Jobs that own them, nothing else and
// never writes; the token reaches the agent container only.
func TestAPIAccessIsMinimal(t *testing.T) {
	m := load(t)
	if len(m.clusterRoles) != 1 || len(m.bindings) != 1 {
		t.Fatalf("%d ClusterRoles, %d bindings; want the agent's one each", len(m.clusterRoles), len(m.bindings))
	}
	role := m.clusterRoles["sysward-agent"]
	if role == nil {
		t.Fatal("ClusterRole sysward-agent missing")
	}
	got := map[string]string{}
	for _, r := range role.Rules {
		if len(r.ResourceNames) > 0 || len(r.NonResourceURLs) > 0 {
			t.Errorf("unexpected rule %+v", r)
		}
		for _, g := range r.APIGroups {
			for _, res := range r.Resources {
				got[g+"/"+res] = strings.Join(r.Verbs, ",")
			}
		}
	}
	// namespaces: the marked-namespace informer; workloadprofiles: the
	// cluster store (--store), no delete, no patch.
	want := map[string]string{"/pods": "get,list,watch", "apps/replicasets": "get", "batch/jobs": "get",
		"/namespaces": "get,list,watch", "sysward.io/workloadprofiles": "get,list,watch,create,update"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("ClusterRole grants %v, want %v", got, want)
	}
	b := m.bindings["sysward-agent"]
	if b == nil || b.RoleRef.Name != "sysward-agent" || len(b.Subjects) != 1 ||
		b.Subjects[0].Kind != "ServiceAccount" || b.Subjects[0].Name != "sysward" || b.Subjects[0].Namespace != "sysward" {
		t.Errorf("ClusterRoleBinding %+v: want sysward-agent bound to ServiceAccount sysward/sysward only", b)
	}
	sa := m.serviceAccounts["sysward"]
	ds := m.daemonSets["sysward"]
	if sa == nil || ds == nil {
		t.Fatal("ServiceAccount or DaemonSet sysward missing")
	}
	spec := ds.Spec.Template.Spec
	if sa.AutomountServiceAccountToken == nil || *sa.AutomountServiceAccountToken ||
		spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
		t.Error("the token is automounted (into every container); want it projected into the agent only")
	}
	var projected bool
	for _, v := range spec.Volumes {
		if v.Name == "kube-api-access" && v.Projected != nil {
			for _, src := range v.Projected.Sources {
				projected = projected || src.ServiceAccountToken != nil
			}
		}
	}
	if !projected {
		t.Error("no projected service-account token volume kube-api-access")
	}
	const tokenDir = "/var/run/secrets/kubernetes.io/serviceaccount"
	for _, c := range append(append([]corev1.Container{}, spec.InitContainers...), spec.Containers...) {
		mounted := false
		for _, vm := range c.VolumeMounts {
			if vm.Name == "kube-api-access" {
				mounted = vm.MountPath == tokenDir && vm.ReadOnly
			}
		}
		if mounted != (c.Name == "agent") {
			t.Errorf("container %s: token mounted at %s = %v, want only the agent's (read-only)", c.Name, tokenDir, mounted)
		}
	}
}

type labelSet map[string]string

func (l labelSet) Has(k string) bool   { _, ok := l[k]; return ok }
func (l labelSet) Get(k string) string { return l[k] }
func (l labelSet) Lookup(k string) (string, bool) {
	v, ok := l[k]
	return v, ok
}

// TestServiceAndMonitorReachTheAgent builds overlays/prometheus (the base
// plus components/metrics) with kustomize and checks that the patched agent
// listens for metrics on the pod, that the Service, the NetworkPolicy and
// the ServiceMonitor reach that port, and that nothing else in the agent
// changed.
func TestServiceAndMonitorReachTheAgent(t *testing.T) {
	m := load(t)
	base := m.daemonSets["sysward"]
	objs := kustomizeBuild(t, "overlays/prometheus")
	ds := &appsv1.DaemonSet{}
	decodeObj(t, objs, "DaemonSet/sysward", ds)
	svc := &corev1.Service{}
	decodeObj(t, objs, "Service/sysward", svc)
	np := &networkingv1.NetworkPolicy{}
	decodeObj(t, objs, "NetworkPolicy/sysward", np)

	c, bc := ds.Spec.Template.Spec.Containers[0], base.Spec.Template.Spec.Containers[0]
	var diff []string
	for i := range max(len(c.Args), len(bc.Args)) {
		if i >= len(c.Args) || i >= len(bc.Args) || c.Args[i] != bc.Args[i] {
			diff = append(diff, fmt.Sprintf("%d", i))
		}
	}
	if i := slices.Index(bc.Args, "--metrics-addr=127.0.0.1:9376"); len(diff) != 1 || i < 0 || c.Args[i] != "--metrics-addr=:9376" {
		t.Errorf("overlay agent args %q (base %q): want only --metrics-addr changed to :9376", c.Args, bc.Args)
	}
	ports := map[string]int32{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	if ports["metrics"] != 9376 || ports["health"] == 0 {
		t.Errorf("overlay agent ports %v", ports)
	}
	for k, v := range svc.Spec.Selector {
		if ds.Spec.Template.Labels[k] != v {
			t.Errorf("Service selector %s=%s does not select the agent pods", k, v)
		}
	}
	var svcPort *corev1.ServicePort
	for i := range svc.Spec.Ports {
		if svc.Spec.Ports[i].Name == "metrics" {
			svcPort = &svc.Spec.Ports[i]
		}
	}
	if svcPort == nil || svcPort.TargetPort.StrVal != "metrics" {
		t.Fatalf("Service port metrics → targetPort metrics, got %+v", svcPort)
	}
	// The NetworkPolicy selects the agent, admits the metrics port only
	// from the monitoring namespace and the health port from anywhere.
	npSel, err := metav1.LabelSelectorAsSelector(&np.Spec.PodSelector)
	if err != nil || !npSel.Matches(labelSet(ds.Spec.Template.Labels)) {
		t.Errorf("NetworkPolicy selector %v does not select the agent", np.Spec.PodSelector)
	}
	for _, r := range np.Spec.Ingress {
		for _, p := range r.Ports {
			if p.Port == nil || ports[p.Port.StrVal] == 0 {
				t.Errorf("NetworkPolicy port %v is not an agent port", p.Port)
				continue
			}
			if p.Port.StrVal == "metrics" && len(r.From) == 0 {
				t.Error("NetworkPolicy admits /metrics from anywhere")
			}
		}
	}

	sm := m.custom["ServiceMonitor/sysward"]
	if sm == nil {
		t.Fatal("no ServiceMonitor sysward")
	}
	match, _, _ := unstructured.NestedStringMap(sm.Object, "spec", "selector", "matchLabels")
	for k, v := range match {
		if svc.Labels[k] != v {
			t.Errorf("ServiceMonitor selects %s=%s, the Service has %v", k, v, svc.Labels)
		}
	}
	eps, _, _ := unstructured.NestedSlice(sm.Object, "spec", "endpoints")
	if len(eps) == 0 {
		t.Fatal("ServiceMonitor has no endpoints")
	}
	for _, e := range eps {
		ep := e.(map[string]any)
		if ep["port"] != "metrics" || ep["path"] != "/metrics" {
			t.Errorf("endpoint %v: want port metrics, path /metrics", ep)
		}
	}
	// The alert rules select job="sysward": that is the Service's
	// app.kubernetes.io/name label, through jobLabel.
	jl, _, _ := unstructured.NestedString(sm.Object, "spec", "jobLabel")
	if svc.Labels[jl] != "sysward" {
		t.Errorf("jobLabel %q gives job %q, want sysward", jl, svc.Labels[jl])
	}
}

func TestConfigMapContents(t *testing.T) {
	m := load(t)
	cm := m.configMaps["sysward-config"]
	if cm == nil {
		t.Fatal("no ConfigMap sysward-config")
	}
	cfg, err := output.ParseConfig("configmap.yaml:outputs.yaml", []byte(cm.Data["outputs.yaml"]))
	if err != nil {
		t.Fatalf("outputs.yaml: %v", err)
	}
	if cfg.Stdout == nil || cfg.Dedup.Window == 0 || cfg.HTTP == nil {
		t.Errorf("outputs.yaml: %+v", cfg)
	}
	rs, err := detector.LoadRulesFiles(detector.RulesFile{Name: "configmap.yaml:sysward_rules.local.yaml", Data: []byte(cm.Data["sysward_rules.local.yaml"])})
	if err != nil {
		t.Fatalf("sysward_rules.local.yaml: %v", err)
	}
	for _, r := range rs.Rules {
		if r.Skipped != "" {
			t.Errorf("rule %q skipped: %s", r.Name, r.Skipped)
		}
	}
	if compiled, _, _ := rs.Stats(); compiled == 0 {
		t.Error("no rule compiled")
	}
}

// metricRef finds sysward_* metric names in PromQL. Recording rule names
// (sysward:...) contain colons and are not matched.
var metricRef = regexp.MustCompile(`\bsysward_[a-zA-Z0-9_]+`)

func registered() map[string]bool {
	r := map[string]bool{}
	for _, n := range metrics.Names() {
		r[n] = true
	}
	return r
}

func TestPrometheusRuleUsesRegisteredMetrics(t *testing.T) {
	m := load(t)
	pr := m.custom["PrometheusRule/sysward"]
	if pr == nil {
		t.Fatal("no PrometheusRule sysward")
	}
	groups, _, _ := unstructured.NestedSlice(pr.Object, "spec", "groups")
	reg := registered()
	used := map[string]bool{}
	alerts := 0
	for _, g := range groups {
		rules, _, _ := unstructured.NestedSlice(g.(map[string]any), "rules")
		for _, r := range rules {
			rule := r.(map[string]any)
			expr, _ := rule["expr"].(string)
			if expr == "" {
				t.Errorf("rule %v has no expr", rule)
			}
			if _, ok := rule["alert"]; ok {
				alerts++
				if labels, _ := rule["labels"].(map[string]any); labels["severity"] == nil {
					t.Errorf("alert %v has no severity", rule["alert"])
				}
			}
			for _, name := range metricRef.FindAllString(expr, -1) {
				used[name] = true
				if !reg[name] {
					t.Errorf("rule %v uses %s, which detector/metrics does not register", rule["alert"], name)
				}
			}
		}
	}
	for _, must := range []string{metrics.OutputDropsTotal, metrics.OutputErrorsTotal, metrics.AlertsTotal, metrics.KernelEventDropsTotal} {
		if !used[must] {
			t.Errorf("no alert on %s", must)
		}
	}
	if alerts == 0 {
		t.Error("no alerting rules")
	}
}

// TestPromtoolChecksRules runs Prometheus' own rule checker on the groups,
// then its rule unit tests.
func TestPromtoolChecksRules(t *testing.T) {
	testutil.Require(t, testutil.Binary("promtool"))
	m := load(t)
	spec, err := json.Marshal(m.custom["PrometheusRule/sysward"].Object["spec"])
	if err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(t.TempDir(), "rules.yaml")
	if err := os.WriteFile(f, spec, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("promtool", "check", "rules", f).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}

	// Unit tests of the alerts with synthetic series (testdata/), run by
	// Prometheus' own rule engine: the right alerts fire, with these labels
	// and annotations, after their "for".
	unit, err := os.ReadFile("testdata/prometheusrule_test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tf := filepath.Join(filepath.Dir(f), "rules_test.yaml")
	if err := os.WriteFile(tf, unit, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("promtool", "test", "rules", "rules_test.yaml")
	cmd.Dir = filepath.Dir(f)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("promtool test rules: %v\n%s", err, out)
	}
}

func TestDashboardUsesRegisteredMetrics(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(metricsComponent, "grafana-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Title  string `json:"title"`
		UID    string `json:"uid"`
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
		Templating struct {
			List []struct {
				Name  string `json:"name"`
				Query any    `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&dash); err != nil {
		t.Fatal(err)
	}
	if dash.UID == "" || dash.Title == "" || len(dash.Panels) == 0 {
		t.Fatalf("dashboard uid %q title %q, %d panels", dash.UID, dash.Title, len(dash.Panels))
	}
	reg := registered()
	used := map[string]bool{}
	check := func(where, expr string) {
		for _, name := range metricRef.FindAllString(expr, -1) {
			used[name] = true
			if !reg[name] {
				t.Errorf("%s uses %s, which detector/metrics does not register", where, name)
			}
		}
	}
	for _, p := range dash.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no targets", p.Title)
		}
		for _, tg := range p.Targets {
			if !metricRef.MatchString(tg.Expr) {
				t.Errorf("panel %q target %q names no sysward metric", p.Title, tg.Expr)
			}
			check("panel "+p.Title, tg.Expr)
		}
	}
	for _, v := range dash.Templating.List {
		q, _ := json.Marshal(v.Query)
		check("variable "+v.Name, string(q))
	}
	for _, must := range []string{metrics.EventsProcessedTotal, metrics.AlertsTotal, metrics.OutputDropsTotal, metrics.OutputErrorsTotal, metrics.RulesLoaded} {
		if !used[must] {
			t.Errorf("dashboard does not show %s", must)
		}
	}
}

// auditPolicy mirrors audit.k8s.io/v1 Policy (k8s.io/apiserver is not a
// dependency); decoding strictly catches misspelt keys.
type auditPolicy struct {
	APIVersion        string   `json:"apiVersion"`
	Kind              string   `json:"kind"`
	OmitStages        []string `json:"omitStages"`
	OmitManagedFields bool     `json:"omitManagedFields"`
	Rules             []struct {
		Level      string   `json:"level"`
		Users      []string `json:"users"`
		UserGroups []string `json:"userGroups"`
		Verbs      []string `json:"verbs"`
		Resources  []struct {
			Group         string   `json:"group"`
			Resources     []string `json:"resources"`
			ResourceNames []string `json:"resourceNames"`
		} `json:"resources"`
		Namespaces        []string `json:"namespaces"`
		NonResourceURLs   []string `json:"nonResourceURLs"`
		OmitStages        []string `json:"omitStages"`
		OmitManagedFields *bool    `json:"omitManagedFields"`
	} `json:"rules"`
}

func TestAuditPolicy(t *testing.T) {
	b, err := os.ReadFile("audit/audit-policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var p auditPolicy
	if err := strict("audit/audit-policy.yaml", b, &p); err != nil {
		t.Fatal(err)
	}
	if p.APIVersion != "audit.k8s.io/v1" || p.Kind != "Policy" || len(p.Rules) == 0 {
		t.Fatalf("%s/%s with %d rules", p.APIVersion, p.Kind, len(p.Rules))
	}
	stages := []string{"RequestReceived", "ResponseStarted", "ResponseComplete", "Panic"}
	for _, s := range p.OmitStages {
		if !slices.Contains(stages, s) {
			t.Errorf("unknown stage %q", s)
		}
	}
	var exec bool
	for i, r := range p.Rules {
		if !slices.Contains([]string{"None", "Metadata", "Request", "RequestResponse"}, r.Level) {
			t.Errorf("rule %d: level %q", i, r.Level)
		}
		if len(r.NonResourceURLs) > 0 && len(r.Resources) > 0 {
			t.Errorf("rule %d: nonResourceURLs and resources are exclusive", i)
		}
		for _, res := range r.Resources {
			if slices.Contains(res.Resources, "pods/exec") && r.Level != "None" {
				exec = true
			}
		}
	}
	if !exec {
		t.Error("pods/exec is not audited (Falco's \"Attach/Exec Pod\" needs it at Metadata or above)")
	}
	// Secrets must never be logged with their content.
	for i, r := range p.Rules {
		for _, res := range r.Resources {
			if slices.Contains(res.Resources, "secrets") && (r.Level == "Request" || r.Level == "RequestResponse") {
				t.Errorf("rule %d logs secret bodies", i)
			}
		}
	}
}
