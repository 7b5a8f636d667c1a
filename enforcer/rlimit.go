package enforcer

/*
#include <sys/resource.h>

static struct rlimit sysward_nofile;
static int sysward_nofile_ok;

// Runs from .init_array before the Go runtime starts, so it sees the
// RLIMIT_NOFILE the process was started with, before Go's syscall package
// raises the soft limit (Go ≥ 1.19, go.dev/issue/46279).
__attribute__((constructor)) static void sysward_save_nofile(void) {
	sysward_nofile_ok = getrlimit(RLIMIT_NOFILE, &sysward_nofile) == 0;
}

static int sysward_get_nofile(unsigned long long *cur, unsigned long long *max) {
	*cur = sysward_nofile.rlim_cur;
	*max = sysward_nofile.rlim_max;
	return sysward_nofile_ok;
}
*/
import "C"

import "golang.org/x/sys/unix"

// startNofile returns RLIMIT_NOFILE as it was when the process started.
func startNofile() (unix.Rlimit, bool) {
	var cur, max C.ulonglong
	if C.sysward_get_nofile(&cur, &max) == 0 {
		return unix.Rlimit{}, false
	}
	return unix.Rlimit{Cur: uint64(cur), Max: uint64(max)}, true
}

// restoreNofile puts back the soft RLIMIT_NOFILE the process started with
// (Go raised it at start-up), which is what syscall.Exec and os/exec do for
// a child. Called before the filter, so no prlimit64 is needed under it.
func restoreNofile() {
	orig, ok := startNofile()
	if !ok {
		return
	}
	var now unix.Rlimit
	if unix.Getrlimit(unix.RLIMIT_NOFILE, &now) != nil || now.Max != orig.Max || now.Cur == orig.Cur {
		return // changed by someone else since: leave it
	}
	_ = unix.Setrlimit(unix.RLIMIT_NOFILE, &orig)
}
