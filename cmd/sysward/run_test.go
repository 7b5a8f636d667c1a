package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sysward/sysward/internal/inputfile"
	"github.com/sysward/sysward/internal/testutil"
	"github.com/sysward/sysward/profiles"
)

// cliArgsEnv makes the re-executed test binary behave as the sysward
// binary: `sysward run` replaces the process, so it is only tested in a
// child (and a real seccomp filter must never land on the test runner).
const cliArgsEnv = "SYSWARD_TEST_CLI_ARGS"

func init() {
	if raw := os.Getenv(cliArgsEnv); raw != "" {
		var args []string
		if err := json.Unmarshal([]byte(raw), &args); err != nil {
			os.Exit(99)
		}
		os.Exit(run(append([]string{"sysward"}, args...)))
	}
}

// sysward runs the CLI in a child and returns stdout, stderr and status.
func sysward(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	raw, _ := json.Marshal(args)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), cliArgsEnv+"="+string(raw), "LC_ALL=C")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Fatal(err)
		}
		code = ee.ExitCode()
	}
	return out.String(), errb.String(), code
}

const lsProfile = "../../enforcer/testdata/ls.json"

func profileWithout(t *testing.T, name string) string {
	t.Helper()
	p, err := inputfile.Profile(lsProfile)
	if err != nil {
		t.Fatal(err)
	}
	for i := range p.Syscalls {
		var keep []string
		for _, n := range p.Syscalls[i].Names {
			if n != name {
				keep = append(keep, n)
			}
		}
		p.Syscalls[i].Names = keep
	}
	path := filepath.Join(t.TempDir(), "no-"+name+".json")
	if err := profiles.SaveFile(path, p); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestRunCLI(t *testing.T) {
	testutil.Require(t, testutil.Root, testutil.Binary("ls"))
	dir := t.TempDir()
	for _, n := range []string{"one", "two"} {
		os.WriteFile(filepath.Join(dir, n), nil, 0o644)
	}
	noDents := profileWithout(t, "getdents64")
	noExec := profileWithout(t, "execve")
	tests := []struct {
		name       string
		args       []string
		code       int
		out, errIn string
	}{
		{"runs ls", []string{"run", "--profile", lsProfile, "--", "ls", dir}, 0, "one\ntwo\n", ""},
		{"ls's own status", []string{"run", "--profile", lsProfile, "--", "ls", filepath.Join(dir, "missing")}, 2, "", "No such file"},
		{"EPERM without getdents64", []string{"run", "--profile", noDents, "--", "ls", dir}, 2, "", "Operation not permitted"},
		{"complain", []string{"run", "--profile", noDents, "--mode", "complain", "--", "ls", dir}, 0, "one\ntwo\n", ""},
		{"explain", []string{"run", "--profile", lsProfile, "--explain", "--", "ls", dir}, 0, "one\ntwo\n", "execve          allowed by the profile"},
		{"execve blocked", []string{"run", "--profile", noExec, "--", "ls", dir}, 2, "", "profile blocks execve"},
		{"execve blocked, forced", []string{"run", "--profile", noExec, "--force", "--", "ls", dir}, 126, "", "failed under the filter"},
		{"bad profile", []string{"run", "--profile", "../../examples/profiles/bad-typo.json", "--", "ls"}, 2, "", `unknown syscall "getpdi"`},
		{"missing profile", []string{"run", "--profile", filepath.Join(dir, "nope.json"), "--", "ls"}, 2, "", "nope.json"},
		{"unknown command", []string{"run", "--profile", lsProfile, "--", "sysward-no-such-cmd"}, 2, "", "sysward-no-such-cmd"},
		{"no command", []string{"run", "--profile", lsProfile}, 2, "", "no command"},
		{"bad mode", []string{"run", "--profile", lsProfile, "--mode", "loud", "--", "ls"}, 2, "", "--mode"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, code := sysward(t, tt.args...)
			if code != tt.code || !strings.Contains(out, tt.out) || !strings.Contains(errOut, tt.errIn) {
				t.Fatalf("status %d (want %d)\nstdout: %q (want %q)\nstderr: %q (want %q)", code, tt.code, out, tt.out, errOut, tt.errIn)
			}
		})
	}
}

func TestProfileEnforceCLI(t *testing.T) {
	root := t.TempDir()
	tests := []struct {
		name string
		args []string
		code int
		out  string
	}{
		{"compile", []string{"profile", "compile", lsProfile}, 0, "ls.json: 55 instructions"},
		{"compile disasm", []string{"profile", "compile", "--disasm", lsProfile}, 0, "ret #0x7fff0000"},
		{"compile json", []string{"profile", "compile", "--format", "json", lsProfile}, 0, `"instructions": 55`},
		{"compile bad", []string{"profile", "compile", "../../examples/profiles/bad-typo.json"}, 2, ""},
		{"compile two files", []string{"profile", "compile", lsProfile, lsProfile}, 2, ""},
		{"verify", []string{"profile", "verify", lsProfile}, 0, "ok:"},
		{"verify complain", []string{"profile", "verify", "--mode", "complain", lsProfile}, 0, "ok:"},
		{"verify json", []string{"profile", "verify", "--format", "json", lsProfile}, 0, `"ok": true`},
		{"install", []string{"profile", "install", "--root", root, "--name", "shop/ls", lsProfile}, 0, "localhostProfile: sysward/shop-ls-"},
		{"install default name", []string{"profile", "install", "--root", root, lsProfile}, 0, "sysward/default-ls-"},
		{"install bad name", []string{"profile", "install", "--root", root, "--name", "a/b/c", lsProfile}, 2, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, code := sysward(t, tt.args...)
			if code != tt.code || !strings.Contains(out, tt.out) {
				t.Fatalf("status %d (want %d)\nstdout: %s\nstderr: %s", code, tt.code, out, errOut)
			}
		})
	}
}
