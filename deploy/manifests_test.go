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
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/sysward/sysward/detector"
	"github.com/sysward/sysward/detector/metrics"
	"github.com/sysward/sysward/detector/output"
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
}

// manifests holds every decoded object by kind and name.
type manifests struct {
	namespaces      map[string]*corev1.Namespace
	serviceAccounts map[string]*corev1.ServiceAccount
	configMaps      map[string]*corev1.ConfigMap
	services        map[string]*corev1.Service
	daemonSets      map[string]*appsv1.DaemonSet
	clusterRoles    map[string]*rbacv1.ClusterRole
	bindings        map[string]*rbacv1.ClusterRoleBinding
	custom          map[string]*unstructured.Unstructured // "Kind/name"
	kust            kustomization
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

func load(t *testing.T) *manifests {
	t.Helper()
	m := &manifests{
		namespaces: map[string]*corev1.Namespace{}, serviceAccounts: map[string]*corev1.ServiceAccount{},
		configMaps: map[string]*corev1.ConfigMap{}, services: map[string]*corev1.Service{},
		daemonSets: map[string]*appsv1.DaemonSet{}, clusterRoles: map[string]*rbacv1.ClusterRole{},
		bindings: map[string]*rbacv1.ClusterRoleBinding{}, custom: map[string]*unstructured.Unstructured{},
	}
	kb, err := os.ReadFile("kustomization.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := strict("kustomization.yaml", kb, &m.kust); err != nil {
		t.Fatal(err)
	}
	if m.kust.APIVersion != "kustomize.config.k8s.io/v1beta1" || m.kust.Kind != "Kustomization" {
		t.Fatalf("kustomization.yaml: %s/%s", m.kust.APIVersion, m.kust.Kind)
	}
	for _, file := range m.kust.Resources {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatalf("kustomization.yaml resource: %v", err)
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
	return m
}

func TestKustomizationFiles(t *testing.T) {
	m := load(t)
	if m.kust.Namespace != "sysward" || m.namespaces["sysward"] == nil {
		t.Errorf("namespace %q, Namespace objects %v", m.kust.Namespace, m.namespaces)
	}
	if len(m.kust.ConfigMapGenerator) != 1 {
		t.Fatalf("configMapGenerator: %d entries", len(m.kust.ConfigMapGenerator))
	}
	g := m.kust.ConfigMapGenerator[0]
	if g.Options.Labels["grafana_dashboard"] != "1" || !g.Options.DisableNameSuffixHash {
		t.Errorf("dashboard ConfigMap generator options %+v", g.Options)
	}
	for _, f := range g.Files {
		key, path, ok := strings.Cut(f, "=")
		if !ok {
			path = key
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("generator file: %v", err)
		}
		if !json.Valid(b) {
			t.Errorf("%s is not JSON", path)
		}
		// ConfigMap keys must be valid: what kustomize would generate.
		cm := corev1.ConfigMap{Data: map[string]string{key: string(b)}}
		if len(cm.Data[key]) > 1<<20 {
			t.Errorf("%s is over a ConfigMap's 1 MiB", path)
		}
	}
	for _, im := range m.kust.Images {
		found := false
		for _, ds := range m.daemonSets {
			for _, c := range ds.Spec.Template.Spec.Containers {
				found = found || strings.HasPrefix(c.Image, im.Name+":")
			}
		}
		if !found {
			t.Errorf("images: %s is used by no container", im.Name)
		}
	}
}

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
	if len(spec.Containers) != 1 {
		t.Fatalf("%d containers", len(spec.Containers))
	}
	c := spec.Containers[0]
	sc := c.SecurityContext
	if sc == nil || sc.Privileged == nil || *sc.Privileged {
		t.Error("the agent must not be privileged")
	}
	if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		t.Error("readOnlyRootFilesystem must be true")
	}
	if sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
		t.Error("capabilities must drop ALL")
	}
	allowed := []corev1.Capability{"BPF", "PERFMON", "SYS_RESOURCE", "SYS_ADMIN", "SYS_PTRACE"}
	for _, cp := range sc.Capabilities.Add {
		if !slices.Contains(allowed, cp) {
			t.Errorf("capability %s is not one the agent needs", cp)
		}
	}
	for _, need := range []corev1.Capability{"BPF", "PERFMON"} {
		if !slices.Contains(sc.Capabilities.Add, need) {
			t.Errorf("capability %s missing", need)
		}
	}
	// The API server refuses allowPrivilegeEscalation=false with CAP_SYS_ADMIN.
	if sc.AllowPrivilegeEscalation != nil && !*sc.AllowPrivilegeEscalation && slices.Contains(sc.Capabilities.Add, "SYS_ADMIN") {
		t.Error("allowPrivilegeEscalation: false with SYS_ADMIN is rejected by the API server")
	}
	seccomp := sc.SeccompProfile
	if seccomp == nil && spec.SecurityContext != nil {
		seccomp = spec.SecurityContext.SeccompProfile
	}
	if seccomp == nil || seccomp.Type == corev1.SeccompProfileTypeUnconfined {
		t.Errorf("the agent needs a seccomp profile, got %+v", seccomp)
	}
	if seccomp != nil && seccomp.Type == corev1.SeccompProfileTypeLocalhost && (seccomp.LocalhostProfile == nil || *seccomp.LocalhostProfile == "") {
		t.Error("Localhost seccomp profile without localhostProfile")
	}

	vols := map[string]corev1.Volume{}
	for _, v := range spec.Volumes {
		vols[v.Name] = v
	}
	hostPaths := map[string]bool{}
	for _, vm := range c.VolumeMounts {
		v, ok := vols[vm.Name]
		if !ok {
			t.Errorf("volumeMount %s has no volume", vm.Name)
			continue
		}
		if v.HostPath != nil {
			hostPaths[v.HostPath.Path] = true
			if !vm.ReadOnly && v.HostPath.Path != "/var/lib/kubelet/seccomp" {
				t.Errorf("hostPath %s is mounted read-write", v.HostPath.Path)
			}
		}
		if v.ConfigMap != nil && m.configMaps[v.ConfigMap.Name] == nil {
			t.Errorf("volume %s: ConfigMap %s is not in the manifests", v.Name, v.ConfigMap.Name)
		}
	}
	for _, p := range []string{"/sys/kernel/btf", "/sys/fs/cgroup", "/var/lib/kubelet/seccomp", "/run/containerd"} {
		if !hostPaths[p] {
			t.Errorf("hostPath %s is not mounted", p)
		}
	}
	ports := map[string]int32{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	if ports["metrics"] == 0 {
		t.Fatal("no metrics port")
	}
	for _, pr := range []*corev1.Probe{c.LivenessProbe, c.ReadinessProbe} {
		if pr == nil || pr.HTTPGet == nil || pr.HTTPGet.Path != "/healthz" || pr.HTTPGet.Port.StrVal != "metrics" {
			t.Errorf("probe %+v: want GET /healthz on the metrics port", pr)
		}
	}
	if c.Resources.Limits.Memory().IsZero() {
		t.Error("no memory limit")
	}
}

