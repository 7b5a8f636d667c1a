package kubetest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sysward/sysward/internal/testutil"
)

func require(t *testing.T) {
	testutil.Require(t, testutil.Root, testutil.Binary("etcd"), testutil.Binary("containerd"),
		testutil.Binary("ctr"), testutil.Binary("runc"), testutil.Binary("iptables"), testutil.Binary("gcc"),
		testutil.Binary("busybox"), testutil.File("/usr/lib/cni/bridge"))
}

// TestControlPlane: etcd + apiserver answer, RBAC is on, and a
// server-side dry run validates objects.
func TestControlPlane(t *testing.T) {
	require(t)
	c := Start(t, ControlPlane)
	out, err := c.Kubectl("auth", "can-i", "list", "pods", "--as", "system:serviceaccount:default:nobody")
	if err == nil || strings.TrimSpace(out) != "no" {
		t.Errorf("RBAC: an unbound service account can list pods: %q %v", out, err)
	}
	if _, err := c.KubectlIn("apiVersion: v1\nkind: Namespace\nmetadata: {name: kubetest}\n", "apply", "-f", "-"); err != nil {
		t.Fatal(err)
	}
	_, err = c.KubectlIn("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d, namespace: kubetest}\nspec: {selector: {matchLabels: {a: b}}, template: {metadata: {labels: {a: b}}, spec: {containers: [{name: c, image: x, securityContext: {seccompProfile: {type: Localhost}}}]}}}\n",
		"apply", "--dry-run=server", "-f", "-")
	if err == nil || !strings.Contains(err.Error(), "localhostProfile") {
		t.Errorf("server-side validation: want a localhostProfile error, got %v", err)
	}
}

// TestNodeRunsPods: a pod under a Localhost profile from the kubelet's
// seccomp root is refused mkdir (in its command and in kubectl exec), a
// pod under RuntimeDefault is not, and both run on the pod network.
func TestNodeRunsPods(t *testing.T) {
	require(t)
	c := Start(t, Node)
	dir := filepath.Join(SeccompRoot, "sysward-kubetest")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	profile := `{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]}`
	if err := os.WriteFile(filepath.Join(dir, "deny-mkdir.json"), []byte(profile), 0o644); err != nil {
		t.Fatal(err)
	}
	pods := `apiVersion: v1
kind: Namespace
metadata: {name: kubetest}
---
apiVersion: v1
kind: Pod
metadata: {name: localhost, namespace: kubetest}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: ` + BusyboxImage + `
    imagePullPolicy: Never
    command: ["sh", "-c", "mkdir /tmp/x; sleep 3600"]
    securityContext: {seccompProfile: {type: Localhost, localhostProfile: sysward-kubetest/deny-mkdir.json}}
---
apiVersion: v1
kind: Pod
metadata: {name: runtimedefault, namespace: kubetest}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: ` + BusyboxImage + `
    imagePullPolicy: Never
    command: ["sleep", "3600"]
    securityContext: {seccompProfile: {type: RuntimeDefault}}
`
	if _, err := c.KubectlIn(pods, "apply", "-f", "-"); err != nil {
		t.Fatal(err)
	}
	if out, err := c.Kubectl("-n", "kubetest", "wait", "--for=condition=Ready", "pod", "--all", "--timeout=120s"); err != nil {
		desc, _ := c.Kubectl("-n", "kubetest", "describe", "pods")
		t.Fatalf("%s %v\n%s", out, err, desc)
	}
	deadline := time.Now().Add(30 * time.Second)
	var logs string
	for time.Now().Before(deadline) {
		logs, _ = c.Kubectl("-n", "kubetest", "logs", "localhost")
		if logs != "" {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	if !strings.Contains(logs, "Operation not permitted") {
		t.Errorf("Localhost profile: pod log %q, want mkdir refused", logs)
	}
	out, err := c.Kubectl("-n", "kubetest", "exec", "localhost", "--", "mkdir", "/tmp/y")
	if err == nil || !strings.Contains(err.Error(), "Operation not permitted") {
		t.Errorf("kubectl exec mkdir under the Localhost profile: %q %v, want refused", out, err)
	}
	out, err = c.Kubectl("-n", "kubetest", "exec", "runtimedefault", "--", "sh", "-c", "mkdir /tmp/y && grep Seccomp: /proc/self/status")
	if err != nil || !strings.Contains(out, "Seccomp:\t2") {
		t.Errorf("RuntimeDefault pod: %q %v, want mkdir to work under a filter", out, err)
	}
	ip, err := c.Kubectl("-n", "kubetest", "get", "pod", "runtimedefault", "-o", "jsonpath={.status.podIP}")
	if err != nil || !strings.HasPrefix(ip, "10.244.77.") {
		t.Errorf("pod IP %q %v, want one from %s", ip, err, podCIDR)
	}
}
