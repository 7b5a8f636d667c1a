// Package v1alpha1 is sysward's cluster store for learned profiles: the
// WorkloadProfile custom resource (group sysward.io), one object per
// (workload, container) in the workload's namespace.
//
// Agents learn the containers of marked workloads on their node and merge
// what they saw into the object (internal/store: read, union, update with
// the resourceVersion, retry on conflict); `sysward k8s` reads it (status),
// writes the profiles pods run under into it (apply) and moves its phase
// (promote); agents install its applied profiles on every node under the
// kubelet's seccomp root.
//
// The CRD schema (deploy/base/crd/) and zz_generated.deepcopy.go are
// generated from these types by controller-gen: `go generate ./api/...`,
// which also copies the CRD to internal/store/crd/ for store.InstallCRD to
// embed (go:embed cannot reach deploy/). internal/store's
// TestCRDUpToDate fails when either copy is stale.
//
// +kubebuilder:object:generate=true
// +groupName=sysward.io
//
//go:generate go run sigs.k8s.io/controller-tools/cmd/controller-gen@v0.23.0 object crd paths=./... output:crd:artifacts:config=../../deploy/base/crd
//go:generate cp ../../deploy/base/crd/sysward.io_workloadprofiles.yaml ../../internal/store/crd/
package v1alpha1
