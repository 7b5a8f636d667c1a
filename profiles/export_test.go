package profiles_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	goyaml "github.com/goccy/go-yaml"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/sysward/sysward/internal/inputfile"
	"github.com/sysward/sysward/internal/testutil"
	"github.com/sysward/sysward/profiles"
)

func load(t *testing.T, path string) *profiles.Profile {
	t.Helper()
	p, err := inputfile.Profile(path)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func export(t *testing.T, p *profiles.Profile, format string, o *profiles.ExportOptions) []byte {
	t.Helper()
	b, err := profiles.Export(p, format, o)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestExportOCI(t *testing.T) {
	p := load(t, "../examples/profiles/redis.json")
	full := export(t, p, profiles.FormatOCI, nil)
	stripped := export(t, p, profiles.FormatOCI, &profiles.ExportOptions{StripSysward: true})
	if !bytes.Contains(full, []byte(`"sysward"`)) || bytes.Contains(stripped, []byte(`"sysward"`)) {
		t.Error("sysward key not kept / not stripped")
	}
	// What runc decodes: the runtime-spec type, strictly (no unknown fields).
	var spec specs.LinuxSeccomp
	dec := json.NewDecoder(bytes.NewReader(stripped))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&spec); err != nil {
		t.Fatalf("stripped export is not a plain runtime-spec LinuxSeccomp: %v", err)
	}
	if spec.DefaultAction != profiles.ActErrno || len(spec.Syscalls) != 1 {
		t.Errorf("decoded %+v", spec)
	}
}

// TestExportRunc: the exported OCI JSON of a shipped sample is accepted by
// real runc, and the container runs under it; a profile lacking write makes
// the same container fail, so the filter is really in force.
func TestExportRunc(t *testing.T) {
	testutil.Require(t, testutil.Runc)
	p := load(t, "../examples/profiles/busybox-sh.json")
	run := func(p *profiles.Profile) (string, int) {
		data := export(t, p, profiles.FormatOCI, nil) // with the sysward key: runc must ignore it
		bundle := testutil.BusyboxBundle(t, []string{"sh", "-c", "echo ok"}, func(s *specs.Spec) {
			var sc specs.LinuxSeccomp
			if err := json.Unmarshal(data, &sc); err != nil {
				t.Fatal(err)
			}
			s.Linux.Seccomp = &sc
		})
		return testutil.RunRunc(t, bundle, testutil.ContainerID(t))
	}
	out, code := run(p)
	if code != 0 || strings.TrimSpace(out) != "ok" {
		t.Fatalf("container under the exported profile: status %d, output %q", code, out)
	}
	// Negative control: without write, echo cannot print.
	q := profiles.New(p.DefaultAction, p.Arches()...)
	for _, n := range p.AllowedSyscalls(profiles.ArchX86_64) {
		if n != "write" {
			q.Allow(n)
		}
	}
	out, code = run(q)
	if code == 0 && strings.Contains(out, "ok") {
		t.Fatalf("container printed %q without write allowed: the filter was not applied", out)
	}
}

func TestExportSPO(t *testing.T) {
	p := load(t, "../examples/profiles/redis.json")
	for _, asJSON := range []bool{false, true} {
		data := export(t, p, profiles.FormatSPO, &profiles.ExportOptions{Name: "Redis_Cache.json", Namespace: "prod", JSON: asJSON})
		var r struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Metadata   struct {
				Name        string            `json:"name"`
				Namespace   string            `json:"namespace"`
				Annotations map[string]string `json:"annotations"`
			} `json:"metadata"`
			Spec struct {
				DefaultAction string   `json:"defaultAction"`
				Architectures []string `json:"architectures"`
				Syscalls      []struct {
					Names    []string `json:"names"`
					Action   string   `json:"action"`
					ErrnoRet string   `json:"errnoRet"`
					Args     []struct {
						Index    uint   `json:"index"`
						Value    uint64 `json:"value"`
						ValueTwo uint64 `json:"valueTwo"`
						Op       string `json:"op"`
					} `json:"args"`
				} `json:"syscalls"`
			} `json:"spec"`
		}
		if err := yaml.UnmarshalStrict(data, &r); err != nil {
			t.Fatalf("SPO resource (json=%v) does not decode strictly: %v\n%s", asJSON, err, data)
		}
		if r.APIVersion != "security-profiles-operator.x-k8s.io/v1beta1" || r.Kind != "SeccompProfile" ||
			r.Metadata.Name != "redis-cache" || r.Metadata.Namespace != "prod" {
			t.Errorf("identity: %+v", r)
		}
		if r.Spec.DefaultAction != "SCMP_ACT_ERRNO" || !slices.Equal(r.Spec.Architectures, []string{"SCMP_ARCH_X86_64"}) ||
			len(r.Spec.Syscalls) != 1 || !slices.Equal(r.Spec.Syscalls[0].Names, p.Syscalls[0].Names) {
			t.Errorf("spec: %+v", r.Spec)
		}
		if !strings.Contains(r.Metadata.Annotations["sysward.io/provenance"], "redis-server") {
			t.Errorf("provenance annotation: %v", r.Metadata.Annotations)
		}
	}
	// errnoRet becomes SPO's string form.
	q := profiles.New(profiles.ActAllow)
	e := uint(38)
	q.AddRule(profiles.ActErrno, &e, "clone3")
	if data := export(t, q, profiles.FormatSPO, nil); !bytes.Contains(data, []byte(`errnoRet: "38"`)) {
		t.Errorf("errnoRet not a string:\n%s", data)
	}
	// A defaultErrnoRet SPO cannot express is refused, not silently dropped.
	r := profiles.New(profiles.ActErrno)
	*r.DefaultErrnoRet = 38
	if _, err := profiles.Export(r, profiles.FormatSPO, nil); !errors.Is(err, profiles.ErrIncompatible) {
		t.Errorf("defaultErrnoRet 38: %v", err)
	}
}

