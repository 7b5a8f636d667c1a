// Package elfhints tells which syscalls a program can make, read from its
// ELF binary before it runs: the "static hints" that `sysward learn` adds to
// a learned profile for what the learning session did not happen to
// exercise (a directory listing, an fsync, a child process).
//
// Read parses one binary with debug/elf: a dynamically linked one gives its
// DT_NEEDED libraries and its imported symbols with their versions
// ("fsync" version GLIBC_2.2.5 from libc.so.6); a Go binary gives the
// syscall wrappers the linker kept (syscall.Fsync, golang.org/x/sys/unix.*,
// internal/syscall/unix.*), read from .gopclntab, which survives -s -w; a
// statically linked C binary (busybox) gives nothing, and Hints says so.
// With Options.Libraries the binary's direct DT_NEEDED libraries are read
// too (libsqlite3 holds the calls of the sqlite3 shell), not theirs.
//
// Hints maps what Read found to syscalls: glibc imports through the libc
// table (one row per function, written from glibc 2.36 on x86_64 and held
// to it by a test that straces each function on this machine; see
// libcTable), Go wrappers by name plus the Go runtime's own calls. Imports
// that are not glibc's (musl) and raw entry points (syscall(), Go's
// syscall.Syscall) cannot be mapped: Hints returns a note for each.
//
// This package decides nothing about a profile: the caller (profiler's
// learning session) chooses which hints to allow and which are dangerous.
// It imports profiles only for the syscall name table; profiles must not
// import it.
//
// # Bounds and errors
//
// Read refuses what is not a regular file (a FIFO is opened O_NONBLOCK, so
// it cannot block), files over MaxFileSize, and anything that is not
// x86_64 ELF (ErrNotELF). A panic inside debug/elf on crafted input is
// returned as ErrNotELF. With Options.Root (a container's root
// filesystem) every path, symlinks included, stays inside that root
// (os.Root). Errors name the file. Nothing here holds resources after Read
// returns, and everything is safe for concurrent use.
package elfhints
