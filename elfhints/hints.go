package elfhints

import (
	"fmt"
	"slices"
	"strings"

	"github.com/sysward/sysward/profiles"
)

// Hint is one syscall a binary can reach, and through what.
type Hint struct {
	// Syscall is the x86_64 syscall name.
	Syscall string
	// Binary is the file whose import or function it is: the program, or
	// one of its shared libraries.
	Binary string
	// Function is the libc import ("fsync"), the Go wrapper
	// ("syscall.Fsync") or "go-runtime".
	Function string
}

// Source is the profile source string of h: "static:<binary>:<function>".
func (h Hint) Source() string { return profiles.SourceStaticPrefix + h.Binary + ":" + h.Function }

// Hints lists the syscalls b (and its Libraries) can reach, sorted by
// syscall, binary and function, and notes on what could not be said (a
// static non-Go binary, raw syscall() imports, missing libraries).
func Hints(b *Binary) ([]Hint, []string) {
	var hints []Hint
	var notes []string
	add := func(bin, fn string, calls []string) {
		for _, c := range calls {
			if _, ok := profiles.SyscallNumber(profiles.ArchX86_64, c); ok {
				hints = append(hints, Hint{Syscall: c, Binary: bin, Function: fn})
			}
		}
	}
	var walk func(b *Binary)
	walk = func(b *Binary) {
		switch b.Kind {
		case KindStatic:
			notes = append(notes, fmt.Sprintf("%s is statically linked and not Go: its syscalls are inlined, no static hints are possible", b.Path))
			return
		case KindGo:
			add(b.Path, "go-runtime", goRuntime)
			raw := false
			for _, fn := range b.GoFuncs {
				_, name, _ := splitGoWrapper(fn)
				calls, isRaw := goWrapperSyscalls(name)
				raw = raw || isRaw
				add(b.Path, fn, calls)
			}
			if raw {
				notes = append(notes, fmt.Sprintf("%s links Go's raw syscall.Syscall: calls made through it directly cannot be named", b.Path))
			}
		}
		rawImport := false
		for _, im := range b.Imports {
			if !strings.HasPrefix(im.Version, "GLIBC_") {
				continue // not glibc's (musl is unversioned): no table for it
			}
			if im.Name == "syscall" {
				rawImport = true
				continue
			}
			if calls, ok := LibcFunction(im.Name); ok {
				add(b.Path, im.Name, calls)
			}
		}
		if rawImport {
			notes = append(notes, fmt.Sprintf("%s imports syscall(): calls made through it cannot be named", b.Path))
		}
		if b.Kind == KindDynamic && linksMusl(b) {
			notes = append(notes, fmt.Sprintf("%s does not link glibc: no libc table for its C library", b.Path))
		}
	}
	walk(b)
	for _, lib := range b.Libraries {
		walk(lib)
	}
	if len(b.Missing) > 0 {
		notes = append(notes, fmt.Sprintf("%s: libraries not found (their imports are not counted): %s", b.Path, strings.Join(b.Missing, ", ")))
	}
	slices.SortFunc(hints, func(x, y Hint) int {
		return strings.Compare(x.Syscall+"\x00"+x.Binary+"\x00"+x.Function, y.Syscall+"\x00"+y.Binary+"\x00"+y.Function)
	})
	return slices.Compact(hints), notes
}

// KnownLibc reports whether b's system calls go through glibc (a dynamic
// binary linking libc.so.6) or Go's syscall package and runtime: both make
// the modern *at, pipe2, dup3, epoll_pwait forms where x86_64 also has a
// legacy one (see profiles.LegacyMember). A static non-Go binary (its C
// library is unknown: busybox, static musl) and a dynamic one without glibc
// (musl) do not: false.
func (b *Binary) KnownLibc() bool {
	return b.Kind == KindGo || b.Kind == KindDynamic && slices.Contains(b.Needed, "libc.so.6") && !linksMusl(b)
}

// OthersReach lists the syscalls the imports of b.Others (the libraries
// read but not hinted) can reach, sorted.
func OthersReach(b *Binary) []string {
	if len(b.Others) == 0 {
		return nil
	}
	hints, _ := Hints(&Binary{Path: b.Path, Kind: KindDynamic, Libraries: b.Others})
	var out []string
	for _, h := range hints {
		out = append(out, h.Syscall)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// linksMusl reports whether b links musl (Alpine), whose imports carry no
// version and which the table does not describe.
func linksMusl(b *Binary) bool {
	for _, n := range b.Needed {
		if strings.HasPrefix(n, "libc.musl") || strings.HasPrefix(n, "ld-musl") {
			return true
		}
	}
	return false
}
