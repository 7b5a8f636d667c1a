// Command threads makes one distinctive syscall on each of several OS
// threads, to show that a learning session covers every thread.
package main

import (
	"fmt"
	"os"
	"runtime"
	"sync"
	"syscall"
)

func main() {
	// getcpu, sysinfo, times, getrusage, getitimer: none is made by the Go
	// runtime itself.
	nrs := []uintptr{309, 99, 100, 98, 36}
	var wg sync.WaitGroup
	tids := make([]int, len(nrs))
	for i, nr := range nrs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runtime.LockOSThread() // keep the thread: it exits with the goroutine
			tids[i] = syscall.Gettid()
			syscall.RawSyscall(nr, 0, 0, 0) // NULL buffers: EFAULT, still a syscall
		}()
	}
	wg.Wait()
	seen := map[int]bool{}
	for _, t := range tids {
		seen[t] = true
	}
	if len(seen) != len(nrs) {
		fmt.Fprintf(os.Stderr, "threads: only %d distinct threads\n", len(seen))
		os.Exit(1)
	}
	fmt.Println(len(seen), "threads")
}
