package elfhints

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"github.com/sysward/sysward/internal/testutil"
	"github.com/sysward/sysward/profiles"
)

// TestGoHintsMatchStrace: every syscall a static Go binary makes under
// `strace -f` (its runtime's and its wrappers') is among its hints.
func TestGoHintsMatchStrace(t *testing.T) {
	testutil.Require(t, testutil.Root, testutil.Binary("go"), testutil.Binary("strace"))
	dir := t.TempDir()
	bin := filepath.Join(dir, "goprog")
	cmd := exec.Command("go", "build", "-ldflags=-s -w", "-o", bin, "./testdata/goprog")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building goprog: %v\n%s", err, out)
	}
	log := filepath.Join(dir, "strace.log")
	if out, err := exec.Command("strace", "-f", "-qq", "-o", log, bin, filepath.Join(dir, "f")).CombinedOutput(); err != nil {
		t.Fatalf("strace goprog: %v\n%s", err, out)
	}
	f, err := os.Open(log)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	seen := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		_, rest, _ := cutPID(sc.Text())
		if m := callRE.FindStringSubmatch(rest); m != nil {
			seen[m[1]] = true
		}
	}
	if len(seen) < 10 {
		t.Fatalf("strace saw %d syscalls: log not parsed", len(seen))
	}
	b, err := Read(bin, nil)
	if err != nil {
		t.Fatal(err)
	}
	hints, _ := Hints(b)
	for s := range seen {
		if s == "execve" { // strace's exec of the program, before it runs
			continue
		}
		if !slices.ContainsFunc(hints, func(h Hint) bool { return h.Syscall == s }) {
			t.Errorf("goprog made %s; no hint has it", s)
		}
	}
}

func cutPID(line string) (string, string, bool) {
	for i := 0; i < len(line); i++ {
		if line[i] == ' ' {
			j := i
			for j < len(line) && line[j] == ' ' {
				j++
			}
			return line[:i], line[j:], true
		}
	}
	return "", line, false
}

// TestGoTablesNames: every syscall the Go tables name exists on x86_64.
func TestGoTablesNames(t *testing.T) {
	check := func(where string, names []string) {
		for _, n := range names {
			if _, ok := profiles.SyscallNumber(profiles.ArchX86_64, n); !ok {
				t.Errorf("%s: %q is no x86_64 syscall", where, n)
			}
		}
	}
	check("goRuntime", goRuntime)
	check("goForkExec", goForkExec)
	for w, calls := range goWrappers {
		check("goWrappers["+w+"]", calls)
	}
	for _, p := range goPrefixes {
		check("goPrefixes["+p.prefix+"]", []string{p.syscall})
	}
}
