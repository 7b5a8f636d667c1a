package profiler

import (
	"fmt"
	"math/bits"
	"sort"

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

// AllowedSet turns a profile into the set of syscall numbers it lets run
// for at least some arguments (profiles.Profile.AllowedNumbers): the kernel
// side checks numbers only, so an argument-conditioned entry counts as
// allowed. A profile without architectures means the native one only (as
// runc does). With an allowing default action, numbers no syscall table
// names are allowed too.
func AllowedSet(p *profiles.Profile) (*SyscallSet, error) {
	var s SyscallSet
	arches := p.Arches()
	if len(arches) == 0 {
		arches = []profiles.Arch{profiles.ArchX86_64}
	}
	for _, a := range arches {
		i, ok := archIndex(a)
		if !ok {
			continue // an architecture this kernel side does not trace
		}
		if profiles.Allows(p.DefaultAction) {
			for w := range s.bits[i] {
				s.bits[i][w] = ^uint64(0)
			}
			for _, name := range profiles.Syscalls(a) {
				if !p.Decide(a, name).MayAllow(p) {
					nr, _ := profiles.SyscallNumber(a, name)
					if b := bitNr(a, nr); b >= 0 && b < maxSyscallNr {
						s.bits[i][b/64] &^= 1 << (b % 64)
					}
				}
			}
			continue
		}
		for _, nr := range p.AllowedNumbers(a) {
			s.Add(a, nr)
		}
	}
	return &s, nil
}

// enosys is the errno of a syscall "not implemented".
const enosys = 38

// ExpectedSet is AllowedSet plus the syscalls the profile answers ENOSYS
// for without conditions: "not implemented" is how a profile makes a
// program fall back to an older call (glibc 2.34+ tries clone3 and falls
// back to clone on ENOSYS only; Docker's default profile and sysward's
// static hints answer clone3 so). Such a call is the program working as
// the profile intends, not a deviation, so the watcher does not report it;
// a call refused with any other errno, or killed, still is.
func ExpectedSet(p *profiles.Profile) (*SyscallSet, error) {
	s, err := AllowedSet(p)
	if err != nil || profiles.Allows(p.DefaultAction) {
		return s, err
	}
	arches := p.Arches()
	if len(arches) == 0 {
		arches = []profiles.Arch{profiles.ArchX86_64}
	}
	for _, a := range arches {
		if _, ok := archIndex(a); !ok {
			continue
		}
		for _, name := range profiles.Syscalls(a) {
			d := p.Decide(a, name)
			if d.Entry >= 0 && d.Action == profiles.ActErrno && d.ErrnoRet != nil && *d.ErrnoRet == enosys && len(d.Conditional) == 0 {
				if nr, ok := profiles.SyscallNumber(a, name); ok {
					s.Add(a, nr)
				}
			}
		}
	}
	return s, nil
}
