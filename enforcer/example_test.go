package enforcer_test

import (
	"fmt"

	"github.com/sysward/sysward/enforcer"
	"github.com/sysward/sysward/profiles"
)

// Compile a small allowlist and check the program in userspace.
func ExampleVerify() {
	p := profiles.New(profiles.ActErrno, profiles.ArchX86_64)
	p.Allow("read", "write", "exit_group", "execve")
	f, err := enforcer.Compile(p, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	r, err := enforcer.Verify(f.Profile, f, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("mismatches:", len(r.Mismatches), "cacheable:", r.Cacheable, "error:", r.Err())
	// Output: mismatches: 0 cacheable: 4 error: <nil>
}

// A typo is bad input, naming the field.
func ExampleCompile_unknownSyscall() {
	p := profiles.New(profiles.ActErrno)
	p.Allow("getpdi")
	_, err := enforcer.Compile(p, nil)
	fmt.Println(enforcer.IsBadInput(err))
	fmt.Println(err)
	// Output:
	// true
	// profile: syscalls[0].names[0]: unknown syscall "getpdi" (libseccomp does not know it on any architecture)
}
