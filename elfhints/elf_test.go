package elfhints

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/sysward/sysward/internal/testutil"
)

// buildImporter compiles testdata/importer.c (and, with lib, links it
// against testdata/swlib.c built as libswlib.so in the same directory,
// found through RUNPATH $ORIGIN) and returns the binary's path.
func buildImporter(t *testing.T, dir string, lib bool) string {
	t.Helper()
	testutil.Require(t, testutil.Binary("cc"))
	bin := filepath.Join(dir, "importer")
	args := []string{"-O0", "-o", bin, "testdata/importer.c"}
	if lib {
		so := filepath.Join(dir, "libswlib.so")
		if out, err := exec.Command("cc", "-shared", "-fPIC", "-o", so, "testdata/swlib.c").CombinedOutput(); err != nil {
			t.Fatalf("compiling swlib: %v\n%s", err, out)
		}
		args = append(args, "-DWITH_LIB", "-L"+dir, "-lswlib", "-Wl,--enable-new-dtags,-rpath,$ORIGIN")
	}
	if out, err := exec.Command("cc", args...).CombinedOutput(); err != nil {
		t.Fatalf("compiling importer: %v\n%s", err, out)
	}
	return bin
}

func hasHint(hints []Hint, syscall, binary, function string) bool {
	return slices.Contains(hints, Hint{Syscall: syscall, Binary: binary, Function: function})
}

func TestReadDynamicC(t *testing.T) {
	dir := t.TempDir()
	bin := buildImporter(t, dir, true)
	b, err := Read(bin, &Options{Libraries: true})
	if err != nil {
		t.Fatal(err)
	}
	if b.Kind != KindDynamic || !b.KnownLibc() {
		t.Fatalf("kind %s (known libc %v), want dynamic over glibc", b.Kind, b.KnownLibc())
	}
	if !slices.Contains(b.Needed, "libc.so.6") || !slices.Contains(b.Needed, "libswlib.so") {
		t.Errorf("DT_NEEDED %v, want libc.so.6 and libswlib.so", b.Needed)
	}
	i := slices.IndexFunc(b.Imports, func(im Import) bool { return im.Name == "fsync" })
	if i < 0 {
		t.Fatalf("no fsync import in %v", b.Imports)
	}
	if im := b.Imports[i]; !strings.HasPrefix(im.Version, "GLIBC_2.") || im.Library != "libc.so.6" {
		t.Errorf("fsync import %+v, want a GLIBC_2.x version from libc.so.6", im)
	}
	if len(b.Libraries) != 1 || b.Libraries[0].Path != filepath.Join(dir, "libswlib.so") {
		t.Fatalf("libraries %+v, want libswlib.so beside the binary (RUNPATH $ORIGIN)", b.Libraries)
	}
	hints, notes := Hints(b)
	for _, h := range []Hint{
		{"fsync", bin, "fsync"},
		{"ptrace", bin, "ptrace"},
		{"fdatasync", filepath.Join(dir, "libswlib.so"), "fdatasync"},
	} {
		if !hasHint(hints, h.Syscall, h.Binary, h.Function) {
			t.Errorf("no hint %+v in %v", h, hints)
		}
	}
	if len(notes) != 0 {
		t.Errorf("notes %v, want none", notes)
	}
	if got := (Hint{"fsync", bin, "fsync"}).Source(); got != "static:"+bin+":fsync" {
		t.Errorf("source %q", got)
	}

	// Without Libraries, the library's imports are not counted.
	b, err = Read(bin, nil)
	if err != nil {
		t.Fatal(err)
	}
	hints, _ = Hints(b)
	if slices.ContainsFunc(hints, func(h Hint) bool { return h.Syscall == "fdatasync" }) {
		t.Errorf("fdatasync hinted without reading libraries: %v", hints)
	}
}

