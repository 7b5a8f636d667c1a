package ociimage

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"
)

func readLayout(t *testing.T, b []byte) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return files
		}
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(tr)
		files[h.Name] = body
	}
}

func blob(t *testing.T, files map[string][]byte, digest string) []byte {
	t.Helper()
	b, ok := files["blobs/sha256/"+strings.TrimPrefix(digest, "sha256:")]
	if !ok {
		t.Fatalf("blob %s missing", digest)
	}
	if got := fmt.Sprintf("sha256:%x", sha256.Sum256(b)); got != digest {
		t.Fatalf("blob %s has digest %s", digest, got)
	}
	return b
}

// TestWriteLayout: every blob is where its digest says, the layer's diff id
// is the uncompressed tar's digest, the index names the image for
// containerd, and two writes are byte-identical.
func TestWriteLayout(t *testing.T) {
	img := Image{Name: "example.com/a/b:v1.2.3", Entrypoint: []string{"/bin/x"},
		Files: []File{{Path: "/bin/x", Mode: 0o755, Body: []byte("\x7fELF")}, {Path: "/bin/y", Link: "x"}}}
	var a, b bytes.Buffer
	d1, err := Write(&a, img)
	if err != nil {
		t.Fatal(err)
	}
	d2, _ := Write(&b, img)
	if d1 != d2 || !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Errorf("not reproducible: %s vs %s", d1, d2)
	}
	files := readLayout(t, a.Bytes())
	var index struct {
		Manifests []descriptor `json:"manifests"`
	}
	if err := json.Unmarshal(files["index.json"], &index); err != nil {
		t.Fatal(err)
	}
	if len(index.Manifests) != 1 || index.Manifests[0].Digest != d1 ||
		index.Manifests[0].Annotations["io.containerd.image.name"] != img.Name ||
		index.Manifests[0].Annotations["org.opencontainers.image.ref.name"] != "v1.2.3" {
		t.Fatalf("index: %+v", index)
	}
	var man struct {
		Config descriptor   `json:"config"`
		Layers []descriptor `json:"layers"`
	}
	json.Unmarshal(blob(t, files, d1), &man)
	var cfg struct {
		Config struct{ Entrypoint []string }
		RootFS struct {
			DiffIDs []string `json:"diff_ids"`
		} `json:"rootfs"`
	}
	json.Unmarshal(blob(t, files, man.Config.Digest), &cfg)
	zr, err := gzip.NewReader(bytes.NewReader(blob(t, files, man.Layers[0].Digest)))
	if err != nil {
		t.Fatal(err)
	}
	layer, _ := io.ReadAll(zr)
	if len(cfg.RootFS.DiffIDs) != 1 || cfg.RootFS.DiffIDs[0] != fmt.Sprintf("sha256:%x", sha256.Sum256(layer)) {
		t.Errorf("diff_ids %v do not match the layer", cfg.RootFS.DiffIDs)
	}
	lf := readLayout(t, layer)
	if string(lf["bin/x"]) != "\x7fELF" || lf["bin/"] == nil {
		t.Errorf("layer entries: %v", lf)
	}
}

func TestWriteRefusesBadNames(t *testing.T) {
	for _, n := range []string{"", "noTag", "a/b:latest", "host:5000/a", "a:"} {
		if _, err := Write(io.Discard, Image{Name: n}); err == nil {
			t.Errorf("%q accepted", n)
		}
	}
}
