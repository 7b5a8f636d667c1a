package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/sysward/sysward/internal/testutil"
)

const (
	cliMarkdownPath = "../../docs/cli.md"
	cliManPath      = "../../sysward.1"
)

// staleDocs compares cliDocs(app) with the committed copies and describes
// the first difference of each, or returns "" when both are current.
func staleDocs(t *testing.T, app *cli.App) string {
	t.Helper()
	md, man, err := cliDocs(app)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range []struct{ path, want string }{{cliMarkdownPath, md}, {cliManPath, man}} {
		got, err := os.ReadFile(f.path)
		if err != nil {
			t.Fatal(err)
		}
		if d := firstDiff(string(got), f.want); d != "" {
			out = append(out, f.path+": "+d)
		}
	}
	return strings.Join(out, "\n")
}

// firstDiff names the first line where committed and generated differ.
func firstDiff(committed, generated string) string {
	if committed == generated {
		return ""
	}
	a, b := strings.Split(committed, "\n"), strings.Split(generated, "\n")
	for i := 0; ; i++ {
		var x, y string
		if i < len(a) {
			x = a[i]
		}
		if i < len(b) {
			y = b[i]
		}
		if x != y || i >= len(a) || i >= len(b) {
			return fmt.Sprintf("line %d: committed %s, generated %s", i+1, quote(x, i < len(a)), quote(y, i < len(b)))
		}
	}
}

func quote(s string, present bool) string {
	if !present {
		return "(end of file)"
	}
	return strconv.Quote(s)
}

// TestCLIDocsUpToDate fails when docs/cli.md or sysward.1 differ from what
// the command definitions render, i.e. a command or flag changed without
// `make generate`.
func TestCLIDocsUpToDate(t *testing.T) {
	if d := staleDocs(t, newApp()); d != "" {
		t.Errorf("CLI reference is stale; run `make generate` and commit docs/cli.md and sysward.1:\n%s", d)
	}
}

// TestCLIDocsNoticeNewFlag proves the staleness check can fail: the same
// app with one more flag on `learn` no longer matches the committed copies.
func TestCLIDocsNoticeNewFlag(t *testing.T) {
	app := newApp()
	for _, c := range app.Commands {
		if c.Name == "learn" {
			c.Flags = append(c.Flags, &cli.BoolFlag{Name: "brand-new-flag", Usage: "not in the committed docs"})
		}
	}
	d := staleDocs(t, app)
	if !strings.Contains(d, "docs/cli.md: line") || !strings.Contains(d, "sysward.1: line") {
		t.Fatalf("a new flag did not make both copies stale: %q", d)
	}
	t.Log(d)
}

// TestManPageRenders formats sysward.1 with groff, as man(1) does, and
// fails on any groff warning or a page without the commands (-P-cbou:
// plain text, no overstriking for bold).
func TestManPageRenders(t *testing.T) {
	testutil.Require(t, testutil.Binary("groff"))
	cmd := exec.Command("groff", "-man", "-Tutf8", "-ww", "-P-cbou", cliManPath)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("groff: %v\n%s", err, stderr.String())
	}
	if stderr.Len() > 0 {
		t.Errorf("groff warnings:\n%s", stderr.String())
	}
	page := string(out)
	for _, want := range []string{"NAME", "sysward - learn, enforce and watch", "COMMANDS"} {
		if !strings.Contains(page, want) {
			t.Errorf("rendered page lacks %q", want)
		}
	}
	for _, c := range newApp().Commands {
		if !c.Hidden && !strings.Contains(page, c.Name) {
			t.Errorf("rendered page lacks command %q", c.Name)
		}
	}
}