func TestReadStaticGo(t *testing.T) {
	testutil.Require(t, testutil.Binary("go"))
	bin := filepath.Join(t.TempDir(), "goprog")
	cmd := exec.Command("go", "build", "-ldflags=-s -w", "-o", bin, "./testdata/goprog")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building goprog: %v\n%s", err, out)
	}
	b, err := Read(bin, nil)
	if err != nil {
		t.Fatal(err)
	}
	if b.Kind != KindGo || len(b.Imports) != 0 || !b.KnownLibc() {
		t.Fatalf("kind %s with %d imports (known libc %v), want a static go binary", b.Kind, len(b.Imports), b.KnownLibc())
	}
	if !slices.Contains(b.GoFuncs, "syscall.Fsync") {
		t.Errorf("syscall.Fsync not among the Go wrappers of a stripped binary: %v", b.GoFuncs)
	}
	hints, notes := Hints(b)
	for _, h := range []Hint{
		{"fsync", bin, "syscall.Fsync"},
		{"getdents64", bin, "syscall.Getdents"},
		{"futex", bin, "go-runtime"},
	} {
		if !hasHint(hints, h.Syscall, h.Binary, h.Function) {
			t.Errorf("no hint %+v in %v", h, hints)
		}
	}
	if !slices.ContainsFunc(notes, func(n string) bool { return strings.Contains(n, "raw syscall.Syscall") }) {
		t.Errorf("notes %v: want the raw syscall.Syscall caveat", notes)
	}
}

func TestReadStaticC(t *testing.T) {
	testutil.Require(t, testutil.File("/bin/busybox"))
	b, err := Read("/bin/busybox", nil)
	if err != nil {
		t.Fatal(err)
	}
	if b.Kind != KindStatic {
		t.Fatalf("kind %s, want static (is /bin/busybox busybox-static?)", b.Kind)
	}
	if b.KnownLibc() {
		t.Error("busybox: KnownLibc, want false (its C library makes legacy calls: open, stat, poll)")
	}
	hints, notes := Hints(b)
	if len(hints) != 0 || len(notes) != 1 || !strings.Contains(notes[0], "no static hints are possible") {
		t.Errorf("hints %v notes %v, want none and a note saying no hints are possible", hints, notes)
	}
}

func TestReadRefuses(t *testing.T) {
	dir := t.TempDir()
	text := filepath.Join(dir, "script")
	if err := os.WriteFile(text, []byte("#!/bin/sh\necho hi\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := Read(text, nil); !errors.Is(err, ErrNotELF) || !strings.Contains(err.Error(), text) {
		t.Errorf("script: %v, want ErrNotELF naming it", err)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	// A FIFO with no writer must be refused, not waited on.
	if _, err := Read(fifo, nil); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("fifo: %v, want not a regular file", err)
	}
	if _, err := Read(dir, nil); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("directory: %v, want not a regular file", err)
	}
	if _, err := Read(filepath.Join(dir, "missing"), nil); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing: %v, want not exist", err)
	}
}

