package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestKustomizeImagePinned: the tag make image builds is the one the
// manifests deploy, and it is a version.
func TestKustomizeImagePinned(t *testing.T) {
	ref, err := KustomizeImage("../../deploy/base/kustomization.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(ref, "ghcr.io/sysward/sysward:v") {
		t.Errorf("image %q: want ghcr.io/sysward/sysward:v<version>", ref)
	}
	bad := filepath.Join(t.TempDir(), "k.yaml")
	os.WriteFile(bad, []byte("images:\n- name: x\n  newTag: latest\n"), 0o644)
	if _, err := KustomizeImage(bad); err == nil || !strings.Contains(err.Error(), "latest") {
		t.Errorf("latest: %v", err)
	}
}