type labelSet map[string]string

func (l labelSet) Has(k string) bool   { _, ok := l[k]; return ok }
func (l labelSet) Get(k string) string { return l[k] }
func (l labelSet) Lookup(k string) (string, bool) {
	v, ok := l[k]
	return v, ok
}

func TestServiceAndMonitorReachTheAgent(t *testing.T) {
	m := load(t)
	ds := m.daemonSets["sysward"]
	svc := m.services["sysward"]
	if ds == nil || svc == nil {
		t.Fatal("DaemonSet or Service sysward missing")
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

func TestRBACIsReadOnlyAndBound(t *testing.T) {
	m := load(t)
	for name, b := range m.bindings {
		if b.RoleRef.Kind != "ClusterRole" || m.clusterRoles[b.RoleRef.Name] == nil {
			t.Errorf("binding %s refers to missing %s %s", name, b.RoleRef.Kind, b.RoleRef.Name)
		}
		for _, s := range b.Subjects {
			if s.Kind == "ServiceAccount" && (m.serviceAccounts[s.Name] == nil || s.Namespace != "sysward") {
				t.Errorf("binding %s subject %s/%s is not the agent's ServiceAccount", name, s.Namespace, s.Name)
			}
		}
	}
	for name, r := range m.clusterRoles {
		for _, rule := range r.Rules {
			for _, v := range rule.Verbs {
				if !slices.Contains([]string{"get", "list", "watch"}, v) {
					t.Errorf("ClusterRole %s grants %s on %v: the agent only reads", name, v, rule.Resources)
				}
			}
		}
	}
	var pods bool
	for _, r := range m.clusterRoles["sysward"].Rules {
		pods = pods || slices.Contains(r.Resources, "pods")
	}
	if !pods {
		t.Error("ClusterRole sysward cannot read pods")
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
	b, err := os.ReadFile("grafana-dashboard.json")
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
			if slices.Contains(res.Resources, "pods/exec") && r.Level == "RequestResponse" {
				exec = true
			}
		}
	}
	if !exec {
		t.Error("pods/exec is not audited at RequestResponse")
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
