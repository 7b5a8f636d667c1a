package elfhints

import (
	"debug/elf"
	"debug/gosym"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"slices"
	"strings"
	"syscall"
)

// Kind says how a binary is linked, which decides what can be learned
// from it.
type Kind string

// Kinds of binary.
const (
	// KindDynamic is a dynamically linked binary or shared library: its
	// imports from glibc are looked up in the libc table.
	KindDynamic Kind = "dynamic"
	// KindGo is a Go binary (statically linked, or dynamic with cgo): its
	// syscall wrappers are read from the function table (.gopclntab, which
	// stripping keeps).
	KindGo Kind = "go"
	// KindStatic is a statically linked binary that is not Go (busybox,
	// musl or glibc static): its syscall sites are inlined, nothing can be
	// said about them from the symbols.
	KindStatic Kind = "static"
)

// MaxFileSize bounds the binaries Read accepts (the biggest real binaries
// are a few hundred MB; a larger file is refused, not read).
const MaxFileSize = 1 << 30

// maxPclntab bounds the Go function table read into memory (kubelet's is
// about 30 MB), maxDynSection the dynamic symbol sections (libLLVM's
// .dynstr, among the largest, is a few MB): a crafted binary cannot make
// the reader allocate more.
const (
	maxPclntab    = 128 << 20
	maxDynSection = 64 << 20
)

// maxNeeded bounds how many DT_NEEDED libraries are read for one binary
// (postgres has 14).
const maxNeeded = 256

// ErrNotELF is returned for a file that is not an x86_64 ELF executable or
// shared object.
var ErrNotELF = errors.New("not an x86_64 ELF binary")

// Import is one dynamic symbol a binary takes from a shared library.
type Import struct {
	// Name is the symbol ("fsync"); Version its version ("GLIBC_2.2.5"),
	// "" when unversioned; Library the soname the version belongs to
	// ("libc.so.6"), "" when the binary does not say.
	Name, Version, Library string
}

// Binary is what Read learned from one ELF file.
type Binary struct {
	// Path names the file as the caller gave it (inside Options.Root).
	Path string
	Kind Kind
	// Needed are the DT_NEEDED sonames, in order; RunPath the directories
	// of DT_RUNPATH (or DT_RPATH), $ORIGIN expanded.
	Needed  []string
	RunPath []string
	// Imports are the undefined dynamic symbols (functions and objects).
	Imports []Import
	// GoFuncs are the Go functions of the syscall, golang.org/x/sys/unix
	// and internal/syscall/unix packages linked into a Go binary.
	GoFuncs []string
	// Libraries are the DT_NEEDED libraries read with Options.Libraries
	// (the binary's direct ones, not theirs), glibc's own left out (their
	// exports are what the libc table describes). Missing lists sonames
	// not found.
	Libraries []*Binary
	Missing   []string
	// Others are, with Options.FrontEnds, the direct libraries read but
	// not a front end's (IsFrontEnd): their imports are not hints, but say
	// what code the program runs can reach (Reach).
	Others []*Binary
	// Provides is, for a library read for a binary, how many of the
	// binary's imports it is the first of the binary's libraries to define
	// (the dynamic linker binds each import to the first definition in
	// DT_NEEDED order).
	Provides int

	// defines are the global symbols a shared object defines, kept while
	// its binary's libraries are read (for Provides).
	defines map[string]bool
}

// Options configure Read. A nil *Options means the defaults.
type Options struct {
	// Root is the directory the binary's paths are relative to (a
	// container's root filesystem); "" is "/". Library lookups and their
	// symlinks stay inside it.
	Root string
	// Libraries reads the binary's DT_NEEDED libraries too, one level:
	// a library the program chose to link (libsqlite3, libevent) often
	// holds the code that makes its calls, while the libraries those pull
	// in are their implementation (libsystemd's dependencies alone reach
	// 60 more syscalls for redis-server).
	Libraries bool
	// FrontEnds reads only the DT_NEEDED libraries the binary is a front
	// end to (IsFrontEnd: the sqlite3 shell over libsqlite3), when
	// Libraries is false.
	FrontEnds bool
}

// glibcSonames are glibc's own libraries: their exports are the libc
// table's rows, their own imports are glibc internals.
var glibcSonames = []string{
	"libc.so.6", "libm.so.6", "libpthread.so.0", "libdl.so.2", "librt.so.1",
	"libresolv.so.2", "libutil.so.1", "libanl.so.1", "libnsl.so.1",
	"libmvec.so.1", "ld-linux-x86-64.so.2", "libcrypt.so.1",
}

// IsGlibc reports whether soname is one of glibc's libraries (libcrypt is
// counted with them: it makes no syscalls of its own).
func IsGlibc(soname string) bool { return slices.Contains(glibcSonames, soname) }

// libDirs are where the dynamic linker looks on Debian x86_64 (the
// multiarch directories of /etc/ld.so.conf.d first); /etc/ld.so.cache is
// not read: a library only the cache knows is reported as missing.
var libDirs = []string{
	"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/usr/local/lib",
	"/lib64", "/usr/lib64", "/lib", "/usr/lib",
}