func TestExportPodPatch(t *testing.T) {
	t.Run("deployment", func(t *testing.T) {
		data := export(t, nil, profiles.FormatPodPatch, &profiles.ExportOptions{Name: "web", Namespace: "prod"})
		var d appsv1.Deployment
		if err := yaml.UnmarshalStrict(data, &d); err != nil {
			t.Fatalf("patch is not a strict apps/v1 Deployment: %v\n%s", err, data)
		}
		if d.APIVersion != "apps/v1" || d.Kind != "Deployment" || d.Name != "web" || d.Namespace != "prod" {
			t.Errorf("identity %+v", d.TypeMeta)
		}
		sp := d.Spec.Template.Spec.SecurityContext.SeccompProfile
		if sp.Type != corev1.SeccompProfileTypeLocalhost || *sp.LocalhostProfile != "sysward/web.json" {
			t.Errorf("seccompProfile %+v", sp)
		}
	})
	t.Run("pod container json", func(t *testing.T) {
		data := export(t, nil, profiles.FormatPodPatch, &profiles.ExportOptions{Name: "web", Kind: "Pod", Container: "nginx", JSON: true, LocalhostProfile: "profiles/web.json"})
		if !json.Valid(data) {
			t.Fatalf("not JSON: %s", data)
		}
		var pod corev1.Pod
		if err := yaml.UnmarshalStrict(data, &pod); err != nil {
			t.Fatalf("patch is not a strict v1 Pod: %v", err)
		}
		c := pod.Spec.Containers[0]
		if pod.Kind != "Pod" || pod.APIVersion != "v1" || c.Name != "nginx" || *c.SecurityContext.SeccompProfile.LocalhostProfile != "profiles/web.json" {
			t.Errorf("pod %+v", pod)
		}
	})
	if _, err := profiles.Export(nil, profiles.FormatPodPatch, &profiles.ExportOptions{Kind: "CronJob"}); !errors.Is(err, profiles.ErrUnknownFormat) {
		t.Errorf("CronJob: %v", err)
	}
}

