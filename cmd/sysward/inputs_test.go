package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sysward/sysward/detector"
	"github.com/sysward/sysward/profiles"
)

// syswardBounded runs the CLI in a child like sysward(), killed after a
// minute: the deadline only detects a hang (a FIFO once blocked every
// command for good), it is no part of what the test asserts.
func syswardBounded(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	raw, _ := json.Marshal(args)
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), cliArgsEnv+"="+string(raw), "LC_ALL=C")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("sysward %s hung (killed after a minute)", strings.Join(args, " "))
	}
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Fatal(err)
		}
		code = ee.ExitCode()
	}
	return out.String(), errb.String(), code
}

// badInputs makes, in dir, one of each file a command must refuse without
// blocking or reading it: a FIFO, /dev/zero, a symlink to /dev/zero and a
// (sparse) file one byte over max.
func badInputs(t *testing.T, dir, ext string, max int64) map[string]struct{ path, says string } {
	t.Helper()
	fifo := filepath.Join(dir, "fifo"+ext)
	if err := syscall.Mkfifo(fifo, 0o600); err != nil && !os.IsExist(err) {
		t.Fatal(err)
	}
	zero := filepath.Join(dir, "zero"+ext)
	if err := os.Symlink("/dev/zero", zero); err != nil && !os.IsExist(err) {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big"+ext)
	f, err := os.Create(big)
	if err != nil {
		t.Fatal(err)
	}
	f.Truncate(max + 1)
	f.Close()
	return map[string]struct{ path, says string }{
		"FIFO":                 {fifo, "not a regular file (FIFO)"},
		"/dev/zero":            {"/dev/zero", "not a regular file (character device)"},
		"symlink to /dev/zero": {zero, "not a regular file (character device)"},
		"over the cap":         {big, "file too large: over the limit of"},
	}
}

// TestCLIRefusesNonRegularAndHugeInputs: every command that reads a file
// exits 2 promptly with a message naming the file when it is a FIFO, a
// device, a symlink to one, or over the cap.
func TestCLIRefusesNonRegularAndHugeInputs(t *testing.T) {
	dir := t.TempDir()
	good := lsProfile
	rules := filepath.Join(dir, "ok_rules.yaml")
	os.WriteFile(rules, []byte("- list: l\n  items: [a]\n"), 0o644)
	events := filepath.Join(dir, "ok.jsonl")
	os.WriteFile(events, []byte(`{"type":"open"}`+"\n"), 0o644)

	type cmdCase struct {
		name string
		args func(bad string) []string
	}
	profileCmds := []cmdCase{
		{"profile show", func(b string) []string { return []string{"profile", "show", b} }},
		{"profile lint", func(b string) []string { return []string{"profile", "lint", b} }},
		{"profile export", func(b string) []string { return []string{"profile", "export", b} }},
		{"profile compile", func(b string) []string { return []string{"profile", "compile", b} }},
		{"profile verify", func(b string) []string { return []string{"profile", "verify", b} }},
		{"profile explain", func(b string) []string { return []string{"profile", "explain", b, "read"} }},
		{"profile diff", func(b string) []string { return []string{"profile", "diff", good, b} }},
		{"profile merge", func(b string) []string { return []string{"profile", "merge", good, b} }},
		{"profile install", func(b string) []string { return []string{"profile", "install", "--root", dir, b} }},
		{"run --profile", func(b string) []string { return []string{"run", "--profile", b, "--", "true"} }},
		{"watch --profile", func(b string) []string { return []string{"watch", "--profile", b, "--", "true"} }},
	}
	rulesCmds := []cmdCase{
		{"rules check", func(b string) []string { return []string{"rules", "check", b} }},
		{"rules test", func(b string) []string { return []string{"rules", "test", "--events", events, b} }},
		{"rules test --builtin", func(b string) []string { return []string{"rules", "test", "--builtin", "--events", events, b} }},
		{"watch --rules", func(b string) []string { return []string{"watch", "--profile", good, "--rules", b, "--", "true"} }},
	}
	eventsCmds := []cmdCase{
		{"rules test --events", func(b string) []string { return []string{"rules", "test", "--events", b, rules} }},
	}
	outputsCmds := []cmdCase{
		{"watch --outputs", func(b string) []string { return []string{"watch", "--profile", good, "--outputs", b, "--", "true"} }},
	}
	groups := []struct {
		ext  string
		max  int64
		cmds []cmdCase
	}{
		{".json", profiles.MaxFileSize, profileCmds},
		{".yaml", detector.MaxRulesFileSize, rulesCmds},
		{".jsonl", detector.MaxEventsFileSize, eventsCmds},
		{".outputs.yaml", 1 << 20, outputsCmds},
	}
	for _, g := range groups {
		bad := badInputs(t, dir, g.ext, g.max)
		for _, c := range g.cmds {
			for kind, b := range bad {
				t.Run(c.name+"/"+kind, func(t *testing.T) {
					_, stderr, code := syswardBounded(t, c.args(b.path)...)
					if code != 2 || !strings.Contains(stderr, b.path) || !strings.Contains(stderr, b.says) {
						t.Fatalf("exit %d, stderr %q; want 2 naming %s and %q", code, stderr, b.path, b.says)
					}
				})
			}
		}
	}
}

// TestCLIOutputToDevice: -o to a symlink to a device or FIFO writes through
// it; the link and the device stay (`-o /dev/stdout` once replaced the
// host's /dev/stdout symlink with a regular file).
func TestCLIOutputToDevice(t *testing.T) {
	dir := t.TempDir()
	null := filepath.Join(dir, "null")
	os.Symlink("/dev/null", null)
	for _, args := range [][]string{
		{"profile", "merge", "-o", null, lsProfile, lsProfile},
		{"profile", "export", "-o", null, lsProfile},
	} {
		if _, stderr, code := syswardBounded(t, args...); code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, stderr)
		}
		if fi, err := os.Lstat(null); err != nil || fi.Mode()&os.ModeSymlink == 0 {
			t.Fatalf("%v: the link to /dev/null was replaced: %v %v", args, fi.Mode(), err)
		}
	}
	// A FIFO gets the profile streamed to it.
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 1)
	go func() {
		b, _ := os.ReadFile(fifo)
		got <- string(b)
	}()
	if _, stderr, code := syswardBounded(t, "profile", "merge", "-o", fifo, lsProfile); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if s := <-got; !strings.Contains(s, `"defaultAction"`) {
		t.Fatalf("the FIFO's reader got %q", s)
	}
	if fi, err := os.Lstat(fifo); err != nil || fi.Mode()&os.ModeNamedPipe == 0 {
		t.Fatalf("the FIFO was replaced: %v %v", fi.Mode(), err)
	}
}

// TestCLIRecordMax: --record-max-mib outside 1..64 is bad usage.
func TestCLIRecordMax(t *testing.T) {
	for _, v := range []string{"0", "-1", "65"} {
		_, stderr, code := syswardBounded(t, "watch", "--profile", lsProfile, "--record-max-mib", v, "--", "true")
		if code != 2 || !strings.Contains(stderr, "--record-max-mib "+v+": want 1 to 64") {
			t.Errorf("--record-max-mib %s: exit %d, stderr %q", v, code, stderr)
		}
	}
}
