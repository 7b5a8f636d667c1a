package main

import (
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sysward/sysward/internal/inputfile"
	"github.com/sysward/sysward/internal/testutil"
)

// TestLearnCLIStatic: by default learn reads the command's binary and
// allows fsync, which the program imports but this run never calls, says
// so, and lists ptrace as reachable, not allowed; --static off adds none.
func TestLearnCLIStatic(t *testing.T) {
	requireLearn(t)
	testutil.Require(t, testutil.Binary("cc"))
	dir := t.TempDir()
	bin := filepath.Join(dir, "importer")
	if out, err := exec.Command("cc", "-O0", "-o", bin, "../../elfhints/testdata/importer.c").CombinedOutput(); err != nil {
		t.Fatalf("compiling importer: %v\n%s", err, out)
	}
	out := filepath.Join(dir, "p.json")
	code, _, stderr := runCLI(t, "learn", "-o", out, "--", bin)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{
		"static hints (hints) read 1 binaries: " + bin + " (dynamic)",
		"static hints added ",
		"reachable, not allowed (dangerous; see sysward.reachable in the profile): clone3 ptrace",
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	p, err := inputfile.Profile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(p.Names(), "fsync") || slices.Contains(p.Names(), "ptrace") {
		t.Errorf("profile %v: want fsync, not ptrace", p.Names())
	}
	if !slices.Contains(p.Sysward.Reachable["ptrace"], "static:"+bin+":ptrace") {
		t.Errorf("reachable %v", p.Sysward.Reachable)
	}

	code, _, stderr = runCLI(t, "learn", "--static", "off", "-o", out, "--", bin)
	if code != 0 || strings.Contains(stderr, "static hints") {
		t.Fatalf("--static off: exit %d, stderr %s", code, stderr)
	}
	if p, err := inputfile.Profile(out); err != nil || slices.Contains(p.Names(), "fsync") {
		t.Errorf("--static off: fsync allowed (%v)", err)
	}
}

func TestLearnCLIStaticBadMode(t *testing.T) {
	code, _, stderr := runCLI(t, "learn", "--static", "maybe", "--", "true")
	if code != 2 || !strings.Contains(stderr, `--static "maybe"`) {
		t.Errorf("exit %d, stderr %q: want 2 naming --static", code, stderr)
	}
}

// TestLearnStaticThenRun: a program learned in a run that neither fsyncs
// nor starts a child then does both under the learned profile (fsync and
// clone allowed by static hints; clone3, dangerous, answers ENOSYS so that
// glibc's posix_spawn falls back to clone). Learned with --static off, the
// same run fails.
func TestLearnStaticThenRun(t *testing.T) {
	requireLearn(t)
	testutil.Require(t, testutil.Binary("cc"))
	sw := buildSysward(t)
	dir := t.TempDir()
	bin := filepath.Join(dir, "importer")
	if out, err := exec.Command("cc", "-O0", "-o", bin, "../../elfhints/testdata/importer.c").CombinedOutput(); err != nil {
		t.Fatalf("compiling importer: %v\n%s", err, out)
	}
	for _, tc := range []struct {
		static string
		ok     bool
	}{{"hints", true}, {"off", false}} {
		prof := filepath.Join(dir, tc.static+".json")
		if out, err := exec.Command(sw, "learn", "-q", "--static", tc.static, "-o", prof, "--", bin).CombinedOutput(); err != nil {
			t.Fatalf("learn --static %s: %v: %s", tc.static, err, out)
		}
		out, err := exec.Command(sw, "run", "--profile", prof, "--", bin, "sync", "spawn").CombinedOutput()
		if ok := err == nil && strings.Contains(string(out), "importer"); ok != tc.ok {
			t.Errorf("--static %s: run under the profile: %v: %s (want success %v)", tc.static, err, out, tc.ok)
		}
	}
}
