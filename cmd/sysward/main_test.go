package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestUsageExitStatus: every kind of bad usage exits 2 with a message that
// names what is wrong, whichever layer of urfave/cli notices it.
func TestUsageExitStatus(t *testing.T) {
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"unknown command", []string{"bogus"}, "bogus"},
		{"unknown subcommand", []string{"profile", "bogus"}, "bogus"},
		{"unknown flag", []string{"run", "--bogus"}, "-bogus"},
		{"unknown flag of a subcommand", []string{"profile", "lint", "--bogus", "x.json"}, "-bogus"},
		{"bad flag value", []string{"learn", "--duration", "xyz", "--", "true"}, `"xyz"`},
		{"missing required flag", []string{"run", "--", "true"}, `"profile"`},
		{"unknown runtime base", []string{"learn", "--runtime-base", "bogus", "--", "true"}, `"bogus"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			app := newApp()
			var out, errb bytes.Buffer
			app.Writer, app.ErrWriter = &out, &errb
			code := exitCode(app.Run(append([]string{"sysward"}, c.args...)), &errb)
			if code != 2 || !strings.Contains(errb.String(), c.want) {
				t.Fatalf("status %d, stderr %q; want 2 and a message naming %s", code, errb.String(), c.want)
			}
		})
	}
}

func TestVersionExitsZero(t *testing.T) {
	app := newApp()
	var out bytes.Buffer
	app.Writer = &out
	if code := exitCode(app.Run([]string{"sysward", "version"}), &out); code != 0 || !strings.HasPrefix(out.String(), "sysward ") {
		t.Fatalf("status %d, output %q", code, out.String())
	}
}