// TestReadRoot reads a binary inside a root directory, as for a container:
// its libraries are looked up there, and a symlink may not leave it.
func TestReadRoot(t *testing.T) {
	build := t.TempDir()
	bin := buildImporter(t, build, true)
	root := t.TempDir()
	for _, d := range []string{"usr/bin", "usr/lib/x86_64-linux-gnu"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	copyFile(t, bin, filepath.Join(root, "usr/bin/importer"))
	copyFile(t, filepath.Join(build, "libswlib.so"), filepath.Join(root, "usr/lib/x86_64-linux-gnu/libswlib.so"))
	b, err := Read("/usr/bin/importer", &Options{Root: root, Libraries: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Libraries) != 1 || b.Libraries[0].Path != "/usr/lib/x86_64-linux-gnu/libswlib.so" {
		t.Errorf("libraries %+v, want the root's libswlib.so", b.Libraries)
	}
	if err := os.Symlink("/usr/bin/true", filepath.Join(root, "usr/bin/escape")); err != nil {
		t.Fatal(err)
	}
	if _, err := Read("/usr/bin/escape", &Options{Root: root}); err == nil {
		t.Errorf("an absolute symlink out of the root was followed")
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o755); err != nil {
		t.Fatal(err)
	}
}

// TestParseBoundsSections: a binary claiming a huge .dynstr is refused
// before anything is allocated for it.
func TestParseBoundsSections(t *testing.T) {
	data, err := os.ReadFile("/bin/true")
	if err != nil {
		t.Fatal(err)
	}
	f, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	idx := slices.IndexFunc(f.Sections, func(s *elf.Section) bool { return s.Name == ".dynstr" })
	if idx < 0 {
		t.Fatal("/bin/true has no .dynstr")
	}
	shoff := binary.LittleEndian.Uint64(data[0x28:])
	shentsize := uint64(binary.LittleEndian.Uint16(data[0x3a:]))
	binary.LittleEndian.PutUint64(data[shoff+uint64(idx)*shentsize+32:], 1<<40)
	if _, err := parse(bytes.NewReader(data)); !errors.Is(err, ErrNotELF) || !strings.Contains(err.Error(), ".dynstr") {
		t.Errorf("huge .dynstr: %v, want ErrNotELF naming it", err)
	}
}

// TestFrontEnds: a thin program over a library (more of its imports from
// the library than from glibc) gets the library's imports with FrontEnds;
// a program using a library for one function (importer over libswlib)
// does not.
func TestFrontEnds(t *testing.T) {
	testutil.Require(t, testutil.Binary("cc"))
	dir := t.TempDir()
	so := filepath.Join(dir, "libfrontlib.so")
	if out, err := exec.Command("cc", "-shared", "-fPIC", "-o", so, "testdata/frontlib.c").CombinedOutput(); err != nil {
		t.Fatalf("compiling frontlib: %v\n%s", err, out)
	}
	fe := filepath.Join(dir, "frontend")
	if out, err := exec.Command("cc", "-O0", "-o", fe, "testdata/frontend.c", "-L"+dir, "-lfrontlib", "-Wl,--enable-new-dtags,-rpath,$ORIGIN").CombinedOutput(); err != nil {
		t.Fatalf("compiling frontend: %v\n%s", err, out)
	}
	b, err := Read(fe, &Options{FrontEnds: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Libraries) != 1 || b.Libraries[0].Provides != 8 || !IsFrontEnd(b, b.Libraries[0]) {
		t.Fatalf("libraries %+v, want libfrontlib providing the 8 fl_ functions", b.Libraries)
	}
	hints, _ := Hints(b)
	if !hasHint(hints, "ftruncate", so, "ftruncate") {
		t.Errorf("no ftruncate hint from libfrontlib: %v", hints)
	}

	imp := buildImporter(t, t.TempDir(), true)
	b, err = Read(imp, &Options{FrontEnds: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Libraries) != 0 || len(b.Others) != 1 {
		t.Errorf("importer: hinted %+v, others %+v, want libswlib among the others only (1 function of libswlib, many of glibc)", b.Libraries, b.Others)
	}
	if hints, _ := Hints(b); slices.ContainsFunc(hints, func(h Hint) bool { return h.Syscall == "fdatasync" }) {
		t.Errorf("fdatasync hinted from a library the binary is no front end to: %v", hints)
	}
	if r := OthersReach(b); !slices.Contains(r, "fdatasync") {
		t.Errorf("others reach %v, want libswlib's fdatasync", r)
	}
	b, err = Read(imp, &Options{Libraries: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Libraries) != 1 || b.Libraries[0].Provides != 1 || IsFrontEnd(b, b.Libraries[0]) {
		t.Errorf("importer with Libraries: %+v, want libswlib read, providing 1, no front end", b.Libraries)
	}
}

// The sqlite3 shell is a front end to libsqlite3 (whose imports hold WAL's
// ftruncate); redis-server to none of its libraries.
func TestFrontEndsDebian(t *testing.T) {
	for _, c := range []struct {
		bin  string
		want []string
	}{
		{"/usr/bin/sqlite3", []string{"libsqlite3.so.0"}},
		{"/usr/bin/redis-server", nil},
	} {
		testutil.Require(t, testutil.File(c.bin))
		b, err := Read(c.bin, &Options{FrontEnds: true})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, l := range b.Libraries {
			got = append(got, path.Base(l.Path))
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("%s: front end to %v, want %v", c.bin, got, c.want)
		}
	}
}
