package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Group, Version and resource names.
const (
	Group    = "sysward.io"
	Version  = "v1alpha1"
	Kind     = "WorkloadProfile"
	Resource = "workloadprofiles"
)

// SchemeGroupVersion is group sysward.io, version v1alpha1.
var SchemeGroupVersion = schema.GroupVersion{Group: Group, Version: Version}

// Labels and annotations sysward reads on workloads, their pod templates,
// pods and namespaces.
const (
	// LearnLabel set to "true" on a pod (through its workload's pod
	// template) or on its namespace marks it for learning.
	LearnLabel = "sysward.io/learn"
	// AutoPromoteAnnotation on a WorkloadProfile, a Go duration ("30m"),
	// lets the agents promote it from Complain to Enforcing once no new
	// syscall was seen for that long. Absent: never automatic.
	AutoPromoteAnnotation = "sysward.io/auto-promote"
)

// Phase is where a WorkloadProfile is on the way to enforcement.
// +kubebuilder:validation:Enum=Learning;Complain;Enforcing
type Phase string

const (
	// PhaseLearning: agents record every syscall the workload's
	// containers make (source "traced").
	PhaseLearning Phase = "Learning"
	// PhaseComplain: pods run under the SCMP_ACT_LOG variant; calls
	// outside the profile are counted as deviations and absorbed (source
	// "complain").
	PhaseComplain Phase = "Complain"
	// PhaseEnforcing: the profile is frozen; calls outside it are
	// refused by the pods' filter, counted as deviations, not absorbed.
	PhaseEnforcing Phase = "Enforcing"
)

// Modes of an applied profile.
const (
	ModeComplain = "complain"
	ModeEnforce  = "enforce"
)

// Bounds the CRD schema enforces (and the merge keeps to).
const (
	MaxSyscalls   = 1024 // entries of Status.Syscalls
	MaxReplicas   = 64   // names kept in Status.Replicas (ReplicaCount counts on)
	MaxNodes      = 256  // names kept in Status.Nodes
	MaxApplied    = 16   // entries of Status.Applied
	MaxDeviations = 32   // entries of Status.RecentDeviations
	MaxRetired    = 8    // entries of Status.Retired
)

// WorkloadProfile is the learned seccomp profile of one container of one
// workload, merged from every replica on every node, with its phase.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:shortName=wp,categories=sysward
// +kubebuilder:printcolumn:name="Workload",type=string,JSONPath=`.spec.workload.name`
// +kubebuilder:printcolumn:name="Kind",type=string,JSONPath=`.spec.workload.kind`,priority=1
// +kubebuilder:printcolumn:name="Container",type=string,JSONPath=`.spec.container`
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Version",type=integer,JSONPath=`.status.version`,priority=1
// +kubebuilder:printcolumn:name="Syscalls",type=integer,JSONPath=`.status.syscallCount`
// +kubebuilder:printcolumn:name="Replicas",type=integer,JSONPath=`.status.replicaCount`
// +kubebuilder:printcolumn:name="Nodes",type=integer,JSONPath=`.status.nodeCount`,priority=1
// +kubebuilder:printcolumn:name="Last-New",type=date,JSONPath=`.status.lastNewSyscall`
// +kubebuilder:printcolumn:name="Deviations",type=integer,JSONPath=`.status.deviations`
// +kubebuilder:printcolumn:name="Image",type=string,JSONPath=`.status.image`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type WorkloadProfile struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec WorkloadProfileSpec `json:"spec"`
	// Status is written by the agents (what they saw) and by `sysward
	// k8s` (phase, applied profiles); no status subresource: every writer
	// updates the whole object with its resourceVersion.
	Status WorkloadProfileStatus `json:"status,omitempty"`
}

// WorkloadProfileSpec names the container the profile is for. It does not
// change after creation.
type WorkloadProfileSpec struct {
	Workload WorkloadRef `json:"workload"`
	// Container is the container's name in the pod template.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Container string `json:"container"`
}

