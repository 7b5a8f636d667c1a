// Package e2e runs sysward as users run it: the agent image built by `make
// image` (the same builder), imported into a real node's containerd
// (internal/kubetest), the DaemonSet applied with `kubectl apply -k
// deploy/`, and workloads under sysward Localhost profiles. Root; `make
// e2e`.
package e2e