// Read parses the ELF file at name (inside opts.Root) and, with
// opts.Libraries, the shared libraries it needs. A file that is not a
// regular file, larger than MaxFileSize or not x86_64 ELF is an error
// naming it.
func Read(name string, opts *Options) (*Binary, error) {
	return read(name, nil, opts)
}

// ReadFile is Read for a file already open (such as /proc/PID/exe, which
// opens the running executable whatever mount namespace it is in), named
// name: the path the binary has inside opts.Root, for RUNPATH's $ORIGIN
// and for Binary.Path. f is not closed.
func ReadFile(f *os.File, name string, opts *Options) (*Binary, error) {
	return read(name, f, opts)
}

func read(name string, f *os.File, opts *Options) (*Binary, error) {
	if opts == nil {
		opts = &Options{}
	}
	root := opts.Root
	if root == "" {
		root = "/"
	}
	var r opener = hostFS{}
	if path.Clean(root) != "/" {
		rt, err := os.OpenRoot(root)
		if err != nil {
			return nil, fmt.Errorf("opening root %s: %w", root, err)
		}
		defer rt.Close()
		r = rootFS{rt}
	}
	var b *Binary
	var err error
	if f != nil {
		b, err = readOpen(f, name)
	} else {
		b, err = readOne(r, name)
	}
	if err != nil {
		return nil, err
	}
	if (opts.Libraries || opts.FrontEnds) && len(b.Needed) > 0 { // dynamic C, or Go with cgo
		readLibraries(r, b, !opts.Libraries)
	}
	return b, nil
}

// opener opens a path: the host's (symlinks followed as the kernel does)
// or an os.Root's, whose symlinks may not leave it (a container's root
// filesystem is not trusted).
type opener interface {
	Open(name string) (*os.File, error)
}

type hostFS struct{}

// Open never blocks: O_NONBLOCK keeps a FIFO from waiting for a writer
// (it is then refused as not regular), and is harmless on a regular file.
func (hostFS) Open(name string) (*os.File, error) {
	return os.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK, 0)
}

type rootFS struct{ r *os.Root }

func (f rootFS) Open(name string) (*os.File, error) {
	p := strings.TrimLeft(path.Clean("/"+name), "/")
	if p == "" {
		p = "."
	}
	return f.r.OpenFile(p, os.O_RDONLY|syscall.O_NONBLOCK, 0)
}

func readOne(r opener, name string) (*Binary, error) {
	f, err := r.Open(name)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", name, err)
	}
	defer f.Close()
	return readOpen(f, name)
}

func readOpen(f *os.File, name string) (*Binary, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file (%s)", name, st.Mode().Type())
	}
	if st.Size() > MaxFileSize {
		return nil, fmt.Errorf("%s: %d bytes, more than the %d a binary may have", name, st.Size(), int64(MaxFileSize))
	}
	b, err := parse(io.NewSectionReader(f, 0, st.Size()))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	b.Path = name
	for i, p := range b.RunPath {
		b.RunPath[i] = path.Clean(strings.NewReplacer("$ORIGIN", path.Dir(name), "${ORIGIN}", path.Dir(name)).Replace(p))
	}
	return b, nil
}

// parse reads one ELF image. debug/elf checks sizes against the reader's
// length, but has panicked on crafted input in past releases: a panic is
// turned into an error so that a hostile binary cannot end the caller.
func parse(ra io.ReaderAt) (b *Binary, err error) {
	defer func() {
		if p := recover(); p != nil {
			b, err = nil, fmt.Errorf("%w: malformed ELF (%v)", ErrNotELF, p)
		}
	}()
	f, err := elf.NewFile(ra)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotELF, err)
	}
	defer f.Close()
	if f.Class != elf.ELFCLASS64 || f.Machine != elf.EM_X86_64 {
		return nil, fmt.Errorf("%w: %s %s", ErrNotELF, f.Class, f.Machine)
	}
	if f.Type != elf.ET_EXEC && f.Type != elf.ET_DYN {
		return nil, fmt.Errorf("%w: type %s", ErrNotELF, f.Type)
	}
	for _, sec := range f.Sections {
		switch sec.Name {
		case ".dynsym", ".dynstr", ".dynamic", ".gnu.version", ".gnu.version_r", ".gnu.version_d":
			if sec.Size > maxDynSection {
				return nil, fmt.Errorf("%w: %s of %d bytes, more than the %d read", ErrNotELF, sec.Name, sec.Size, maxDynSection)
			}
		}
	}
	b = &Binary{Kind: KindStatic}
	if f.Section(".dynamic") != nil || f.Section(".dynsym") != nil {
		b.Kind = KindDynamic
		if b.Needed, err = f.ImportedLibraries(); err != nil {
			return nil, fmt.Errorf("reading DT_NEEDED: %w", err)
		}
		for _, tag := range []elf.DynTag{elf.DT_RUNPATH, elf.DT_RPATH} {
			if v, _ := f.DynString(tag); len(v) > 0 {
				for _, p := range strings.Split(strings.Join(v, ":"), ":") {
					if p != "" {
						b.RunPath = append(b.RunPath, p)
					}
				}
				break
			}
		}
		// Undefined dynamic symbols, weak ones included: ImportedSymbols
		// leaves weak imports out, and a program may import a libc
		// function weakly (libstdc++'s pthread_create, __cxa_finalize).
		syms, err := f.DynamicSymbols()
		if err != nil && !errors.Is(err, elf.ErrNoSymbols) {
			return nil, fmt.Errorf("reading dynamic imports: %w", err)
		}
		for _, s := range syms {
			bind := elf.ST_BIND(s.Info)
			if s.Name == "" || (bind != elf.STB_GLOBAL && bind != elf.STB_WEAK) {
				continue
			}
			if s.Section != elf.SHN_UNDEF {
				if f.Type == elf.ET_DYN {
					if b.defines == nil {
						b.defines = map[string]bool{}
					}
					b.defines[s.Name] = true
				}
				continue
			}
			b.Imports = append(b.Imports, Import{Name: s.Name, Version: s.Version, Library: s.Library})
		}
	}
	if funcs, ok, err := goFuncs(f); err != nil {
		return nil, err
	} else if ok {
		b.Kind = KindGo
		b.GoFuncs = funcs
	}
	return b, nil
}

