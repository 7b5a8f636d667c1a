package profiles

import (
	"bytes"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
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
			p, err := testLoad(in)
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
	p, err := testLoad("testdata/canonicalize/messy.in.json")
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

// TestWriteFileAtomicDestinations: a regular file (or a link to one) is
// replaced atomically, the link kept; a device or FIFO is written to, never
// renamed over (`-o /dev/stdout` once replaced the host's /dev/stdout link
// with a regular file); a directory or a dangling link is an error.
func TestWriteFileAtomicDestinations(t *testing.T) {
	dir := t.TempDir()
	data := []byte("{}\n")
	isLink := func(p string) bool {
		fi, err := os.Lstat(p)
		return err == nil && fi.Mode()&os.ModeSymlink != 0
	}
	noTemps := func() {
		t.Helper()
		if m, _ := filepath.Glob(filepath.Join(dir, ".*tmp*")); len(m) > 0 {
			t.Errorf("temporary files left: %v", m)
		}
	}

	t.Run("absent and regular", func(t *testing.T) {
		p := filepath.Join(dir, "out.json")
		for range 2 {
			if err := WriteFileAtomic(p, data, 0o644); err != nil {
				t.Fatal(err)
			}
			if got, _ := os.ReadFile(p); string(got) != string(data) {
				t.Fatalf("content %q", got)
			}
		}
		noTemps()
	})
	t.Run("symlink to a regular file", func(t *testing.T) {
		target := filepath.Join(dir, "target.json")
		os.WriteFile(target, []byte("old"), 0o644)
		link := filepath.Join(dir, "link.json")
		os.Symlink(target, link)
		if err := WriteFileAtomic(link, data, 0o644); err != nil {
			t.Fatal(err)
		}
		if !isLink(link) {
			t.Fatal("the link was replaced by a file")
		}
		if got, _ := os.ReadFile(target); string(got) != string(data) {
			t.Fatalf("target content %q", got)
		}
		noTemps()
	})
	t.Run("symlink to a character device", func(t *testing.T) {
		link := filepath.Join(dir, "null")
		os.Symlink("/dev/null", link)
		if err := WriteFileAtomic(link, data, 0o644); err != nil {
			t.Fatal(err)
		}
		if !isLink(link) {
			t.Fatal("the link to /dev/null was replaced by a file")
		}
		if fi, err := os.Stat("/dev/null"); err != nil || fi.Mode()&os.ModeCharDevice == 0 {
			t.Fatalf("/dev/null is now %v (%v)", fi.Mode(), err)
		}
		noTemps()
	})
	t.Run("FIFO", func(t *testing.T) {
		fifo := filepath.Join(dir, "fifo")
		if err := syscall.Mkfifo(fifo, 0o600); err != nil {
			t.Fatal(err)
		}
		got := make(chan []byte)
		go func() {
			f, err := os.Open(fifo)
			if err != nil {
				got <- nil
				return
			}
			defer f.Close()
			b, _ := io.ReadAll(f)
			got <- b
		}()
		if err := WriteFileAtomic(fifo, data, 0o644); err != nil {
			t.Fatal(err)
		}
		select {
		case b := <-got:
			if string(b) != string(data) {
				t.Fatalf("reader got %q", b)
			}
		case <-time.After(time.Minute): // detects a hang only
			t.Fatal("the FIFO's reader got nothing: the FIFO was replaced")
		}
		if fi, err := os.Lstat(fifo); err != nil || fi.Mode()&os.ModeNamedPipe == 0 {
			t.Fatalf("the FIFO is now %v (%v)", fi.Mode(), err)
		}
		noTemps()
	})
	t.Run("directory", func(t *testing.T) {
		if err := WriteFileAtomic(dir, data, 0o644); err == nil || !strings.Contains(err.Error(), "is a directory") {
			t.Fatalf("err = %v, want is a directory", err)
		}
		noTemps()
	})
	t.Run("dangling symlink", func(t *testing.T) {
		link := filepath.Join(dir, "dangling")
		os.Symlink(filepath.Join(dir, "missing"), link)
		if err := WriteFileAtomic(link, data, 0o644); err == nil || !strings.Contains(err.Error(), "missing file") {
			t.Fatalf("err = %v, want an error", err)
		}
		if !isLink(link) {
			t.Fatal("the link was replaced")
		}
		noTemps()
	})
}

// TestOutputAbort: an aborted output leaves the destination as it was.
func TestOutputAbort(t *testing.T) {
	p := filepath.Join(t.TempDir(), "keep.json")
	os.WriteFile(p, []byte("old"), 0o644)
	o, err := CreateOutput(p, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	o.Write([]byte("half"))
	o.Abort()
	if got, _ := os.ReadFile(p); string(got) != "old" {
		t.Fatalf("content %q", got)
	}
	if m, _ := filepath.Glob(filepath.Join(filepath.Dir(p), ".*")); len(m) > 0 {
		t.Fatalf("left behind: %v", m)
	}
}
