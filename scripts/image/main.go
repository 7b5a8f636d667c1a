// Command image builds the sysward agent's OCI image without a container
// daemon: a one-layer image holding the static sysward binary (libseccomp
// linked in), written as an OCI image-layout tar that `ctr -n k8s.io images
// import` (or `podman load`, `skopeo copy oci-archive:`) takes as is.
//
// The image name and tag are the ones deploy/base/kustomization.yaml's
// `images:` entry pins, so the manifests and the image cannot disagree;
// `latest` is refused. `make image` runs it:
//
//	go run ./scripts/image -binary bin/sysward-static -o bin/sysward-image.tar
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/sysward/sysward/internal/ociimage"
	"sigs.k8s.io/yaml"
)

func main() {
	binary := flag.String("binary", "bin/sysward-static", "static sysward binary to put in the image")
	out := flag.String("o", "bin/sysward-image.tar", "OCI image-layout tar to write")
	kust := flag.String("kustomization", "deploy/base/kustomization.yaml", "kustomization whose images: entry names the image and its tag")
	printRef := flag.Bool("print-ref", false, "print the image reference from -kustomization and exit")
	flag.Parse()
	ref, err := KustomizeImage(*kust)
	if err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(2)
	}
	if *printRef {
		fmt.Println(ref)
		return
	}
	digest, err := build(*binary, *out, ref)
	if err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
	fmt.Printf("%s %s -> %s\n", ref, digest, *out)
}

// KustomizeImage returns name:newTag of the first images: entry of a
// kustomization file.
func KustomizeImage(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("reading kustomization: %w", err)
	}
	var k struct {
		Images []struct {
			Name    string `json:"name"`
			NewName string `json:"newName"`
			NewTag  string `json:"newTag"`
		} `json:"images"`
	}
	if err := yaml.Unmarshal(b, &k); err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	if len(k.Images) == 0 || k.Images[0].NewTag == "" {
		return "", fmt.Errorf("%s: no images: entry with a newTag", path)
	}
	name := k.Images[0].Name
	if k.Images[0].NewName != "" {
		name = k.Images[0].NewName
	}
	if k.Images[0].NewTag == "latest" {
		return "", fmt.Errorf("%s: images: newTag is latest; pin a version", path)
	}
	return name + ":" + k.Images[0].NewTag, nil
}

func build(binary, out, ref string) (string, error) {
	body, err := os.ReadFile(binary)
	if err != nil {
		return "", fmt.Errorf("reading the sysward binary: %w", err)
	}
	if len(body) < 4 || string(body[1:4]) != "ELF" {
		return "", errors.New(binary + ": not an ELF executable")
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return "", err
	}
	tmp := out + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return "", err
	}
	digest, err := ociimage.Write(f, ociimage.Image{
		Name:       ref,
		Entrypoint: []string{"/usr/bin/sysward"},
		Labels: map[string]string{
			"org.opencontainers.image.title":  "sysward",
			"org.opencontainers.image.source": "https://github.com/sysward/sysward",
		},
		Files: []ociimage.File{
			{Path: "/usr/bin/sysward", Mode: 0o755, Body: body},
			{Path: "/tmp", Dir: true, Mode: 0o1777},
			{Path: "/etc/passwd", Body: []byte("root:x:0:0:root:/:/usr/bin/sysward\n")},
			{Path: "/etc/group", Body: []byte("root:x:0:\n")},
		},
	})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("writing %s: %w", out, err)
	}
	return digest, os.Rename(tmp, out)
}