// goFuncs lists the syscall wrapper functions of a Go binary from its
// pclntab (kept by -s -w), reporting whether f is Go at all.
func goFuncs(f *elf.File) ([]string, bool, error) {
	s := f.Section(".gopclntab")
	if s == nil {
		return nil, false, nil
	}
	text := f.Section(".text")
	if text == nil {
		return nil, false, fmt.Errorf("%w: .gopclntab without .text", ErrNotELF)
	}
	if s.Size > maxPclntab {
		return nil, false, fmt.Errorf("%w: .gopclntab of %d bytes, more than the %d read", ErrNotELF, s.Size, maxPclntab)
	}
	data, err := s.Data()
	if err != nil {
		return nil, false, fmt.Errorf("reading .gopclntab: %w", err)
	}
	t, err := gosym.NewTable(nil, gosym.NewLineTable(data, text.Addr))
	if err != nil {
		return nil, false, fmt.Errorf("reading .gopclntab: %w", err)
	}
	var out []string
	for _, fn := range t.Funcs {
		if _, _, ok := splitGoWrapper(fn.Name); ok {
			out = append(out, fn.Name)
		}
	}
	slices.Sort(out)
	return slices.Compact(out), true, nil
}

// readLibraries reads b's direct DT_NEEDED libraries, glibc's left out,
// and counts what each provides; with frontEnds, it keeps only those b is
// a front end to.
func readLibraries(r opener, b *Binary, frontEnds bool) {
	seen := map[string]bool{}
	for _, so := range b.Needed {
		if len(b.Libraries) >= maxNeeded {
			break
		}
		if seen[so] || IsGlibc(so) {
			continue
		}
		seen[so] = true
		lib := findLibrary(r, so, b.RunPath)
		if lib == nil {
			b.Missing = append(b.Missing, so)
			continue
		}
		b.Libraries = append(b.Libraries, lib)
	}
	bound := map[string]bool{}
	for _, lib := range b.Libraries {
		for _, im := range b.Imports {
			if !bound[im.Name] && !strings.HasPrefix(im.Version, "GLIBC_") && lib.defines[im.Name] {
				bound[im.Name] = true
				lib.Provides++
			}
		}
		lib.defines = nil
	}
	b.defines = nil
	if frontEnds {
		var keep []*Binary
		for _, lib := range b.Libraries {
			if IsFrontEnd(b, lib) {
				keep = append(keep, lib)
			} else {
				b.Others = append(b.Others, lib)
			}
		}
		b.Libraries = keep
	}
}

// IsFrontEnd reports whether b is a front end to its library lib: lib
// provides at least as many of b's imports as glibc does (the sqlite3
// shell takes 166 functions from libsqlite3 and 66 from glibc). The
// program's work is then in lib, whose own imports say what it can reach
// (WAL needs ftruncate, which only libsqlite3 imports). A server that uses
// a library for one concern (redis-server: 33 functions of libssl, 201 of
// glibc; postgres: 86 of libcrypto, 240 of glibc) is not a front end to
// it: reading all its libraries (Options.Libraries) reaches everything
// libsystemd or libcrypto can do.
func IsFrontEnd(b, lib *Binary) bool {
	glibc := 0
	for _, im := range b.Imports {
		if strings.HasPrefix(im.Version, "GLIBC_") {
			glibc++
		}
	}
	return lib.Provides > 0 && lib.Provides >= glibc
}

func findLibrary(r opener, soname string, runPath []string) *Binary {
	if strings.Contains(soname, "/") {
		lib, err := readOne(r, soname)
		if err != nil || lib.Kind != KindDynamic {
			return nil
		}
		return lib
	}
	for _, d := range append(slices.Clone(runPath), libDirs...) {
		lib, err := readOne(r, path.Join(d, soname))
		if err == nil && lib.Kind == KindDynamic {
			return lib
		}
	}
	return nil
}
