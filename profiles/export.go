package profiles

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"sigs.k8s.io/yaml"
)

// Export formats.
const (
	FormatOCI      = "oci"       // the profile JSON runc, ctr, podman and the kubelet load
	FormatSPO      = "spo"       // a Security Profiles Operator SeccompProfile resource
	FormatPodPatch = "pod-patch" // a strategic-merge patch pointing a workload at a Localhost profile
	FormatFalco    = "falco"     // a Falco rules snippet: list, macro, deviation rule
)

// ExportFormats lists the formats Export accepts.
func ExportFormats() []string { return []string{FormatOCI, FormatSPO, FormatPodPatch, FormatFalco} }

// SPO resource identity.
const (
	SPOAPIVersion = "security-profiles-operator.x-k8s.io/v1beta1"
	SPOKind       = "SeccompProfile"
)

// ExportOptions tunes Export; nil means defaults.
type ExportOptions struct {
	// Name names the resource, workload and Falco items; default
	// "sysward-profile". It is made a valid Kubernetes name / Falco
	// identifier where needed.
	Name string
	// Namespace, for the SPO resource and the pod patch ("" omits it).
	Namespace string
	// StripSysward drops the "sysward" metadata from the OCI export.
	StripSysward bool
	// JSON writes the SPO resource and pod patch as JSON instead of YAML.
	JSON bool
	// LocalhostProfile is the pod patch's localhostProfile, relative to the
	// kubelet's seccomp root (/var/lib/kubelet/seccomp); default
	// "sysward/<name>.json".
	LocalhostProfile string
	// Kind is the pod patch's target: "Deployment" (default; also
	// StatefulSet, DaemonSet, ReplicaSet, Job: the pod template) or "Pod".
	Kind string
	// Container sets the profile on this container instead of the pod.
	Container string
	// FalcoCondition selects the workload in the Falco macro; default
	// `sysward.workload = "<name>"` (sysward watch's field). With stock
	// Falco use e.g. `container.name = "web"` or `k8s.pod.label.app = "web"`.
	FalcoCondition string
	// FalcoPriority of the deviation rule; default WARNING.
	FalcoPriority string
	// Arch whose syscalls the Falco list holds; default: all CheckedArches.
	Arch Arch
}

func (o *ExportOptions) name() string {
	if o == nil || o.Name == "" {
		return "sysward-profile"
	}
	return o.Name
}

// Export renders p in format (see ExportFormats). p is not modified.
func Export(p *Profile, format string, opts *ExportOptions) ([]byte, error) {
	if opts == nil {
		opts = &ExportOptions{}
	}
	switch format {
	case FormatOCI, "":
		c := p.Clone()
		if opts.StripSysward {
			c.Sysward = nil
		}
		return Marshal(c)
	case FormatSPO:
		return exportSPO(p, opts)
	case FormatPodPatch:
		return exportPodPatch(opts)
	case FormatFalco:
		return exportFalco(p, opts)
	}
	return nil, fmt.Errorf("export format %q (known: %s): %w", format, strings.Join(ExportFormats(), ", "), ErrUnknownFormat)
}

var nonDNS = regexp.MustCompile(`[^a-z0-9.-]+`)

// KubeName turns s into a DNS-1123 subdomain usable as metadata.name.
func KubeName(s string) string {
	s = strings.TrimSuffix(strings.ToLower(s), ".json")
	s = nonDNS.ReplaceAllString(s, "-")
	s = strings.Trim(s, "-.")
	if len(s) > 253 {
		s = strings.Trim(s[:253], "-.")
	}
	if s == "" {
		s = "sysward-profile"
	}
	return s
}

var nonIdent = regexp.MustCompile(`[^a-zA-Z0-9_]+`)

// falcoIdent turns s into a Falco list/macro identifier.
func falcoIdent(s string) string {
	id := strings.Trim(nonIdent.ReplaceAllString(strings.TrimSuffix(s, ".json"), "_"), "_")
	if id != "" && id[0] >= '0' && id[0] <= '9' {
		id = "w_" + id // identifiers start with a letter or underscore
	}
	return id
}

func encodeK8s(v any, asJSON bool) ([]byte, error) {
	var b bytes.Buffer
	if err := encodeJSON(&b, v); err != nil {
		return nil, err
	}
	if asJSON {
		return b.Bytes(), nil
	}
	return yaml.JSONToYAML(b.Bytes())
}

