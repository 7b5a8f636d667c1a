package enforcer

import (
	"sort"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/net/bpf"
)

// explorer finds the low-word values worth trying for one syscall's
// argument once its high word is fixed, by following the program.
//
// The verifier used to try every high word of interest × every low word of
// interest of one argument (wordMixes): with n condition values whose high
// words differ that is 9n² vectors, each costing a program run and an
// oracle call of O(n), so 1000 such entries took minutes. With the high
// word h (and the other arguments) fixed, the program's path depends on the
// low word only through comparisons of that word with constants
// (jeq/jgt/jge K on the loaded word); explore collects those constants from
// the paths actually taken, adds K-1, K, K+1 and follows the new points
// until no new constant appears. Every interval between neighbouring
// constants then holds a tried point, and all its points take the same
// path, so the program is checked for every low word, not only the
// listed ones. The oracle's own breakpoints for h (the low words of
// conditions whose high word is h; others are decided by the high word)
// are tried from the start. Anything outside that model — the word used in
// arithmetic or a bit test before a jump (libseccomp's SCMP_CMP_MASKED_EQ),
// a masked condition in the profile, an instruction the tracer does not
// know — makes explore give up for that h, and the caller falls back to the
// full product for it.
type explorer struct {
	ins   []bpf.Instruction
	prog  *Program
	nr    int32
	token uint32
}

// taint of a register: independent of the explored word, the word itself,
// or derived from it.
type taint uint8

const (
	clean taint = iota
	raw
	derived
)

// trace runs the program on d and returns its verdict and the constants the
// explored low word (argument idx) was compared with; ok is false if the
// word was used in a way trace does not model.
func (e *explorer) trace(d SeccompData, idx int) (ret uint32, consts []uint32, ok bool) {
	in := d.vmInput()
	word := func(off uint32) uint32 {
		return uint32(in[off])<<24 | uint32(in[off+1])<<16 | uint32(in[off+2])<<8 | uint32(in[off+3])
	}
	loOff := uint32(offArgs + 8*idx)
	var a, x uint32
	var ta, tx taint
	var mem [16]uint32
	var tm [16]taint
	for pc := 0; pc < len(e.ins); pc++ {
		switch in := e.ins[pc].(type) {
		case bpf.LoadAbsolute:
			if in.Size != 4 || in.Off+4 > seccompLen {
				return 0, nil, false
			}
			a, ta = word(in.Off), clean
			if in.Off == loOff {
				ta = raw
			}
		case bpf.LoadConstant:
			if in.Dst == bpf.RegA {
				a, ta = in.Val, clean
			} else {
				x, tx = in.Val, clean
			}
		case bpf.LoadScratch:
			if in.N < 0 || in.N >= 16 {
				return 0, nil, false
			}
			if in.Dst == bpf.RegA {
				a, ta = mem[in.N], tm[in.N]
			} else {
				x, tx = mem[in.N], tm[in.N]
			}
		case bpf.StoreScratch:
			if in.N < 0 || in.N >= 16 {
				return 0, nil, false
			}
			if in.Src == bpf.RegA {
				mem[in.N], tm[in.N] = a, ta
			} else {
				mem[in.N], tm[in.N] = x, tx
			}
		case bpf.TAX:
			x, tx = a, ta
		case bpf.TXA:
			a, ta = x, tx
		case bpf.ALUOpConstant:
			a = aluOp(in.Op, a, in.Val)
			if ta != clean {
				ta = derived
			}
		case bpf.ALUOpX:
			a = aluOp(in.Op, a, x)
			if ta != clean || tx != clean {
				ta = derived
			}
		case bpf.NegateA:
			a = -a
			if ta != clean {
				ta = derived
			}
		case bpf.Jump:
			pc += int(in.Skip)
		case bpf.JumpIf:
			switch {
			case ta == derived:
				return 0, nil, false
			case ta == raw:
				switch in.Cond {
				case bpf.JumpEqual, bpf.JumpNotEqual, bpf.JumpGreaterThan, bpf.JumpGreaterOrEqual, bpf.JumpLessThan, bpf.JumpLessOrEqual:
					consts = append(consts, in.Val)
				default:
					return 0, nil, false
				}
			}
			t, known := jumpTaken(in.Cond, a, in.Val)
			if !known {
				return 0, nil, false
			}
			if t {
				pc += int(in.SkipTrue)
			} else {
				pc += int(in.SkipFalse)
			}
		case bpf.JumpIfX:
			if ta != clean || tx != clean {
				return 0, nil, false
			}
			t, known := jumpTaken(in.Cond, a, x)
			if !known {
				return 0, nil, false
			}
			if t {
				pc += int(in.SkipTrue)
			} else {
				pc += int(in.SkipFalse)
			}
		case bpf.RetConstant:
			return in.Val, consts, true
		case bpf.RetA:
			if ta != clean {
				return 0, nil, false
			}
			return a, consts, true
		default:
			return 0, nil, false
		}
	}
	return 0, nil, false
}

