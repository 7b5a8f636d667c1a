package enforcer

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand"
	"sort"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/net/bpf"

	"github.com/sysward/sysward/profiles"
)

// seccomp_data layout (linux/seccomp.h): nr(4) arch(4) ip(8) args(6×8).
const (
	offNr      = 0
	offArch    = 4
	offArgs    = 16
	seccompLen = 64
)

// SeccompData is one syscall as a seccomp filter sees it.
type SeccompData struct {
	Nr   int32
	Arch uint32
	IP   uint64
	Args [6]uint64
}

// vmInput encodes d for x/net/bpf's VM. The VM was written for packets and
// loads words big-endian, while the kernel hands seccomp filters struct
// seccomp_data in host order (little-endian here); seccomp programs only
// load aligned 32-bit words (checkProgram enforces it), so writing each
// host-order word big-endian at its offset makes every load see the value
// the kernel would. A 64-bit field's low word sits at the lower offset.
func (d SeccompData) vmInput() []byte {
	b := make([]byte, seccompLen)
	binary.BigEndian.PutUint32(b[0:], uint32(d.Nr))
	binary.BigEndian.PutUint32(b[4:], d.Arch)
	binary.BigEndian.PutUint32(b[8:], uint32(d.IP))
	binary.BigEndian.PutUint32(b[12:], uint32(d.IP>>32))
	for i, a := range d.Args {
		binary.BigEndian.PutUint32(b[offArgs+8*i:], uint32(a))
		binary.BigEndian.PutUint32(b[offArgs+8*i+4:], uint32(a>>32))
	}
	return b
}

// Program is a seccomp program ready to run in userspace.
type Program struct {
	ins []bpf.Instruction
	vm  *bpf.VM
}

// NewProgram checks ins the way the kernel's seccomp_check_filter does for
// the parts that matter here (only aligned 32-bit absolute loads inside
// seccomp_data, no packet extensions, ends in a return) and prepares it.
func NewProgram(ins []bpf.Instruction) (*Program, error) {
	if err := checkProgram(ins); err != nil {
		return nil, err
	}
	vm, err := bpf.NewVM(ins)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadProgram, err)
	}
	return &Program{ins: ins, vm: vm}, nil
}

func checkProgram(ins []bpf.Instruction) error {
	if len(ins) == 0 || len(ins) > 4096 {
		return fmt.Errorf("%w: %d instructions (1..4096)", ErrBadProgram, len(ins))
	}
	for i, in := range ins {
		switch in := in.(type) {
		case bpf.LoadAbsolute:
			if in.Size != 4 || in.Off%4 != 0 || in.Off >= seccompLen {
				return fmt.Errorf("%w: instruction %d: %v reads outside seccomp_data's aligned words", ErrBadProgram, i, in)
			}
		case bpf.LoadIndirect, bpf.LoadMemShift, bpf.LoadExtension:
			return fmt.Errorf("%w: instruction %d: %v is not allowed in seccomp", ErrBadProgram, i, in)
		case bpf.RawInstruction:
			return fmt.Errorf("%w: instruction %d: undecodable %+v", ErrBadProgram, i, in)
		}
	}
	return nil
}

// Run returns the program's verdict for d.
func (p *Program) Run(d SeccompData) (uint32, error) {
	v, err := p.vm.Run(d.vmInput())
	if err != nil {
		return 0, fmt.Errorf("running program: %w", err)
	}
	return uint32(v), nil
}

// Mismatch is one syscall where the program and the profile disagree.
type Mismatch struct {
	Arch profiles.Arch
	Nr   int
	Name string // "" for a number with no name on Arch
	Args [6]uint64
	Want uint32 // from Expect
	Got  uint32 // from the program
}

func (m Mismatch) String() string {
	name := m.Name
	if name == "" {
		name = "?"
	}
	return fmt.Sprintf("%s nr %d (%s) args %#x: profile says %s, filter returns %s", m.Arch, m.Nr, name, m.Args, RetString(m.Want), RetString(m.Got))
}

// CacheMiss is an argument-free allowed syscall whose path to ALLOW is not
// decided by nr and arch alone, so the kernel will not cache it.
type CacheMiss struct {
	Arch   profiles.Arch
	Nr     int
	Name   string
	Reason string
}

func (c CacheMiss) String() string {
	return fmt.Sprintf("%s %s (nr %d): %s", c.Arch, c.Name, c.Nr, c.Reason)
}

