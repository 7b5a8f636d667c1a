package profiles

//go:generate go run ./internal/gensyscalls -o zz_syscalls.go

import (
	"sort"
	"strings"
)

// Arch is an OCI/Docker seccomp architecture name such as "SCMP_ARCH_X86_64".
type Arch string

// Architectures sysward has syscall tables for.
const (
	ArchX86_64  Arch = "SCMP_ARCH_X86_64"
	ArchX86     Arch = "SCMP_ARCH_X86"
	ArchX32     Arch = "SCMP_ARCH_X32"
	ArchAARCH64 Arch = "SCMP_ARCH_AARCH64"
	ArchARM     Arch = "SCMP_ARCH_ARM"
)

type syscallEntry struct {
	name string
	nr   int
}

type syscallTable struct {
	byName map[string]int
	byNr   map[int]string
	names  []string // sorted
}

var tables = map[Arch]*syscallTable{}

func init() {
	for arch, ents := range map[Arch][]syscallEntry{
		ArchX86_64:  syscallsX86_64,
		ArchX86:     syscallsX86,
		ArchX32:     syscallsX32,
		ArchAARCH64: syscallsAARCH64,
		ArchARM:     syscallsARM,
	} {
		t := &syscallTable{byName: make(map[string]int, len(ents)), byNr: make(map[int]string, len(ents))}
		for _, e := range ents {
			t.byName[e.name] = e.nr
			t.byNr[e.nr] = e.name
			t.names = append(t.names, e.name)
		}
		sort.Strings(t.names)
		tables[arch] = t
	}
}

// KnownArches returns the architectures sysward has syscall tables for, sorted.
func KnownArches() []Arch {
	return []Arch{ArchAARCH64, ArchARM, ArchX32, ArchX86, ArchX86_64}
}

// ParseArch accepts an OCI name ("SCMP_ARCH_X86_64") or a short one
// ("x86_64", "amd64", "arm64", "aarch64", "x86", "i386", "x32", "arm") and
// reports whether sysward knows it.
func ParseArch(s string) (Arch, bool) {
	switch strings.ToLower(strings.TrimPrefix(s, "SCMP_ARCH_")) {
	case "x86_64", "amd64":
		return ArchX86_64, true
	case "x86", "i386", "386":
		return ArchX86, true
	case "x32":
		return ArchX32, true
	case "aarch64", "arm64":
		return ArchAARCH64, true
	case "arm":
		return ArchARM, true
	}
	return Arch(s), false
}

// SyscallNumber returns the number of the named syscall on arch.
func SyscallNumber(arch Arch, name string) (int, bool) {
	t := tables[arch]
	if t == nil {
		return 0, false
	}
	nr, ok := t.byName[name]
	return nr, ok
}

// SyscallName returns the name of syscall nr on arch.
func SyscallName(arch Arch, nr int) (string, bool) {
	t := tables[arch]
	if t == nil {
		return "", false
	}
	name, ok := t.byNr[nr]
	return name, ok
}

// Syscalls returns the sorted syscall names of arch. The slice is shared: do not modify it.
func Syscalls(arch Arch) []string {
	if t := tables[arch]; t != nil {
		return t.names
	}
	return nil
}

// KnownSyscall reports whether name is a syscall on any known architecture.
func KnownSyscall(name string) bool {
	for _, t := range tables {
		if _, ok := t.byName[name]; ok {
			return true
		}
	}
	return false
}
