package profiles

import (
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Profile is a seccomp profile in the OCI/Docker JSON format that runc, ctr,
// podman and the kubelet load unchanged, plus sysward's own metadata under the
// "sysward" key, which those runtimes ignore (they decode with encoding/json,
// which drops unknown fields).
type Profile struct {
	specs.LinuxSeccomp
	// Sysward holds provenance and learning statistics; nil for a profile
	// that sysward did not write.
	Sysward *Metadata `json:"sysward,omitempty"`
}

// Metadata is what sysward records about how a profile came to be.
type Metadata struct {
	// Provenance lists every learning session that contributed (more than
	// one after Merge), in the order they were merged, deduplicated.
	Provenance []Provenance `json:"provenance,omitempty"`
	// Stats holds per-syscall learning statistics keyed by syscall name.
	Stats map[string]SyscallStats `json:"stats,omitempty"`
	// Reachable lists, per syscall name, the syscalls the workload's
	// binaries can reach (from their imports) that the profile does not
	// allow, each as "static:<binary>:<function>": a dangerous syscall is
	// reported here rather than allowed.
	Reachable map[string][]string `json:"reachable,omitempty"`
}

// Provenance describes one learning session.
type Provenance struct {
	// Tool is "sysward <version>".
	Tool string `json:"tool,omitempty"`
	// Host is the node's hostname.
	Host string `json:"host,omitempty"`
	// Kernel is the kernel release (uname -r).
	Kernel string `json:"kernel,omitempty"`
	// Target says what was learned: "command", "cgroup", "pid", "container".
	Target string `json:"target,omitempty"`
	// Workload identifies it: the command line, cgroup path, or container id.
	Workload string `json:"workload,omitempty"`
	// Started and Ended bound the session.
	Started time.Time `json:"started,omitzero"`
	Ended   time.Time `json:"ended,omitzero"`
}

// SyscallStats are per-syscall learning statistics.
type SyscallStats struct {
	// FirstSeen is when the syscall was first observed.
	FirstSeen time.Time `json:"firstSeen,omitzero"`
	// Arches lists the architectures (OCI names) it was seen on.
	Arches []Arch `json:"arches,omitempty"`
	// Sessions is how many learning sessions saw it (grows with Merge).
	Sessions int `json:"sessions,omitempty"`
	// Sources says why the syscall is allowed, each one of SourceTraced,
	// "family:<member>" (SourceFamilyPrefix + the learned member that
	// brought it in), SourceBaseline, "static:<binary>:<function>"
	// (SourceStaticPrefix + …), SourceRuntimeBase or SourceComplain. Sorted
	// and deduplicated when saved; Merge takes the union.
	Sources []string `json:"sources,omitempty"`
}

// Values of SyscallStats.Sources.
const (
	SourceTraced       = "traced"
	SourceFamilyPrefix = "family:"
	SourceBaseline     = "baseline"
	SourceStaticPrefix = "static:"
	SourceRuntimeBase  = "runtime-base"
	SourceComplain     = "complain"
)
