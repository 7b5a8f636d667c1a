package elfhints_test

import (
	"fmt"
	"log"

	"github.com/sysward/sysward/elfhints"
)

// What /usr/bin/cat can make, from its glibc imports, and why.
func ExampleHints() {
	b, err := elfhints.Read("/usr/bin/cat", nil)
	if err != nil {
		log.Fatal(err)
	}
	hints, notes := elfhints.Hints(b)
	for _, h := range hints {
		fmt.Printf("%s via %s (%s)\n", h.Syscall, h.Function, h.Source())
	}
	for _, n := range notes {
		fmt.Println("note:", n)
	}
}

// The libc table's row for one function.
func ExampleLibcFunction() {
	calls, ok := elfhints.LibcFunction("readdir64")
	fmt.Println(calls, ok)
	// Output: [getdents64] true
}
