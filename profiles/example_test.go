package profiles_test

import (
	"fmt"
	"os"

	"github.com/sysward/sysward/profiles"
)

// A profile learned for a workload: deny by default (EPERM), allow what was seen.
func ExampleNew() {
	p := profiles.New(profiles.ActErrno, profiles.ArchX86_64)
	p.Allow("write", "read", "exit_group")
	if err := p.Validate(); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(p.AllowedSyscalls(profiles.ArchX86_64))
	fmt.Println(p.Decide(profiles.ArchX86_64, "ptrace").Action)
	// Output:
	// [exit_group read write]
	// SCMP_ACT_ERRNO
}

func ExampleParse() {
	_, err := profiles.Parse("web.json", []byte(`{
  "defaultAction": "SCMP_ACT_ERRNO",
  "syscalls": [{"names": ["read", "wirte"], "action": "SCMP_ACT_ALLOW"}]
}`))
	fmt.Println(err)
	// Output:
	// web.json:3:35: syscalls[0].names[1]: unknown syscall "wirte" (not a syscall on SCMP_ARCH_AARCH64, SCMP_ARCH_ARM, SCMP_ARCH_X32, SCMP_ARCH_X86, SCMP_ARCH_X86_64; did you mean "write"?)
}

func ExampleProfile_Write() {
	p := profiles.New(profiles.ActKillProcess)
	p.Allow("exit_group", "write")
	p.Write(os.Stdout)
	// Output:
	// {
	//   "defaultAction": "SCMP_ACT_KILL_PROCESS",
	//   "syscalls": [
	//     {
	//       "names": [
	//         "exit_group",
	//         "write"
	//       ],
	//       "action": "SCMP_ACT_ALLOW"
	//     }
	//   ]
	// }
}
