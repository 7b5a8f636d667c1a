// Package ociimage writes a one-layer OCI image layout as a tar stream,
// without a registry or a container daemon: `ctr -n k8s.io images import`
// (containerd ≥ 1.6) takes it as is and names the image from the
// io.containerd.image.name annotation of index.json.
//
// The output is reproducible: every timestamp is the Unix epoch, owners are
// 0:0 and entries are in lexical order, so the same files give the same
// manifest digest.
package ociimage

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"
	"time"
)

// File is one entry of the image's root file system.
type File struct {
	Path string // absolute path inside the image, e.g. /bin/sh
	Mode int64  // permission bits; 0 means 0644 (0755 for directories)
	Body []byte // regular file contents
	Link string // non-empty: a symbolic link to Link
	Dir  bool   // a directory
}

// Image describes the image to write.
type Image struct {
	// Name is the full reference containerd stores, e.g.
	// ghcr.io/sysward/sysward:v0.1.0. It must carry a tag.
	Name       string
	Entrypoint []string
	Cmd        []string
	Env        []string
	User       string
	Labels     map[string]string
	Files      []File
	Arch       string // GOARCH naming (amd64, arm64); empty means amd64
}

const (
	mediaManifest = "application/vnd.oci.image.manifest.v1+json"
	mediaConfig   = "application/vnd.oci.image.config.v1+json"
	mediaLayer    = "application/vnd.oci.image.layer.v1.tar+gzip"
)

type descriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int64             `json:"size"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

// Write writes img as an OCI image-layout tar to w and returns the manifest
// digest (sha256:…).
func Write(w io.Writer, img Image) (string, error) {
	colon := strings.LastIndex(img.Name, ":")
	if img.Name == "" || colon < 0 || strings.Contains(img.Name[colon:], "/") {
		return "", fmt.Errorf("image name %q: want repository:tag", img.Name)
	}
	tag := img.Name[colon+1:]
	if tag == "" || tag == "latest" {
		return "", fmt.Errorf("image name %q: want an explicit version tag, not %q", img.Name, tag)
	}
	layer, diffID, err := layerTar(img.Files)
	if err != nil {
		return "", fmt.Errorf("building layer: %w", err)
	}
	var gz bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
	if _, err := zw.Write(layer); err != nil {
		return "", fmt.Errorf("compressing layer: %w", err)
	}
	if err := zw.Close(); err != nil {
		return "", fmt.Errorf("compressing layer: %w", err)
	}
	arch := img.Arch
	if arch == "" {
		arch = "amd64"
	}
	env := img.Env
	if env == nil {
		env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	}
	config, err := json.Marshal(map[string]any{
		"created":      time.Unix(0, 0).UTC(),
		"architecture": arch,
		"os":           "linux",
		"config": map[string]any{
			"Entrypoint": img.Entrypoint,
			"Cmd":        img.Cmd,
			"Env":        env,
			"User":       img.User,
			"Labels":     img.Labels,
			"WorkingDir": "/",
		},
		"rootfs": map[string]any{"type": "layers", "diff_ids": []string{diffID}},
	})
	if err != nil {
		return "", fmt.Errorf("encoding image config: %w", err)
	}
	configDesc := describe(mediaConfig, config)
	layerDesc := describe(mediaLayer, gz.Bytes())
	manifest, err := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     mediaManifest,
		"config":        configDesc,
		"layers":        []descriptor{layerDesc},
	})
	if err != nil {
		return "", fmt.Errorf("encoding manifest: %w", err)
	}
	manDesc := describe(mediaManifest, manifest)
	manDesc.Annotations = map[string]string{
		"io.containerd.image.name":          img.Name,
		"org.opencontainers.image.ref.name": tag,
	}
	index, err := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.index.v1+json",
		"manifests":     []descriptor{manDesc},
	})
	if err != nil {
		return "", fmt.Errorf("encoding index: %w", err)
	}
	tw := tar.NewWriter(w)
	entries := []struct {
		name string
		body []byte
	}{
		{"oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`)},
		{"index.json", index},
		{"blobs/sha256/" + strings.TrimPrefix(configDesc.Digest, "sha256:"), config},
		{"blobs/sha256/" + strings.TrimPrefix(layerDesc.Digest, "sha256:"), gz.Bytes()},
		{"blobs/sha256/" + strings.TrimPrefix(manDesc.Digest, "sha256:"), manifest},
	}
	for _, d := range []string{"blobs/", "blobs/sha256/"} {
		if err := tw.WriteHeader(&tar.Header{Name: d, Typeflag: tar.TypeDir, Mode: 0o755, ModTime: time.Unix(0, 0)}); err != nil {
			return "", fmt.Errorf("writing layout: %w", err)
		}
	}
	for _, e := range entries {
		if err := tw.WriteHeader(&tar.Header{Name: e.name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(e.body)), ModTime: time.Unix(0, 0)}); err != nil {
			return "", fmt.Errorf("writing layout: %w", err)
		}
		if _, err := tw.Write(e.body); err != nil {
			return "", fmt.Errorf("writing layout: %w", err)
		}
	}
	if err := tw.Close(); err != nil {
		return "", fmt.Errorf("writing layout: %w", err)
	}
	return manDesc.Digest, nil
}

func describe(media string, b []byte) descriptor {
	return descriptor{MediaType: media, Digest: fmt.Sprintf("sha256:%x", sha256.Sum256(b)), Size: int64(len(b))}
}

// layerTar returns the uncompressed layer and its diff id. Parent
// directories are added where the file list does not name them.
func layerTar(files []File) ([]byte, string, error) {
	byPath := map[string]File{}
	for _, f := range files {
		p := path.Clean("/" + f.Path)
		if p == "/" {
			return nil, "", errors.New("file with an empty path")
		}
		if _, dup := byPath[p]; dup {
			return nil, "", fmt.Errorf("%s listed twice", p)
		}
		f.Path = p
		byPath[p] = f
		for d := path.Dir(p); d != "/"; d = path.Dir(d) {
			if _, ok := byPath[d]; !ok {
				byPath[d] = File{Path: d, Dir: true}
			}
		}
	}
	paths := make([]string, 0, len(byPath))
	for p := range byPath {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, p := range paths {
		f := byPath[p]
		h := &tar.Header{Name: strings.TrimPrefix(p, "/"), Mode: f.Mode, ModTime: time.Unix(0, 0), Format: tar.FormatPAX}
		switch {
		case f.Dir:
			h.Typeflag, h.Name = tar.TypeDir, h.Name+"/"
			if h.Mode == 0 {
				h.Mode = 0o755
			}
		case f.Link != "":
			h.Typeflag, h.Linkname, h.Mode = tar.TypeSymlink, f.Link, 0o777
		default:
			h.Typeflag, h.Size = tar.TypeReg, int64(len(f.Body))
			if h.Mode == 0 {
				h.Mode = 0o644
			}
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, "", err
		}
		if h.Typeflag == tar.TypeReg {
			if _, err := tw.Write(f.Body); err != nil {
				return nil, "", err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, "", err
	}
	return buf.Bytes(), fmt.Sprintf("sha256:%x", sha256.Sum256(buf.Bytes())), nil
}
