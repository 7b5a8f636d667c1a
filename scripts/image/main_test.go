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

// FuzzKustomizeImage: any kustomization gives a pinned name:tag or an
// error naming the file, never a panic and never latest.
func FuzzKustomizeImage(f *testing.F) {
	b, _ := os.ReadFile("../../deploy/base/kustomization.yaml")
	f.Add(b)
	f.Add([]byte("images:\n- name: x\n  newName: y\n  newTag: v1\n"))
	f.Add([]byte("images: {}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(t.TempDir(), "k.yaml")
		os.WriteFile(p, data, 0o644)
		ref, err := KustomizeImage(p)
		if err != nil {
			if !strings.Contains(err.Error(), p) && !strings.Contains(err.Error(), "reading kustomization") {
				t.Errorf("error does not name the file: %v", err)
			}
			return
		}
		if strings.HasSuffix(ref, ":latest") || strings.HasSuffix(ref, ":") {
			t.Errorf("ref %q", ref)
		}
	})
}
