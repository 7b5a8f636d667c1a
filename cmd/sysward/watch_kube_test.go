package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sysward/sysward/internal/kube"
)

// TestWatchKubeFlags: a kubeconfig that does not load is bad input (exit
// 2, naming the flag and file) before anything is loaded into the kernel,
// and the Kubernetes flags need --all-containers.
func TestWatchKubeFlags(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "kubeconfig")
	os.WriteFile(bad, []byte("apiVersion: v1\nkind: Config\nclusters: [[[\n"), 0o644)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"bad kubeconfig", []string{"watch", "--all-containers", "--profiles-dir", dir, "--kubeconfig", bad}, "--kubeconfig " + bad},
		{"missing kubeconfig", []string{"watch", "--all-containers", "--profiles-dir", dir, "--kubeconfig", filepath.Join(dir, "nope")}, "--kubeconfig " + filepath.Join(dir, "nope")},
		{"kubeconfig alone", []string{"watch", "--profile", "x.json", "--kubeconfig", bad, "--", "true"}, "--kubeconfig needs --all-containers"},
		{"node-name alone", []string{"watch", "--profile", "x.json", "--node-name", "n", "--", "true"}, "--node-name needs --all-containers"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errs := runCLI(t, tc.args...)
			if code != 2 || !strings.Contains(errs, tc.want) {
				t.Errorf("exit %d, stderr %q; want 2 and %q", code, errs, tc.want)
			}
		})
	}
}

// TestNoAPIOutsideAPod: without a kubeconfig and outside a pod the agent
// has no API (and runs on, saying so).
func TestNoAPIOutsideAPod(t *testing.T) {
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	t.Setenv("KUBERNETES_SERVICE_PORT", "")
	if _, err := kube.Client(""); !errors.Is(err, kube.ErrNoAPI) {
		t.Errorf("kube.Client outside a pod: %v, want ErrNoAPI", err)
	}
}
