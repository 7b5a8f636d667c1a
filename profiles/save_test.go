package profiles

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files")

// TestCanonicalize: a messy profile saves to its golden canonical form.
func TestCanonicalize(t *testing.T) {
	ins, _ := filepath.Glob("testdata/canonicalize/*.in.json")
	if len(ins) == 0 {
		t.Fatal("no inputs")
	}
	for _, in := range ins {
		name := strings.TrimSuffix(filepath.Base(in), ".in.json")
		t.Run(name, func(t *testing.T) {
			p, err := Load(in)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Marshal(p)
			if err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata/canonicalize", name+".golden.json")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("canonical form differs from %s (run with -update to accept):\n%s", golden, got)
			}
		})
	}
}

// TestRoundTripByteIdentical: Load → Save of every canonical profile (the
// goldens and the shipped samples) reproduces the file byte for byte.
func TestRoundTripByteIdentical(t *testing.T) {
	files, _ := filepath.Glob("testdata/canonicalize/*.golden.json")
	samples, _ := filepath.Glob("../examples/profiles/*.json")
	for _, f := range samples {
		if !strings.HasPrefix(filepath.Base(f), "bad-") {
			files = append(files, f)
		}
	}
	if len(files) < 5 {
		t.Fatalf("only %d canonical files", len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			want, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			p, err := Parse(f, want)
			if err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(t.TempDir(), "out.json")
			if err := SaveFile(out, p); err != nil {
				t.Fatal(err)
			}
			got, _ := os.ReadFile(out)
			if !bytes.Equal(got, want) {
				t.Errorf("Load→SaveFile of %s is not byte-identical:\n%s", f, got)
			}
		})
	}
}

func TestCanonicalKeepsMeaning(t *testing.T) {
	p, err := Load("testdata/canonicalize/messy.in.json")
	if err != nil {
		t.Fatal(err)
	}
	c := Canonical(p)
	for _, a := range []Arch{ArchX86_64, ArchX86} {
		for _, name := range Syscalls(a) {
			for _, args := range [][6]uint64{{}, {8}, {0x7E020000}, {1, 2, 3}} {
				pa, pe := p.Evaluate(a, name, args)
				ca, ce := c.Evaluate(a, name, args)
				if pa != ca || !eqUintPtr(pe, ce) {
					t.Fatalf("%s %s %v: %s%s before, %s%s after", a, name, args, pa, errnoText(pe), ca, errnoText(ce))
				}
			}
		}
	}
	if Canonical(p).Sysward.Provenance[0].Host != "node-a" || len(c.Sysward.Provenance) != 2 {
		t.Errorf("provenance not sorted/deduplicated: %+v", c.Sysward.Provenance)
	}
}

func TestSaveFileAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "p.json")
	if err := os.WriteFile(path, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := New(ActErrno, ArchX86_64)
	p.Allow("read", "write")
	if err := SaveFile(path, p); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(path)
	if !bytes.HasPrefix(got, []byte("{\n  \"defaultAction\": \"SCMP_ACT_ERRNO\"")) || !bytes.HasSuffix(got, []byte("}\n")) {
		t.Errorf("unexpected content:\n%s", got)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, want 0644", st.Mode().Perm())
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Errorf("temporary files left behind: %v", ents)
	}
	// A failed write leaves nothing behind and reports the path.
	bad := filepath.Join(dir, "missing-dir", "p.json")
	if err := SaveFile(bad, p); err == nil || !strings.Contains(err.Error(), bad) {
		t.Errorf("SaveFile into a missing dir: %v", err)
	}
	ents, _ = os.ReadDir(dir)
	if len(ents) != 1 {
		t.Errorf("files after failed save: %v", ents)
	}
}