// Report is what Verify found.
type Report struct {
	Arches []profiles.Arch
	// Checks counts program runs (syscall × argument vector).
	Checks int
	// Syscalls counts distinct (arch, nr) pairs checked, unknown numbers included.
	Syscalls int
	// Cacheable counts argument-free allowed syscalls proven cacheable.
	Cacheable  int
	Mismatches []Mismatch
	CacheMiss  []CacheMiss
}

// Err returns nil for a clean report, else an error wrapping ErrMismatch
// and/or ErrNotCacheable that lists the first problems.
func (r *Report) Err() error {
	var errs []error
	if n := len(r.Mismatches); n > 0 {
		var b strings.Builder
		for i, m := range r.Mismatches {
			if i == 10 {
				fmt.Fprintf(&b, "\n  … %d more", n-10)
				break
			}
			b.WriteString("\n  " + m.String())
		}
		errs = append(errs, fmt.Errorf("%w: %d of %d checks:%s", ErrMismatch, n, r.Checks, b.String()))
	}
	if n := len(r.CacheMiss); n > 0 {
		var b strings.Builder
		for i, m := range r.CacheMiss {
			if i == 10 {
				fmt.Fprintf(&b, "\n  … %d more", n-10)
				break
			}
			b.WriteString("\n  " + m.String())
		}
		errs = append(errs, fmt.Errorf("%w: %d syscalls:%s", ErrNotCacheable, n, b.String()))
	}
	return errors.Join(errs...)
}

// VerifyOptions tune Verify; nil means defaults.
type VerifyOptions struct {
	// Seed drives the random argument vectors added to the boundary ones.
	Seed int64
	// RandomArgs is how many random argument vectors to try per
	// argument-conditioned syscall (default 4).
	RandomArgs int
}

// Verify runs the filter's program in a userspace cBPF VM for every
// syscall number of every architecture in the filter (plus numbers that
// name no syscall, plus an architecture outside the filter) and compares
// each verdict with Expect(p, …). Syscalls with argument conditions are run
// with argument values on both sides of every condition's boundary (and in
// the high word on 64-bit architectures) plus random ones. It also checks
// that every argument-free allowed syscall is eligible for the kernel's
// allow cache (CacheEligible). It needs no privileges.
//
// Verify(f.Profile, f) checks a compilation; Verify(other, f) checks a
// filter against a different profile (which is how a test proves the check
// can fail). The returned error is about the program itself (undecodable);
// disagreement is in the report (Report.Err).
func Verify(p *profiles.Profile, f *Filter, opts *VerifyOptions) (*Report, error) {
	if opts == nil {
		opts = &VerifyOptions{}
	}
	nRand := opts.RandomArgs
	if nRand == 0 {
		nRand = 4
	}
	prog, err := NewProgram(f.Instructions)
	if err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewSource(opts.Seed))
	r := &Report{Arches: append([]profiles.Arch(nil), f.Arches...)}
	o := newOracle(p, f)
	check := func(arch profiles.Arch, token uint32, nr int, name string, args [6]uint64) error {
		got, err := prog.Run(SeccompData{Nr: int32(nr), Arch: token, IP: 0x7f0000001000, Args: args})
		if err != nil {
			return err
		}
		r.Checks++
		want := o.expect(arch, nr, args)
		if got != want {
			r.Mismatches = append(r.Mismatches, Mismatch{Arch: arch, Nr: nr, Name: name, Args: args, Want: want, Got: got})
		}
		return nil
	}
	for _, arch := range f.Arches {
		token, ok := AuditArch(arch)
		if !ok {
			continue
		}
		for _, name := range profiles.Syscalls(arch) {
			nr, _ := profiles.SyscallNumber(arch, name)
			r.Syscalls++
			ex := &explorer{ins: f.Instructions, prog: prog, nr: int32(nr), token: token}
			for _, args := range argVectors(p, name, is32(arch), rng, nRand, ex) {
				if err := check(arch, token, nr, name, args); err != nil {
					return nil, err
				}
			}
		}
		for _, nr := range unknownNumbers(arch) {
			r.Syscalls++
			if err := check(arch, token, nr, "", [6]uint64{}); err != nil {
				return nil, err
			}
		}
		misses, cached, err := cacheCheck(p, f, arch, token)
		if err != nil {
			return nil, err
		}
		r.CacheMiss = append(r.CacheMiss, misses...)
		r.Cacheable += cached
	}
	// x32 outside a filter that has x86_64: same audit token, numbers with
	// __X32_SYSCALL_BIT; they get the bad-arch action.
	if containsArch(f.Arches, profiles.ArchX86_64) && !containsArch(f.Arches, profiles.ArchX32) {
		token, _ := AuditArch(profiles.ArchX32)
		for _, name := range []string{"getpid", "read", "execve"} {
			nr, _ := profiles.SyscallNumber(profiles.ArchX32, name)
			r.Syscalls++
			if err := check(profiles.ArchX32, token, nr, name, [6]uint64{}); err != nil {
				return nil, err
			}
		}
	}
	// An architecture outside the filter: the bad-arch action.
	for _, arch := range profiles.KnownArches() {
		token, _ := AuditArch(arch)
		inFilter := false
		for _, a := range f.Arches {
			if t, _ := AuditArch(a); t == token {
				inFilter = true
			}
		}
		if !inFilter {
			if err := check(arch, token, 0, "", [6]uint64{}); err != nil {
				return nil, err
			}
			break
		}
	}
	return r, nil
}

