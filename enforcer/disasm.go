package enforcer

import (
	"fmt"
	"io"
	"strings"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// Disassemble writes the program one instruction a line: index, the
// instruction in x/net/bpf's assembler syntax with jump offsets resolved to
// absolute targets, and a comment naming what seccomp gives it meaning
// (the seccomp_data field loaded, the audit architecture or action).
func Disassemble(w io.Writer, ins []bpf.Instruction) error {
	for i, in := range ins {
		text, note := disasmOne(i, in)
		line := fmt.Sprintf("%4d: %s", i, text)
		if note != "" {
			line = fmt.Sprintf("%-44s ; %s", line, note)
		}
		if _, err := fmt.Fprintln(w, line); err != nil {
			return err
		}
	}
	return nil
}

// DisassembleString is Disassemble into a string.
func DisassembleString(ins []bpf.Instruction) string {
	var b strings.Builder
	_ = Disassemble(&b, ins)
	return b.String()
}

func disasmOne(pc int, in bpf.Instruction) (string, string) {
	switch in := in.(type) {
	case bpf.LoadAbsolute:
		return fmt.Sprintf("ld [%d]", in.Off), fieldName(in.Off)
	case bpf.JumpIf:
		jt, jf := pc+1+int(in.SkipTrue), pc+1+int(in.SkipFalse)
		return fmt.Sprintf("%s #%#x jt %d jf %d", condName(in.Cond), in.Val, jt, jf), archName(in.Val)
	case bpf.Jump:
		return fmt.Sprintf("ja %d", pc+1+int(in.Skip)), ""
	case bpf.RetConstant:
		return fmt.Sprintf("ret #%#x", in.Val), RetString(in.Val)
	}
	return fmt.Sprint(in), ""
}

func condName(c bpf.JumpTest) string {
	switch c {
	case bpf.JumpEqual:
		return "jeq"
	case bpf.JumpNotEqual:
		return "jne"
	case bpf.JumpGreaterThan:
		return "jgt"
	case bpf.JumpLessThan:
		return "jlt"
	case bpf.JumpGreaterOrEqual:
		return "jge"
	case bpf.JumpLessOrEqual:
		return "jle"
	case bpf.JumpBitsSet:
		return "jset"
	case bpf.JumpBitsNotSet:
		return "jnset"
	}
	return fmt.Sprintf("j?%d", c)
}

// archName names v when it is an audit architecture token (a guess from the
// value alone: the comment is for humans).
func archName(v uint32) string {
	switch v {
	case unix.AUDIT_ARCH_X86_64:
		return "AUDIT_ARCH_X86_64"
	case unix.AUDIT_ARCH_I386:
		return "AUDIT_ARCH_I386"
	case unix.AUDIT_ARCH_AARCH64:
		return "AUDIT_ARCH_AARCH64"
	case unix.AUDIT_ARCH_ARM:
		return "AUDIT_ARCH_ARM"
	case x32SyscallBit:
		return "__X32_SYSCALL_BIT"
	}
	return ""
}
