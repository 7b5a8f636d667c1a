// Package procinfo enriches kernel events with what /proc knows about the
// process that caused them: executable, command line, parent and ancestors,
// user (named through the host's or the container's /etc/passwd), login uid,
// controlling terminal, working directory, and the container the process runs
// in, recognised from its cgroup2 path.
//
// # Lifetimes and threading
//
// A Reader is safe for concurrent use and needs no Close: it holds only an
// in-memory cache. Processes are read at event time and cached per pid. A
// cached entry is dropped by Invalidate (call it on exec: the command line
// and executable change) and Forget (call it on exit), and revalidated after
// Options.Revalidate by comparing the process start time, so a recycled pid
// is never reported with a dead process's details. Note records what an
// event source said about a process (parent, name, executable, ids): events
// are read milliseconds after they happen and short commands are gone by
// then, so a partial answer still carries a name and the parent's ancestry,
// container and user database. The *Process values a Reader returns are
// shared and must not be modified.
//
// # Errors
//
// A process that exited before it could be read is not a failure of the
// caller's: Get returns a partial Process (Exited set, only what is known)
// together with an error wrapping ErrExited, and the caller decides whether
// the partial answer is good enough (the watch loop fills in the kernel's
// comm and carries on). ParseCgroupPath and ParsePasswd are pure functions
// over strings; they never fail on odd input, they only recognise less.
package procinfo