// unknownNumbers returns syscall numbers on arch that name no syscall:
// every gap inside each cluster of known numbers (clusters are at least 4096
// apart: ARM's private 0xf0000 range, x32's 0x40000000 base) and 16 above
// each cluster's top.
func unknownNumbers(arch profiles.Arch) []int {
	var nrs []int
	known := map[int]bool{}
	for _, name := range profiles.Syscalls(arch) {
		nr, _ := profiles.SyscallNumber(arch, name)
		nrs = append(nrs, nr)
		known[nr] = true
	}
	sort.Ints(nrs)
	var out []int
	for i := 0; i < len(nrs); {
		j := i
		for j+1 < len(nrs) && nrs[j+1]-nrs[j] < 4096 {
			j++
		}
		for n := nrs[i]; n <= nrs[j]+16; n++ {
			if !known[n] {
				out = append(out, n)
			}
		}
		i = j + 1
	}
	return out
}

// argVectors returns the argument vectors to try for name: all zero, and
// for each entry with conditions on name, values that satisfy and violate
// each condition (at its boundary, and in the high word on 64-bit
// architectures), plus random ones.
func argVectors(p *profiles.Profile, name string, narrow bool, rng *rand.Rand, nRand int, ex *explorer) [][6]uint64 {
	out := [][6]uint64{{}}
	for _, s := range p.Syscalls {
		if len(s.Args) == 0 || !containsName(s.Names, name) {
			continue
		}
		base := [6]uint64{}
		for _, c := range s.Args {
			if c.Index <= 5 {
				base[c.Index] = satisfying(c)
			}
		}
		out = append(out, base)
		for _, c := range s.Args {
			if c.Index > 5 {
				continue
			}
			for _, v := range boundary(c, narrow) {
				a := base
				a[c.Index] = v
				out = append(out, a)
			}
		}
		for i := 0; rng != nil && i < nRand; i++ {
			a := base
			c := s.Args[rng.Intn(len(s.Args))]
			if c.Index <= 5 {
				a[c.Index] = rng.Uint64()
				if rng.Intn(2) == 0 {
					a[c.Index] = c.Value + uint64(rng.Intn(5)) - 2
				}
			}
			out = append(out, a)
		}
	}
	// On x86, socketcall and ipc get the rules of the calls they
	// multiplex, with argument 0 == the call number.
	if name == "socketcall" || name == "ipc" {
		for _, m := range p.Decide(profiles.ArchX86, name).Demuxed {
			base := [6]uint64{m.Call}
			conds := p.Syscalls[m.Entry].Args
			for _, c := range conds {
				if c.Index > 0 && c.Index <= 5 {
					base[c.Index] = satisfying(c)
				}
			}
			out = append(out, base, [6]uint64{m.Call}, [6]uint64{m.Call + 1}, [6]uint64{m.Call | 1<<16})
			for _, c := range conds {
				if c.Index == 0 || c.Index > 5 {
					continue
				}
				for _, v := range boundary(c, narrow) {
					a := base
					a[c.Index] = v
					out = append(out, a)
				}
			}
		}
	}
	if !narrow {
		out = append(out, wordMixes(p, name, ex)...)
	}
	if narrow {
		for i := range out {
			for j := range out[i] {
				out[i][j] = uint64(uint32(out[i][j]))
			}
		}
	}
	return dedupe(out)
}