// WorkloadRef is the workload in the profile's namespace.
type WorkloadRef struct {
	// Kind is lowercase, as kubectl names resources: deployment,
	// statefulset, daemonset, cronjob, job, replicaset, pod.
	// +kubebuilder:validation:Enum=deployment;statefulset;daemonset;cronjob;job;replicaset;pod
	Kind string `json:"kind"`
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
}

// WorkloadProfileStatus is what was learned and where the profile stands.
type WorkloadProfileStatus struct {
	// +optional
	Phase Phase `json:"phase,omitempty"`
	// Version counts profile versions: a new image of the container
	// starts a new one (back to Learning).
	// +optional
	Version int32 `json:"version,omitempty"`
	// Image is the container image this version was learned from.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Image string `json:"image,omitempty"`
	// Since is when this version started.
	// +optional
	Since *metav1.Time `json:"since,omitempty"`
	// PhaseSince is when Phase last changed.
	// +optional
	PhaseSince *metav1.Time `json:"phaseSince,omitempty"`

	// Syscalls observed in this version, by name: the union of what every
	// replica on every node made (Learning) and what complain mode
	// absorbed.
	// +optional
	// +kubebuilder:validation:MaxProperties=1024
	Syscalls map[string]Syscall `json:"syscalls,omitempty"`
	// SyscallCount is the number of syscalls the profile allows (with
	// families and the baseline), for kubectl get.
	// +optional
	SyscallCount int32 `json:"syscallCount,omitempty"`
	// LastNewSyscall is the latest first-seen time among Syscalls: the
	// last time the workload did something it had not done before.
	// +optional
	LastNewSyscall *metav1.Time `json:"lastNewSyscall,omitempty"`

	// Replicas are the pods that contributed (at most MaxReplicas names,
	// sorted); ReplicaCount counts all of them.
	// +optional
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=253
	Replicas []string `json:"replicas,omitempty"`
	// +optional
	// +kubebuilder:validation:Minimum=0
	ReplicaCount int32 `json:"replicaCount,omitempty"`
	// Nodes that contributed (at most MaxNodes, sorted).
	// +optional
	// +kubebuilder:validation:MaxItems=256
	// +kubebuilder:validation:items:MaxLength=253
	Nodes []string `json:"nodes,omitempty"`
	// +optional
	// +kubebuilder:validation:Minimum=0
	NodeCount int32 `json:"nodeCount,omitempty"`

	// Deviations counts calls outside the applied profile seen in
	// Complain or Enforcing (distinct syscalls per pod, per report).
	// +optional
	// +kubebuilder:validation:Minimum=0
	Deviations int64 `json:"deviations,omitempty"`
	// LastDeviation is the latest of them.
	// +optional
	LastDeviation *metav1.Time `json:"lastDeviation,omitempty"`
	// RecentDeviations are the latest MaxDeviations, newest first.
	// +optional
	// +kubebuilder:validation:MaxItems=32
	RecentDeviations []Deviation `json:"recentDeviations,omitempty"`

	// Profile is the OCI seccomp profile (runc/containerd/kubelet JSON,
	// with sysward's provenance under "sysward") built from Syscalls with
	// the syscall families and the baseline; default action
	// SCMP_ACT_ERRNO. The per-syscall statistics are left out (Syscalls
	// holds them; store.Build makes the profile with them) to keep the
	// object, which every merge writes whole, small.
	// +optional
	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:Schemaless
	// +kubebuilder:validation:Type=object
	Profile *runtime.RawExtension `json:"profile,omitempty"`

	// Applied are the profiles pods may run under: written by `sysward
	// k8s apply` (and promote), installed by the agents on every node as
	// <kubelet seccomp root>/<LocalhostProfile>, kept until no pod uses
	// them (older versions included).
	// +optional
	// +kubebuilder:validation:MaxItems=16
	Applied []AppliedProfile `json:"applied,omitempty"`
	// Retired are earlier versions (a previous image), newest first.
	// +optional
	// +kubebuilder:validation:MaxItems=8
	Retired []RetiredVersion `json:"retired,omitempty"`
}

