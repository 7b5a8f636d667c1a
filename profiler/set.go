package profiler

import (
	"fmt"
	"math/bits"
	"sort"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/sysward/sysward/profiles"
)

// Sizes of the kernel bitmaps (bpf/profiler.bpf.c NR_BITS, N_ARCH).
const (
	maxSyscallNr = 1024
	numArches    = 3
	bitmapWords  = maxSyscallNr / 64
)

// archOrder maps the kernel's arch index to the OCI architecture name.
var archOrder = [numArches]profiles.Arch{profiles.ArchX86_64, profiles.ArchX86, profiles.ArchX32}

// x32Bit is __X32_SYSCALL_BIT: x32 numbers in profiles' tables (as in
// libseccomp) carry it; the kernel bitmaps index by the number without it.
const x32Bit = 0x40000000

// bitNr maps a table number to the bitmap index of arch.
func bitNr(arch profiles.Arch, nr int) int {
	if arch == profiles.ArchX32 {
		return nr &^ x32Bit
	}
	return nr
}

// tableNr maps a bitmap index of arch to the number in profiles' tables.
func tableNr(arch profiles.Arch, nr int) int {
	if arch == profiles.ArchX32 {
		return nr | x32Bit
	}
	return nr
}

func archIndex(a profiles.Arch) (int, bool) {
	for i, x := range archOrder {
		if x == a {
			return i, true
		}
	}
	return 0, false
}

// SyscallSet is a set of syscall numbers per architecture, the user-space
// copy of one kernel bitmap group. The zero value is empty and ready to use.
type SyscallSet struct {
	bits [numArches][bitmapWords]uint64
}

// Add puts syscall nr of arch into the set. Numbers are those of the
// profiles package's tables (x32 numbers carry __X32_SYSCALL_BIT). It
// reports false for an architecture the profiler does not trace or a number
// out of range.
func (s *SyscallSet) Add(arch profiles.Arch, nr int) bool {
	nr = bitNr(arch, nr)
	i, ok := archIndex(arch)
	if !ok || nr < 0 || nr >= maxSyscallNr {
		return false
	}
	s.bits[i][nr/64] |= 1 << (nr % 64)
	return true
}

// Has reports whether syscall nr of arch is in the set.
func (s *SyscallSet) Has(arch profiles.Arch, nr int) bool {
	nr = bitNr(arch, nr)
	i, ok := archIndex(arch)
	if !ok || nr < 0 || nr >= maxSyscallNr {
		return false
	}
	return s.bits[i][nr/64]&(1<<(nr%64)) != 0
}

// Len is the number of (arch, syscall) pairs in the set.
func (s *SyscallSet) Len() int {
	n := 0
	for i := range s.bits {
		for _, w := range s.bits[i] {
			n += bits.OnesCount64(w)
		}
	}
	return n
}

// Arches lists the architectures with at least one syscall, native first.
func (s *SyscallSet) Arches() []profiles.Arch {
	var out []profiles.Arch
	for i := range s.bits {
		for _, w := range s.bits[i] {
			if w != 0 {
				out = append(out, archOrder[i])
				break
			}
		}
	}
	return out
}

// Numbers lists the syscall numbers of arch in the set, ascending.
func (s *SyscallSet) Numbers(arch profiles.Arch) []int {
	i, ok := archIndex(arch)
	if !ok {
		return nil
	}
	var out []int
	for w, word := range s.bits[i] {
		for word != 0 {
			b := bits.TrailingZeros64(word)
			out = append(out, tableNr(arch, w*64+b))
			word &^= 1 << b
		}
	}
	return out
}

// Names lists the syscall names of arch in the set, sorted. A number the
// syscall table does not know is named "syscall_<nr>".
func (s *SyscallSet) Names(arch profiles.Arch) []string {
	var out []string
	for _, nr := range s.Numbers(arch) {
		out = append(out, syscallName(arch, nr))
	}
	sort.Strings(out)
	return out
}

// Union adds every member of o to s.
func (s *SyscallSet) Union(o *SyscallSet) {
	for i := range s.bits {
		for w := range s.bits[i] {
			s.bits[i][w] |= o.bits[i][w]
		}
	}
}

func syscallName(arch profiles.Arch, nr int) string {
	if n, ok := profiles.SyscallName(arch, nr); ok {
		return n
	}
	return fmt.Sprintf("syscall_%d", nr)
}

// AllowedSet turns a profile into the set of syscalls it allows without
// condition or with argument conditions (a call matching the name is not
// reported as a deviation even if its arguments would be refused: the
// kernel side checks numbers only). With defaultAction SCMP_ACT_ALLOW
// (or LOG) every number is allowed except those a rule refuses without
// argument conditions. Architectures not listed in the profile are taken as
// the native one only, as runc does.
func AllowedSet(p *profiles.Profile) (*SyscallSet, error) {
	var s SyscallSet
	arches := []profiles.Arch{profiles.ArchX86_64}
	if len(p.Architectures) > 0 {
		arches = arches[:0]
		for _, a := range p.Architectures {
			pa, ok := profiles.ParseArch(string(a))
			if !ok {
				return nil, fmt.Errorf("profile architecture %q: unknown", a)
			}
			if _, ok := archIndex(pa); ok {
				arches = append(arches, pa)
			}
		}
	}
	permissive := func(a specs.LinuxSeccompAction) bool {
		return a == specs.ActAllow || a == specs.ActLog
	}
	defAllow := permissive(p.DefaultAction)
	if defAllow {
		for _, a := range arches {
			i, _ := archIndex(a)
			for w := range s.bits[i] {
				s.bits[i][w] = ^uint64(0)
			}
		}
	}
	for ri, r := range p.Syscalls {
		allow := permissive(r.Action)
		if defAllow && (allow || len(r.Args) > 0) {
			continue // conditional refusal: the name stays allowed
		}
		if !defAllow && !allow {
			continue
		}
		for _, name := range r.Names {
			for _, a := range arches {
				nr, ok := profiles.SyscallNumber(a, name)
				if !ok {
					if a == profiles.ArchX86_64 && !profiles.KnownSyscall(name) {
						return nil, fmt.Errorf("profile syscalls[%d]: unknown syscall %q", ri, name)
					}
					continue
				}
				i, _ := archIndex(a)
				nr = bitNr(a, nr)
				if nr < 0 || nr >= maxSyscallNr {
					continue
				}
				if allow {
					s.bits[i][nr/64] |= 1 << (nr % 64)
				} else {
					s.bits[i][nr/64] &^= 1 << (nr % 64)
				}
			}
		}
	}
	return &s, nil
}
