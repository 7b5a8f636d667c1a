// Package compat makes the system calls an x86_64 process can make through
// the kernel's other ABIs: ia32 (int $0x80, 32-bit numbers) and x32 (the
// 64-bit entry with __X32_SYSCALL_BIT in the number). Tests use it (through
// testutil.ProbeIA32/ProbeX32 and the compat command) to learn what this
// kernel does with them: IA-32 emulation can be compiled out or switched
// off at boot (ia32_emulation=false; int $0x80 then raises SIGSEGV), x32
// is usually compiled out (CONFIG_X86_X32_ABI; the call then fails with
// ENOSYS but still reaches the sys_enter tracepoint).
package compat

// SimulateIA32OffEnv set to "off" makes SimulateIfRequested (called by the
// compat command and testutil's probe child) refuse ia32 calls the way a
// kernel without IA-32 emulation does: before the syscall path, with a
// fatal signal (SIGSYS from a seccomp kill instead of SIGSEGV).
const SimulateIA32OffEnv = "SYSWARD_TEST_IA32"

// X32SyscallBit is __X32_SYSCALL_BIT.
const X32SyscallBit = 0x40000000

// Syscall numbers used by the probes and the compat command.
const (
	IA32Getpid  = 20 // arch/x86/entry/syscalls/syscall_32.tbl
	IA32Getppid = 64
	X32Getpid   = X32SyscallBit | 39 // syscall_64.tbl, common
)
