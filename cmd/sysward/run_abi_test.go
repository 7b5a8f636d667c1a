package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sysward/sysward/internal/testutil"
	"github.com/sysward/sysward/profiles"
)

// TestRunComplainOtherABIs: `sysward run --mode complain` under a profile
// that lists only x86_64 lets a Go binary's x32 call and (where this
// kernel's probe says ia32 works) its int $0x80 call run, and the command's
// status is its own (issue 13 item 12: they were killed and the command
// hung). enforcer's TestLaunchComplainEveryABI also checks the kernel's LOG
// records.
func TestRunComplainOtherABIs(t *testing.T) {
	testutil.Require(t, testutil.Root, testutil.Binary("go"))
	ia32, x32 := testutil.ProbeIA32(t), testutil.ProbeX32(t)
	t.Logf("this kernel: %v; %v", ia32, x32)
	if x32.State == testutil.ABIRefused {
		t.Fatalf("x32 refused by the kernel (%v): nothing to test", x32)
	}
	bin := testutil.BuildCompat(t)
	// Default ALLOW: the only LOG records are the two calls (the kernel
	// log is shared and rate-limited).
	p := profiles.New(profiles.ActAllow, profiles.ArchX86_64)
	eperm := uint(1)
	p.AddRule(profiles.ActErrno, &eperm, "mount")
	path := filepath.Join(t.TempDir(), "native-only.json")
	if err := profiles.SaveFile(path, p); err != nil {
		t.Fatal(err)
	}
	args := []string{"run", "--profile", path, "--mode", "complain", "--", bin, "x32"}
	want := []string{"x32 getpid = "}
	if ia32.State != testutil.ABIRefused {
		args = append(args, "ia32")
		want = append(want, "ia32 getppid = ")
	}
	raw, _ := json.Marshal(args)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), cliArgsEnv+"="+string(raw), "LC_ALL=C")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// A guard, not a timing: the bug left the command running forever.
	hung := time.AfterFunc(2*time.Minute, func() { cmd.Process.Kill() })
	err := cmd.Wait()
	if !hung.Stop() {
		t.Fatalf("sysward %s did not end within 2 minutes (killed); output %q", strings.Join(args, " "), out.String())
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		ws, _ := ee.Sys().(syscall.WaitStatus)
		t.Fatalf("sysward %s: %v (signal %v); output %q", strings.Join(args, " "), err, ws.Signal(), out.String())
	} else if err != nil {
		t.Fatal(err)
	}
	for _, w := range want {
		if !strings.Contains(out.String(), w) {
			t.Errorf("output %q lacks %q", out.String(), w)
		}
	}
}