// TestExportFalco: the snippet is valid YAML with a list holding exactly
// the allowed syscalls, a macro selecting the workload, and a rule firing
// on any other syscall in it.
func TestExportFalco(t *testing.T) {
	p := load(t, "../examples/profiles/busybox-httpd.json")
	data := export(t, p, profiles.FormatFalco, &profiles.ExportOptions{Name: "web-1"})
	var items []map[string]any
	if err := goyaml.Unmarshal(data, &items); err != nil {
		t.Fatalf("falco snippet is not YAML: %v\n%s", err, data)
	}
	if len(items) != 3 {
		t.Fatalf("want list, macro, rule; got %d items", len(items))
	}
	if items[0]["list"] != "web_1_syscalls" || items[1]["macro"] != "web_1_workload" || items[2]["rule"] != profiles.FalcoRuleName("web-1") {
		t.Errorf("names: %v %v %v", items[0]["list"], items[1]["macro"], items[2]["rule"])
	}
	var list []string
	for _, it := range items[0]["items"].([]any) {
		list = append(list, it.(string))
	}
	if want := p.AllowedSyscalls(profiles.ArchX86_64); !slices.Equal(list, want) {
		t.Errorf("list %v, want %v", list, want)
	}
	if items[1]["condition"] != `sysward.workload = "web-1"` {
		t.Errorf("macro condition %q", items[1]["condition"])
	}
	cond := items[2]["condition"].(string)
	if cond != "evt.dir = < and web_1_workload and not evt.type in (web_1_syscalls)" {
		t.Errorf("rule condition %q", cond)
	}
	if items[2]["priority"] != "WARNING" || items[2]["source"] != "syscall" || !strings.Contains(items[2]["output"].(string), "%evt.type") {
		t.Errorf("rule %v", items[2])
	}
	custom := export(t, p, profiles.FormatFalco, &profiles.ExportOptions{Name: "web", FalcoCondition: `container.name = "web" and k8s.ns.name = "prod"`, FalcoPriority: "CRITICAL"})
	if err := goyaml.Unmarshal(custom, &items); err != nil || items[1]["condition"] != `container.name = "web" and k8s.ns.name = "prod"` || items[2]["priority"] != "CRITICAL" {
		t.Errorf("custom condition: %v %v", err, items)
	}
	if _, err := profiles.Export(p, "seccomp-bpf", nil); !errors.Is(err, profiles.ErrUnknownFormat) {
		t.Errorf("unknown format: %v", err)
	}
}

// FuzzFalcoExportQuoting: whatever the workload name and macro condition,
// the Falco snippet stays valid YAML and carries them unchanged.
func FuzzFalcoExportQuoting(f *testing.F) {
	for _, s := range [][2]string{
		{"web", `sysward.workload = "web"`}, {"a: b #c", `container.name = "x: y"`}, {"-x", "proc.name in (a, b)"},
		{"yes", "true"}, {"'q'", `"quoted"`}, {"tab\there", "line\nbreak"}, {"%p", "evt.dir = <"}, {"", "& *"},
	} {
		f.Add(s[0], s[1])
	}
	p := profiles.New(profiles.ActErrno, profiles.ArchX86_64)
	p.Allow("read", "write")
	f.Fuzz(func(t *testing.T, name, cond string) {
		if strings.TrimSpace(cond) == "" || !utf8.ValidString(name) || !utf8.ValidString(cond) || strings.ContainsAny(name+cond, "\x00\r\ufeff") {
			return // conditions are non-empty text; YAML has no way to carry NUL
		}
		for _, r := range name + cond {
			if r < 0x20 && r != '\n' && r != '\t' || r == 0x7f || (r >= 0x80 && r < 0xa0) {
				return // YAML forbids C0/C1 controls even quoted
			}
		}
		data := export(t, p, profiles.FormatFalco, &profiles.ExportOptions{Name: name, FalcoCondition: cond})
		var items []map[string]any
		if err := goyaml.Unmarshal(data, &items); err != nil {
			t.Fatalf("not YAML for name %q cond %q: %v\n%s", name, cond, err, data)
		}
		if len(items) != 3 || items[1]["condition"] != cond {
			t.Fatalf("macro condition %q, want %q\n%s", items[1]["condition"], cond, data)
		}
		wantName := name
		if wantName == "" {
			wantName = "sysward-profile"
		}
		if items[2]["rule"] != profiles.FalcoRuleName(wantName) {
			t.Fatalf("rule name %q, want %q", items[2]["rule"], profiles.FalcoRuleName(wantName))
		}
	})
}
