package enforcer

import (
	"fmt"

	"golang.org/x/net/bpf"

	"github.com/sysward/sysward/profiles"
)

// CacheEligible reports whether the program returns SECCOMP_RET_ALLOW for
// syscall nr on the audit architecture token while reading nothing but
// seccomp_data.nr and .arch: the test the kernel applies (kernel/seccomp.c
// seccomp_is_const_allow, Linux ≥ 5.11) before it marks the syscall in its
// per-filter allow bitmap, so later calls skip running the filter. It is an
// abstract interpretation with the arguments and ip unknown: a load of any
// other offset, an instruction the kernel's emulator does not handle (X
// register, scratch memory, ALU other than AND), or a return other than
// ALLOW makes the answer false, with the reason.
func CacheEligible(ins []bpf.Instruction, token uint32, nr int) (bool, string) {
	var a uint32
	for pc := 0; pc < len(ins); pc++ {
		switch in := ins[pc].(type) {
		case bpf.LoadAbsolute:
			switch in.Off {
			case offNr:
				a = uint32(nr)
			case offArch:
				a = token
			default:
				return false, fmt.Sprintf("instruction %d reads seccomp_data offset %d (%s)", pc, in.Off, fieldName(in.Off))
			}
		case bpf.Jump:
			pc += int(in.Skip)
		case bpf.JumpIf:
			var t bool
			switch in.Cond {
			case bpf.JumpEqual:
				t = a == in.Val
			case bpf.JumpNotEqual:
				t = a != in.Val
			case bpf.JumpGreaterOrEqual:
				t = a >= in.Val
			case bpf.JumpGreaterThan:
				t = a > in.Val
			case bpf.JumpLessThan:
				t = a < in.Val
			case bpf.JumpLessOrEqual:
				t = a <= in.Val
			case bpf.JumpBitsSet:
				t = a&in.Val != 0
			case bpf.JumpBitsNotSet:
				t = a&in.Val == 0
			default:
				return false, fmt.Sprintf("instruction %d: jump condition %v", pc, in.Cond)
			}
			if t {
				pc += int(in.SkipTrue)
			} else {
				pc += int(in.SkipFalse)
			}
		case bpf.ALUOpConstant:
			if in.Op != bpf.ALUOpAnd {
				return false, fmt.Sprintf("instruction %d: %v is outside the kernel's cache emulator", pc, in)
			}
			a &= in.Val
		case bpf.RetConstant:
			if in.Val == RetAllow {
				return true, ""
			}
			return false, fmt.Sprintf("instruction %d returns %s", pc, RetString(in.Val))
		default:
			return false, fmt.Sprintf("instruction %d: %v is outside the kernel's cache emulator", pc, in)
		}
	}
	return false, "fell off the end of the program"
}

func fieldName(off uint32) string {
	switch {
	case off == offNr:
		return "nr"
	case off == offArch:
		return "arch"
	case off < offArgs:
		return "instruction_pointer"
	case off < seccompLen:
		return fmt.Sprintf("args[%d]", (off-offArgs)/8)
	}
	return "out of range"
}

// cacheCheck runs CacheEligible for every syscall on arch that p allows
// with no argument conditions. x32 is skipped: the kernel caches only the
// native and compat architectures' tables, and x32 numbers are beyond them.
func cacheCheck(p *profiles.Profile, f *Filter, arch profiles.Arch, token uint32) (misses []CacheMiss, cached int, err error) {
	if arch == profiles.ArchX32 {
		return nil, 0, nil
	}
	o := newOracle(p, f)
	for _, name := range profiles.Syscalls(arch) {
		nr, _ := profiles.SyscallNumber(arch, name)
		if o.expect(arch, nr, [6]uint64{}) != RetAllow || hasConditions(p, name) {
			continue
		}
		ok, why := CacheEligible(f.Instructions, token, nr)
		if ok {
			cached++
			continue
		}
		misses = append(misses, CacheMiss{Arch: arch, Nr: nr, Name: name, Reason: why})
	}
	return misses, cached, nil
}

// hasConditions reports whether an argument-conditioned entry names name
// (and no unconditional one overrides it).
func hasConditions(p *profiles.Profile, name string) bool {
	cond := false
	for _, s := range p.Syscalls {
		if !containsName(s.Names, name) {
			continue
		}
		if len(s.Args) == 0 {
			return false
		}
		cond = true
	}
	return cond
}
