// Package testutil gates privileged tests. There is one gate, Require: it
// names what is missing and skips the test on a developer machine, but fails
// it when CI=true, because CI runs as root on a kernel that has everything
// sysward needs, so a skip there hides a broken test or install step.
package testutil

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/sysward/sysward/internal/cgroups"
)

// Requirement checks one precondition and says what is missing.
type Requirement func() error

// Require runs every requirement; if any fails it skips t (or fails it under CI=true)
// with a message naming everything that is missing.
func Require(t testing.TB, reqs ...Requirement) {
	t.Helper()
	var missing []string
	for _, r := range reqs {
		if err := r(); err != nil {
			missing = append(missing, err.Error())
		}
	}
	if len(missing) == 0 {
		return
	}
	msg := "missing: " + strings.Join(missing, "; ")
	if InCI() {
		t.Fatalf("%s (CI=true: privileged tests must run, fix the machine or `make deps`)", msg)
	}
	t.Skip(msg)
}

// InCI reports whether CI=true is set.
func InCI() bool { return os.Getenv("CI") == "true" }

// Root requires euid 0.
func Root() error {
	if os.Geteuid() != 0 {
		return errors.New("root (euid 0)")
	}
	return nil
}

// BTF requires kernel BTF at /sys/kernel/btf/vmlinux.
func BTF() error {
	if _, err := os.Stat("/sys/kernel/btf/vmlinux"); err != nil {
		return errors.New("kernel BTF (/sys/kernel/btf/vmlinux)")
	}
	return nil
}

// Cgroup2 requires a mounted cgroup2 hierarchy.
func Cgroup2() error {
	if _, err := cgroups.Mountpoint(); err != nil {
		return fmt.Errorf("cgroup2 mount: %v", err)
	}
	return nil
}

// Binary requires an executable on PATH.
func Binary(name string) Requirement {
	return func() error {
		if _, err := exec.LookPath(name); err != nil {
			return fmt.Errorf("%s on PATH", name)
		}
		return nil
	}
}

// File requires a path to exist.
func File(path string) Requirement {
	return func() error {
		if _, err := os.Stat(path); err != nil {
			return fmt.Errorf("file %s", path)
		}
		return nil
	}
}