func aluOp(op bpf.ALUOp, a, v uint32) uint32 {
	switch op {
	case bpf.ALUOpAdd:
		return a + v
	case bpf.ALUOpSub:
		return a - v
	case bpf.ALUOpMul:
		return a * v
	case bpf.ALUOpDiv:
		if v == 0 {
			return 0
		}
		return a / v
	case bpf.ALUOpMod:
		if v == 0 {
			return 0
		}
		return a % v
	case bpf.ALUOpOr:
		return a | v
	case bpf.ALUOpAnd:
		return a & v
	case bpf.ALUOpShiftLeft:
		return a << (v & 31)
	case bpf.ALUOpShiftRight:
		return a >> (v & 31)
	case bpf.ALUOpXor:
		return a ^ v
	}
	return a
}

func jumpTaken(c bpf.JumpTest, a, v uint32) (taken, ok bool) {
	switch c {
	case bpf.JumpEqual:
		return a == v, true
	case bpf.JumpNotEqual:
		return a != v, true
	case bpf.JumpGreaterThan:
		return a > v, true
	case bpf.JumpLessThan:
		return a < v, true
	case bpf.JumpGreaterOrEqual:
		return a >= v, true
	case bpf.JumpLessOrEqual:
		return a <= v, true
	case bpf.JumpBitsSet:
		return a&v != 0, true
	case bpf.JumpBitsNotSet:
		return a&v == 0, true
	}
	return false, false
}

// lowWords returns the low words to try for argument idx when its high
// word is hi (the other arguments zero): start (the oracle's breakpoints),
// closed under the constants the program compares the word with. ok is
// false when the program does not fit the model (see explorer), or the
// tracer and the VM disagree (a tracer bug): the caller then tries the
// full product, so a wrong tracer can never make the check weaker.
func (e *explorer) lowWords(idx int, hi uint32, start []uint32) (los []uint32, ok bool) {
	seen := map[uint32]bool{}
	var queue []uint32
	add := func(w uint32) {
		for _, v := range []uint32{w - 1, w, w + 1} {
			if !seen[v] {
				seen[v] = true
				queue = append(queue, v)
			}
		}
	}
	add(0)
	add(0xffffffff)
	for _, w := range start {
		add(w)
	}
	for len(queue) > 0 {
		lo := queue[0]
		queue = queue[1:]
		var args [6]uint64
		args[idx] = uint64(hi)<<32 | uint64(lo)
		d := SeccompData{Nr: e.nr, Arch: e.token, Args: args}
		ret, consts, ok := e.trace(d, idx)
		if !ok {
			return nil, false
		}
		if vm, err := e.prog.Run(d); err != nil || vm != ret {
			return nil, false
		}
		for _, k := range consts {
			add(k)
		}
		los = append(los, lo)
	}
	sort.Slice(los, func(i, j int) bool { return los[i] < los[j] })
	return los, true
}

// masked reports whether a condition is SCMP_CMP_MASKED_EQ (not an
// interval test of the word, so explore does not model it).
func masked(c specs.LinuxSeccompArg) bool { return c.Op == specs.OpMaskedEqual }
