//go:build sysward_gendocs

package main

import (
	"fmt"
	"os"
)

// Built only by clidocs.go's //go:generate line (`make generate`): writes the
// CLI reference to the two paths given and exits before main runs.
func init() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: go run -tags sysward_gendocs . CLI.md MANPAGE")
		os.Exit(2)
	}
	if err := writeCLIDocs(os.Args[1], os.Args[2]); err != nil {
		fmt.Fprintf(os.Stderr, "sysward gendocs: %v\n", err)
		os.Exit(1)
	}
	os.Exit(0)
}