// spoSyscall mirrors SPO v1beta1's Syscall: errnoRet is a string there.
type spoSyscall struct {
	Names    []string `json:"names"`
	Action   Action   `json:"action"`
	ErrnoRet string   `json:"errnoRet,omitempty"`
	Args     []spoArg `json:"args,omitempty"`
}

type spoArg struct {
	Index    uint   `json:"index"`
	Value    uint64 `json:"value,omitempty"`
	ValueTwo uint64 `json:"valueTwo,omitempty"`
	Op       string `json:"op"`
}

type spoSpec struct {
	DefaultAction    Action       `json:"defaultAction"`
	Architectures    []string     `json:"architectures,omitempty"`
	ListenerPath     string       `json:"listenerPath,omitempty"`
	ListenerMetadata string       `json:"listenerMetadata,omitempty"`
	Syscalls         []spoSyscall `json:"syscalls,omitempty"`
	Flags            []string     `json:"flags,omitempty"`
}

type objectMeta struct {
	Name        string            `json:"name"`
	Namespace   string            `json:"namespace,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

type spoResource struct {
	APIVersion string     `json:"apiVersion"`
	Kind       string     `json:"kind"`
	Metadata   objectMeta `json:"metadata"`
	Spec       spoSpec    `json:"spec"`
}

func exportSPO(p *Profile, o *ExportOptions) ([]byte, error) {
	c := Canonical(p)
	// SPO's spec has no defaultErrnoRet: the runtime then returns EPERM.
	if c.DefaultErrnoRet != nil && *c.DefaultErrnoRet != 1 {
		return nil, fmt.Errorf("exporting SeccompProfile: defaultErrnoRet %d cannot be expressed (SPO's spec has no such field; runtimes then use EPERM): %w", *c.DefaultErrnoRet, ErrIncompatible)
	}
	r := spoResource{APIVersion: SPOAPIVersion, Kind: SPOKind,
		Metadata: objectMeta{Name: KubeName(o.name()), Namespace: o.Namespace},
		Spec:     spoSpec{DefaultAction: c.DefaultAction, ListenerPath: c.ListenerPath, ListenerMetadata: c.ListenerMetadata}}
	for _, a := range c.Architectures {
		r.Spec.Architectures = append(r.Spec.Architectures, string(a))
	}
	for _, f := range c.Flags {
		r.Spec.Flags = append(r.Spec.Flags, string(f))
	}
	for _, s := range c.Syscalls {
		ss := spoSyscall{Names: s.Names, Action: s.Action}
		if s.ErrnoRet != nil {
			ss.ErrnoRet = strconv.FormatUint(uint64(*s.ErrnoRet), 10)
		}
		for _, a := range s.Args {
			ss.Args = append(ss.Args, spoArg{Index: a.Index, Value: a.Value, ValueTwo: a.ValueTwo, Op: string(a.Op)})
		}
		r.Spec.Syscalls = append(r.Spec.Syscalls, ss)
	}
	if m := c.Sysward; m != nil && len(m.Provenance) > 0 {
		prov, err := json.Marshal(m.Provenance)
		if err != nil {
			return nil, err
		}
		r.Metadata.Annotations = map[string]string{"sysward.io/provenance": string(prov)}
	}
	return encodeK8s(r, o.JSON)
}

func exportPodPatch(o *ExportOptions) ([]byte, error) {
	kind := o.Kind
	if kind == "" {
		kind = "Deployment"
	}
	apiVersion := map[string]string{"Pod": "v1", "Deployment": "apps/v1", "StatefulSet": "apps/v1",
		"DaemonSet": "apps/v1", "ReplicaSet": "apps/v1", "Job": "batch/v1"}[kind]
	if apiVersion == "" {
		return nil, fmt.Errorf("pod patch for kind %q (known: Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet, Job): %w", kind, ErrUnknownFormat)
	}
	lp := o.LocalhostProfile
	if lp == "" {
		lp = "sysward/" + KubeName(o.name()) + ".json"
	}
	sc := map[string]any{"seccompProfile": map[string]any{"type": "Localhost", "localhostProfile": lp}}
	podSpec := map[string]any{}
	if o.Container != "" {
		podSpec["containers"] = []any{map[string]any{"name": o.Container, "securityContext": sc}}
	} else {
		podSpec["securityContext"] = sc
	}
	spec := podSpec
	if kind != "Pod" {
		spec = map[string]any{"template": map[string]any{"spec": podSpec}}
	}
	meta := map[string]any{"name": KubeName(o.name())}
	if o.Namespace != "" {
		meta["namespace"] = o.Namespace
	}
	return encodeK8s(map[string]any{"apiVersion": apiVersion, "kind": kind, "metadata": meta, "spec": spec}, o.JSON)
}

func exportFalco(p *Profile, o *ExportOptions) ([]byte, error) {
	name := o.name()
	id := falcoIdent(name)
	if id == "" {
		id = "sysward_profile"
	}
	arches := CheckedArches(p)
	if o.Arch != "" {
		if tables[o.Arch] == nil {
			return nil, fmt.Errorf("falco export for %s: %w", o.Arch, ErrUnknownArch)
		}
		arches = []Arch{o.Arch}
	}
	set := map[string]bool{}
	for _, a := range arches {
		for _, n := range p.AllowedSyscalls(a) {
			set[n] = true
		}
	}
	var names []string
	for n := range set {
		names = append(names, n)
	}
	names = sortedUnique(names)
	cond := o.FalcoCondition
	if cond == "" {
		cond = "sysward.workload = " + strconv.Quote(name)
	}
	prio := o.FalcoPriority
	if prio == "" {
		prio = "WARNING"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# Generated by sysward from the seccomp profile %q.\n", name)
	fmt.Fprintf(&b, "# %s_syscalls: every syscall the profile lets the workload make", id)
	if len(arches) > 0 {
		var as []string
		for _, a := range arches {
			as = append(as, string(a))
		}
		fmt.Fprintf(&b, " (%s)", strings.Join(as, ", "))
	}
	b.WriteString(".\n")
	if Allows(p.DefaultAction) {
		b.WriteString("# The profile allows by default: the list holds every known syscall it does not deny.\n")
	}
	fmt.Fprintf(&b, "- list: %s_syscalls\n  items: [", id)
	for i, n := range names {
		switch {
		case i > 0 && i%8 == 0:
			b.WriteString(",\n    ")
		case i > 0:
			b.WriteString(", ")
		}
		b.WriteString(n)
	}
	b.WriteString("]\n\n")
	fmt.Fprintf(&b, "- macro: %s_workload\n  condition: %s\n\n", id, yamlScalar(cond))
	fmt.Fprintf(&b, "- rule: %s\n", yamlScalar(FalcoRuleName(name)))
	fmt.Fprintf(&b, "  desc: %s\n", yamlScalar("A process of workload "+name+" made a system call its learned seccomp profile does not allow."))
	fmt.Fprintf(&b, "  condition: %s\n", yamlScalar(fmt.Sprintf("evt.dir = < and %s_workload and not evt.type in (%s_syscalls)", id, id)))
	fmt.Fprintf(&b, "  output: %s\n", yamlScalar("Syscall outside seccomp profile (syscall=%evt.type res=%evt.res proc=%proc.name cmdline=%proc.cmdline pid=%proc.pid container=%container.id image=%container.image.repository workload="+name+")"))
	fmt.Fprintf(&b, "  priority: %s\n", prio)
	b.WriteString("  source: syscall\n")
	b.WriteString("  tags: [sysward, seccomp, container, mitre_execution]\n")
	return []byte(b.String()), nil
}

// yamlScalar renders s as a YAML scalar: plain when that is unambiguous (as
// Falco's own rules files write conditions), else double-quoted.
func yamlScalar(s string) string {
	plain := s != "" && !strings.ContainsAny(s[:1], "-?:,[]{}#&*!|>'\"%@` +.0123456789") &&
		!strings.HasSuffix(s, " ") && !strings.Contains(s, ": ") && !strings.Contains(s, " #") &&
		!strings.ContainsAny(s, "\n\t\\") && !strings.HasSuffix(s, ":")
	if plain {
		switch strings.ToLower(s) {
		case "true", "false", "yes", "no", "on", "off", "null", "~":
			plain = false
		}
	}
	if plain {
		return s
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b) // a JSON string is a valid YAML double-quoted scalar
	enc.SetEscapeHTML(false)
	enc.Encode(s)
	return strings.TrimSuffix(b.String(), "\n")
}

// FalcoRuleName is the name of the deviation rule the Falco export writes
// for the workload called name.
func FalcoRuleName(name string) string { return "Syscall outside seccomp profile " + name }