// dedupe drops repeated vectors, keeping the first of each in order: many
// entries on one syscall (ioctl requests) produce the same boundary and
// word-mix vectors over and over, and each costs a program run.
func dedupe(vs [][6]uint64) [][6]uint64 {
	seen := make(map[[6]uint64]bool, len(vs))
	out := vs[:0]
	for _, v := range vs {
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}

// wordMixes returns vectors whose argument combines the high word of one
// condition value with the low word (and its neighbours) of another value
// tested on the same argument, over all entries naming the syscall.
// libseccomp compares a 64-bit argument as two 32-bit words and shares
// tree nodes between rules; libseccomp 2.5.4 was seen to compare the low
// word when the high word had already decided (two SCMP_CMP_LE on one
// argument), which only such values reveal.
//
// For each high word of interest, the low words are every distinct low
// word of interest (the full product), or, with an explorer and no masked
// condition on the argument, the low words the explorer finds by following
// the program (see explorer): they cover every low word, and there are few
// of them when the condition values' high words differ.
func wordMixes(p *profiles.Profile, name string, ex *explorer) [][6]uint64 {
	var vals [6][]uint64
	var hasMasked [6]bool
	for _, s := range p.Syscalls {
		if len(s.Args) == 0 || !containsName(s.Names, name) {
			continue
		}
		for _, c := range s.Args {
			if c.Index <= 5 {
				vals[c.Index] = append(vals[c.Index], c.Value)
				if masked(c) {
					vals[c.Index] = append(vals[c.Index], c.ValueTwo)
					hasMasked[c.Index] = true
				}
			}
		}
	}
	var out [][6]uint64
	for idx, vs := range vals {
		if len(vs) < 2 {
			continue
		}
		his := uniqueWords([]uint64{0, 0xffffffff}, vs, func(v uint64) uint64 { return v >> 32 })
		var all []uint64 // every distinct low word of interest, when needed
		for _, hi := range his {
			if ex != nil && !hasMasked[idx] {
				var start []uint32
				for _, v := range vs {
					if v>>32 == hi {
						start = append(start, uint32(v))
					}
				}
				if los, ok := ex.lowWords(idx, uint32(hi), start); ok {
					for _, lo := range los {
						var a [6]uint64
						a[idx] = hi<<32 | uint64(lo)
						out = append(out, a)
					}
					continue
				}
			}
			if all == nil {
				all = uniqueWords(nil, vs, func(v uint64) uint64 { return v })
			}
			for _, lo := range all {
				var a [6]uint64
				a[idx] = hi<<32 | lo
				out = append(out, a)
			}
		}
	}
	return out
}

// uniqueWords returns the distinct 32-bit words in fixed followed by
// word(v), word(v)+1 and word(v)-1 for each v, in first-seen order.
func uniqueWords(fixed, vs []uint64, word func(uint64) uint64) []uint64 {
	seen := map[uint64]bool{}
	var out []uint64
	add := func(w uint64) {
		w &= 0xffffffff
		if !seen[w] {
			seen[w] = true
			out = append(out, w)
		}
	}
	for _, w := range fixed {
		add(w)
	}
	for _, v := range vs {
		w := word(v)
		add(w)
		add(w + 1)
		add(w - 1)
	}
	return out
}

func satisfying(c specs.LinuxSeccompArg) uint64 {
	switch c.Op {
	case specs.OpNotEqual:
		return c.Value ^ 1
	case specs.OpLessThan:
		return c.Value - 1
	case specs.OpGreaterThan:
		return c.Value + 1
	case specs.OpMaskedEqual:
		return c.ValueTwo
	}
	return c.Value
}

func boundary(c specs.LinuxSeccompArg, narrow bool) []uint64 {
	v := c.Value
	vals := []uint64{v, v - 1, v + 1, 0, ^uint64(0)}
	if c.Op == specs.OpMaskedEqual {
		vals = append(vals, c.ValueTwo, c.ValueTwo^c.Value, c.ValueTwo|^c.Value, c.ValueTwo^(c.Value&-c.Value))
	}
	if !narrow {
		// Same low word, different high word: catches a filter that
		// compares only half of a 64-bit argument.
		n := len(vals)
		for _, x := range vals[:n] {
			vals = append(vals, x^(1<<32), x^(1<<63))
		}
	}
	return vals
}
