// Package kubetest runs a real single-node Kubernetes cluster for tests:
// etcd and containerd + runc from Debian, kube-apiserver,
// kube-controller-manager, kube-scheduler, kubelet and kubectl built from
// k8s.io/kubernetes at Version (cached in BinDir, so only the first run on
// a machine builds), certificates made with crypto/x509, no registry: the
// sandbox (pause) and busybox images are built here and imported with ctr.
//
// Start(t, ControlPlane) runs etcd + apiserver (API tests); Start(t, Node)
// a full node whose pods really run. Start registers Close with
// t.Cleanup: every process it started is stopped by pid (and killed by
// Pdeathsig if the test binary dies), pod sandboxes are removed through
// CRI so CNI teardown runs, and mounts, iptables rules, the local service
// route, the pod bridge and the kubepods cgroups are undone.
//
// Everything listens on 127.0.0.1. One cluster at a time per machine
// (fixed ports, /var/lib/kubelet, /run/containerd): Start takes an
// exclusive lock and waits for it. Root only.
//
// What this machine kind needs, with the why next to it in the code:
// restrict_oom_score_adj (root without CAP_SYS_RESOURCE), failCgroupV1:
// false (hybrid cgroups), the node reached by a hostname resolving to
// 127.0.0.1 (the kubelet refuses a loopback node IP).
package kubetest
