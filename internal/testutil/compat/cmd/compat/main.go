// Command compat makes the calls named by its arguments, in order, from a
// 64-bit binary and prints each result: "x32" (getpid through the x32 ABI)
// and "ia32" (getppid through int $0x80). A call the kernel refuses ends
// the process with the kernel's signal (SIGSEGV when IA-32 emulation is
// off, SIGSYS for a seccomp kill), not with a Go panic. With
// SYSWARD_TEST_IA32=off it refuses ia32 calls itself first
// (compat.SimulateIfRequested).
package main

import (
	"fmt"
	"os"

	"github.com/sysward/sysward/internal/testutil/compat"
)

func main() {
	if err := compat.SimulateIfRequested(); err != nil {
		fmt.Fprintln(os.Stderr, "compat:", err)
		os.Exit(3)
	}
	compat.DefaultFaultSignals()
	for _, a := range os.Args[1:] {
		switch a {
		case "x32":
			r, e := compat.X32(compat.X32Getpid)
			fmt.Printf("x32 getpid = %d errno %d\n", int64(r), int(e))
		case "ia32":
			r := compat.Int80(compat.IA32Getppid)
			fmt.Printf("ia32 getppid = %d\n", r)
		default:
			fmt.Fprintf(os.Stderr, "compat: unknown call %q (want x32 or ia32)\n", a)
			os.Exit(2)
		}
	}
}
