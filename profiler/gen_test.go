package profiler

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sysward/sysward/internal/testutil"
)

// generateArgs returns the bpf2go arguments of gen.go's //go:generate line.
func generateArgs(t *testing.T) []string {
	t.Helper()
	src, err := os.ReadFile("gen.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(src), "\n") {
		if rest, ok := strings.CutPrefix(line, "//go:generate go run github.com/cilium/ebpf/cmd/bpf2go "); ok {
			return splitQuoted(rest)
		}
	}
	t.Fatal("gen.go: no bpf2go //go:generate line")
	return nil
}

// splitQuoted splits on spaces, keeping "double quoted" words together.
func splitQuoted(s string) []string {
	var out []string
	var cur strings.Builder
	inQ, have := false, false
	for _, r := range s {
		switch {
		case r == '"':
			inQ, have = !inQ, true
		case r == ' ' && !inQ:
			if have {
				out = append(out, cur.String())
				cur.Reset()
				have = false
			}
		default:
			cur.WriteRune(r)
			have = true
		}
	}
	if have {
		out = append(out, cur.String())
	}
	return out
}

func TestSplitQuoted(t *testing.T) {
	got := splitQuoted(`-cc clang -cflags "-O2 -g" -type event x bpf/x.c`)
	want := []string{"-cc", "clang", "-cflags", "-O2 -g", "-type", "event", "x", "bpf/x.c"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("got %q, want %q", got, want)
	}
}

// TestGeneratedUpToDate rebuilds the eBPF object and its Go bindings into a
// temporary directory and compares them with the committed ones, so a C
// change without `make generate` fails here.
func TestGeneratedUpToDate(t *testing.T) {
	testutil.Require(t, testutil.Binary("clang"), testutil.Binary("llvm-strip"))
	out := t.TempDir()
	args := append([]string{"run", "github.com/cilium/ebpf/cmd/bpf2go", "-go-package", "profiler", "-output-dir", out}, generateArgs(t)...)
	cmd := exec.Command("go", args...)
	cmd.Env = append(os.Environ(), "GOPACKAGE=profiler", "GOFILE=gen.go")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("bpf2go: %v\n%s", err, b)
	}
	files, _ := filepath.Glob(filepath.Join(out, "*"))
	if len(files) == 0 {
		t.Fatal("bpf2go wrote nothing")
	}
	for _, f := range files {
		fresh, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		committed, err := os.ReadFile(filepath.Base(f))
		if err != nil {
			t.Errorf("%s generated but not committed: run make generate", filepath.Base(f))
			continue
		}
		if !bytes.Equal(fresh, committed) {
			t.Errorf("%s differs from a fresh bpf2go build: run make generate and commit", filepath.Base(f))
		}
	}
}
