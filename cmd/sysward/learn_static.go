package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/sysward/sysward/profiler"
)

// printStatic says what static hints read, added, left out as dangerous,
// and could not do. nil (--static off) prints nothing.
func printStatic(w io.Writer, r *profiler.StaticReport) {
	if r == nil {
		return
	}
	var bins []string
	for _, b := range r.Binaries {
		bins = append(bins, fmt.Sprintf("%s (%s)", b.Path, b.Kind))
	}
	fmt.Fprintf(w, "sysward learn: static hints (%s) read %d binaries: %s\n", r.Mode, len(bins), strings.Join(bins, ", "))
	fmt.Fprintf(w, "sysward learn: static hints added %d syscalls the session did not make: %s\n", len(r.Added), strings.Join(r.Added, " "))
	if len(r.Reachable) > 0 {
		fmt.Fprintf(w, "sysward learn: reachable, not allowed (dangerous; see sysward.reachable in the profile): %s\n", strings.Join(r.Reachable, " "))
	}
	for _, n := range r.Notes {
		fmt.Fprintf(w, "sysward learn: static hints: %s\n", n)
	}
}
