package watch_test

import (
	"fmt"

	"github.com/sysward/sysward/internal/watch"
)

// The embedded rules load with the detector's Falco loader; a local file
// given after them can append, override or disable.
func ExampleLoadRules() {
	rs, err := watch.LoadRules(false)
	if err != nil {
		panic(err)
	}
	for _, r := range rs.Rules {
		fmt.Printf("%-40s %s\n", r.Name, r.Priority)
	}
	// Output:
	// Syscall outside profile denied           Critical
	// Syscall outside profile would be denied  Warning
	// Syscall outside profile                  Warning
	// Workload killed by seccomp               Critical
	// Shell spawned in workload                Notice
	// Terminal shell in workload               Notice
	// Package manager launched in workload     Error
	// Network tool launched in workload        Notice
}
