// Command goprog is a static Go binary for the ELF reader's tests: it links
// syscall.Fsync (through os.File.Sync) and syscall.Getdents (os.ReadDir).
package main

import (
	"fmt"
	"os"
)

func main() {
	if len(os.Args) > 1 {
		f, err := os.Create(os.Args[1])
		if err == nil {
			f.Sync()
			f.Close()
		}
		ents, _ := os.ReadDir("/")
		fmt.Println(len(ents))
	}
}
