package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/sysward/sysward/internal/testutil"
)

// consoleBlock is one ```console block of README.md: shell steps, each a
// command line ("$ …") and the output lines shown under it.
type consoleBlock struct {
	line  int // README line of the opening fence
	steps []consoleStep
}

type consoleStep struct {
	line   int
	cmd    string
	output []string
}

// consoleBlocks extracts the ```console blocks of a Markdown text.
func consoleBlocks(md string) ([]consoleBlock, error) {
	var blocks []consoleBlock
	var cur *consoleBlock
	for i, l := range strings.Split(md, "\n") {
		switch {
		case cur == nil && l == "```console":
			cur = &consoleBlock{line: i + 1}
		case cur == nil:
		case l == "```":
			blocks = append(blocks, *cur)
			cur = nil
		case strings.HasPrefix(l, "$ "):
			cur.steps = append(cur.steps, consoleStep{line: i + 1, cmd: l[2:]})
		case len(cur.steps) == 0:
			return nil, fmt.Errorf("line %d: output before the first command", i+1)
		default:
			s := &cur.steps[len(cur.steps)-1]
			s.output = append(s.output, l)
		}
	}
	if cur != nil {
		return nil, fmt.Errorf("line %d: console block not closed", cur.line)
	}
	return blocks, nil
}

var (
	digits     = regexp.MustCompile(`[0-9]+`)
	assignment = regexp.MustCompile(`^[a-z_]+=`)
)

// outputShown reports whether a line shown in the README holds in the real
// output: numbers may differ (counts, times, pids), "…" stands for anything,
// and lines may come in any order (alerts interleave with the workload's
// output).
func outputShown(shown string, got []string) bool {
	parts := strings.Split(digits.ReplaceAllString(shown, "0"), "…")
	for _, g := range got {
		g = digits.ReplaceAllString(g, "0")
		if !strings.HasPrefix(g, parts[0]) {
			continue
		}
		rest, ok := g[len(parts[0]):], true
		for _, p := range parts[1:] {
			i := strings.Index(rest, p)
			if i < 0 {
				ok = false
				break
			}
			rest = rest[i+len(p):]
		}
		if ok && (len(parts) > 1 || rest == "") {
			return true
		}
	}
	return false
}

func TestOutputShown(t *testing.T) {
	got := []string{"sysward learn: 108 syscalls (command exited) written to app.json", "12:00:01.5: Warning x (syscall=sync pid=7)"}
	for shown, want := range map[string]bool{
		"sysward learn: 99 syscalls (command exited) written to app.json": true,
		"sysward learn: 99 syscalls (command exited) written to app.jso":  false,
		"sysward learn: 99 syscalls (timeout) written to app.json":        false,
		"…: Warning x (syscall=sync …":                                    true,
		"…: Warning x (syscall=mknodat …":                                 false,
		"sysward learn: …":                                                true,
	} {
		if outputShown(shown, got) != want {
			t.Errorf("outputShown(%q) = %v, want %v", shown, !want, want)
		}
	}
}

func TestConsoleBlocks(t *testing.T) {
	bs, err := consoleBlocks("x\n```console\n$ a=1\n$ echo $a\n1\n```\n```\n$ not run\n```\n")
	if err != nil || len(bs) != 1 || len(bs[0].steps) != 2 || bs[0].steps[1].output[0] != "1" {
		t.Fatalf("got %+v, %v", bs, err)
	}
	if _, err := consoleBlocks("```console\nout\n```\n"); err == nil {
		t.Error("output before a command accepted")
	}
}

// TestREADMEQuickStarts runs every ```console block of README.md (the quick
// starts that need no cluster) with a freshly built sysward first on PATH,
// each block in its own directory: every command must exit 0 (a failure the
// README shows is written `|| echo "(exit status $?)"`) and print every
// output line shown under it.
func TestREADMEQuickStarts(t *testing.T) {
	requireLearn(t)
	testutil.Require(t, testutil.Binary("busybox"), testutil.Binary("bash"))
	md, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks, err := consoleBlocks(string(md))
	if err != nil {
		t.Fatalf("README.md: %v", err)
	}
	if len(blocks) < 2 {
		t.Fatalf("README.md has %d console blocks, want the two quick starts", len(blocks))
	}
	bin := buildSysward(t)
	path := filepath.Dir(bin) + string(os.PathListSeparator) + os.Getenv("PATH")
	for _, b := range blocks {
		t.Run(fmt.Sprintf("line%d", b.line), func(t *testing.T) {
			dir := t.TempDir()
			var vars []string
			ran := 0
			for _, s := range b.steps {
				if assignment.MatchString(s.cmd) {
					vars = append(vars, s.cmd)
					continue
				}
				cmd := exec.Command("bash", "-c", strings.Join(append(vars, s.cmd), "\n"))
				cmd.Dir = dir
				cmd.Env = append(os.Environ(), "PATH="+path)
				out, err := cmd.CombinedOutput()
				if err != nil {
					t.Fatalf("README.md:%d: %s: %v\n%s", s.line, s.cmd, err, out)
				}
				got := strings.Split(string(out), "\n")
				for _, want := range s.output {
					if !outputShown(want, got) {
						t.Errorf("README.md:%d: %s: output lacks %q; it printed:\n%s", s.line, s.cmd, want, out)
					}
				}
				ran++
			}
			if ran < 3 {
				t.Errorf("block ran %d commands, want a quick start", ran)
			}
		})
	}
}