// Syscall is one observed syscall with its provenance.
type Syscall struct {
	// Arches it was seen on (OCI names: SCMP_ARCH_X86_64, ...).
	// +optional
	// +kubebuilder:validation:MaxItems=8
	// +kubebuilder:validation:items:MaxLength=64
	Arches []string `json:"arches,omitempty"`
	// Sources: "traced" (learned), "complain" (absorbed from a
	// complain-mode deviation), "static" (an executable of the container
	// imports a function that makes it: static hints).
	// +optional
	// +kubebuilder:validation:MaxItems=8
	// +kubebuilder:validation:items:MaxLength=253
	Sources []string `json:"sources,omitempty"`
	// FirstSeen is the earliest observation from any replica.
	FirstSeen metav1.Time `json:"firstSeen"`
	// FirstPod and FirstNode made that observation.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	FirstPod string `json:"firstPod,omitempty"`
	// +optional
	// +kubebuilder:validation:MaxLength=253
	FirstNode string `json:"firstNode,omitempty"`
}

// Deviation is a syscall outside the applied profile, seen in a pod.
type Deviation struct {
	// +kubebuilder:validation:MaxLength=64
	Syscall string      `json:"syscall"`
	Time    metav1.Time `json:"time"`
	// +optional
	// +kubebuilder:validation:MaxLength=253
	Pod string `json:"pod,omitempty"`
	// +optional
	// +kubebuilder:validation:MaxLength=253
	Node string `json:"node,omitempty"`
	// Mode the pod ran in: complain (logged, absorbed) or enforce
	// (refused).
	// +kubebuilder:validation:Enum=complain;enforce
	Mode string `json:"mode"`
	// Absorbed is true when complain mode added it to the profile.
	// +optional
	Absorbed bool `json:"absorbed,omitempty"`
}

// AppliedProfile is one profile file agents install on every node.
type AppliedProfile struct {
	// +kubebuilder:validation:Enum=complain;enforce
	Mode    string `json:"mode"`
	Version int32  `json:"version"`
	// +optional
	Image string `json:"image,omitempty"`
	// LocalhostProfile is the path under the kubelet's seccomp root that
	// pod templates name (securityContext.seccompProfile.localhostProfile):
	// "sysward/<namespace>/<object>-v<version>-<mode>-<hash>.json".
	// +kubebuilder:validation:MaxLength=1024
	LocalhostProfile string `json:"localhostProfile"`
	// Hash is the sha256 of the profile file's bytes.
	Hash string `json:"hash"`
	// Profile is the file's content (OCI JSON).
	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:Schemaless
	// +kubebuilder:validation:Type=object
	Profile runtime.RawExtension `json:"profile"`
	// +optional
	AppliedAt *metav1.Time `json:"appliedAt,omitempty"`
}

// RetiredVersion summarises a version replaced by a new image.
type RetiredVersion struct {
	Version int32 `json:"version"`
	// +kubebuilder:validation:MaxLength=1024
	Image string `json:"image"`
	Phase Phase  `json:"phase"`
	// +optional
	SyscallCount int32 `json:"syscallCount,omitempty"`
	// +optional
	Since *metav1.Time `json:"since,omitempty"`
	// +optional
	Until *metav1.Time `json:"until,omitempty"`
}

// WorkloadProfileList is a list of WorkloadProfiles.
//
// +kubebuilder:object:root=true
type WorkloadProfileList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []WorkloadProfile `json:"items"`
}

// AddToScheme registers the types with a scheme.
var AddToScheme = func(s *runtime.Scheme) error {
	s.AddKnownTypes(SchemeGroupVersion, &WorkloadProfile{}, &WorkloadProfileList{})
	metav1.AddToGroupVersion(s, SchemeGroupVersion)
	return nil
}
