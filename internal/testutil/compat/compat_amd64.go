package compat

import (
	"fmt"
	"os"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Supported reports whether this build can make ia32 and x32 calls.
const Supported = true

// Int80 makes ia32 system call nr with int $0x80 and returns the raw
// result (a negative errno on failure). If the kernel refuses the ABI the
// process gets a signal (SIGSEGV without IA-32 emulation); call
// DefaultFaultSignals first so that signal ends the process like a C
// program's, instead of becoming a Go panic.
func Int80(nr uintptr) int64 { return int64(int32(int80(nr))) }

func int80(nr uintptr) uintptr

// X32 makes x32 system call nr (which must carry X32SyscallBit) with no
// arguments, returning the result and the errno.
func X32(nr uintptr) (uintptr, syscall.Errno) {
	r, _, e := syscall.RawSyscall(nr, 0, 0, 0)
	return r, e
}

// DefaultFaultSignals resets SIGSEGV, SIGBUS and SIGILL to SIG_DFL with a
// raw rt_sigaction, behind the Go runtime's back: a fault then kills the
// process with that signal (as the kernel meant it) instead of turning
// into a panic and exit status 2. Only for processes that end right after
// the call that may fault.
func DefaultFaultSignals() {
	var act [4]uint64 // struct sigaction (kernel): handler, flags, restorer, mask; zero = SIG_DFL
	for _, sig := range []syscall.Signal{syscall.SIGSEGV, syscall.SIGBUS, syscall.SIGILL} {
		syscall.RawSyscall6(syscall.SYS_RT_SIGACTION, uintptr(sig), uintptr(unsafe.Pointer(&act)), 0, 8, 0, 0)
	}
}

// SimulateIfRequested installs, when SimulateIA32OffEnv is "off", a seccomp
// filter on every thread (TSYNC) that kills the process on any ia32 call
// and allows everything else.
func SimulateIfRequested() error {
	if os.Getenv(SimulateIA32OffEnv) != "off" {
		return nil
	}
	prog := []unix.SockFilter{
		{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: 4}, // seccomp_data.arch
		{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, Jt: 0, Jf: 1, K: unix.AUDIT_ARCH_I386},
		{Code: unix.BPF_RET | unix.BPF_K, K: unix.SECCOMP_RET_KILL_PROCESS},
		{Code: unix.BPF_RET | unix.BPF_K, K: unix.SECCOMP_RET_ALLOW},
	}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("%s=off: setting no_new_privs: %w", SimulateIA32OffEnv, err)
	}
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	if _, _, e := unix.RawSyscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, unix.SECCOMP_FILTER_FLAG_TSYNC, uintptr(unsafe.Pointer(&fprog))); e != 0 {
		return fmt.Errorf("%s=off: installing the ia32-refusing filter: %w", SimulateIA32OffEnv, e)
	}
	return nil
}
