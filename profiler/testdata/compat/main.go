// Command compat makes an ia32 syscall (int $0x80) and an x32 one (the
// 64-bit entry with __X32_SYSCALL_BIT) from a 64-bit binary, to show the
// profiler keeps architectures apart.
package main

func int80(nr uintptr) uintptr
func syscallX32(nr uintptr) uintptr

func main() {
	int80(64)                   // ia32 getppid
	syscallX32(0x40000000 | 39) // x32 getpid (ENOSYS without CONFIG_X86_X32_ABI; sys_enter still fires)
}
