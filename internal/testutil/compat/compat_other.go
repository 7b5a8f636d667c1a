//go:build !amd64

package compat

import "syscall"

// Supported reports whether this build can make ia32 and x32 calls.
const Supported = false

// Int80 is only available on amd64.
func Int80(nr uintptr) int64 { panic("compat: ia32 calls need amd64") }

// X32 is only available on amd64.
func X32(nr uintptr) (uintptr, syscall.Errno) { panic("compat: x32 calls need amd64") }

// DefaultFaultSignals does nothing off amd64.
func DefaultFaultSignals() {}

// SimulateIfRequested does nothing off amd64.
func SimulateIfRequested() error { return nil }
