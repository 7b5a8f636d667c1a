package elfhints

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sysward/sysward/internal/testutil"
	"github.com/sysward/sysward/profiles"
)

// TestLibcTableMatchesStrace holds the libc table to this machine's glibc:
// testdata/libcprobe.c calls each function between markers under
// `strace -f`, and every syscall strace attributes to a function must be in
// the function's row. Every row must be probed, except the few listed in
// unprobed with the reason.
func TestLibcTableMatchesStrace(t *testing.T) {
	testutil.Require(t, testutil.Root, testutil.Binary("cc"), testutil.Binary("strace"))
	dir := t.TempDir()
	bin := filepath.Join(dir, "libcprobe")
	if out, err := exec.Command("cc", "-O0", "-w", "-o", bin, "testdata/libcprobe.c").CombinedOutput(); err != nil {
		t.Fatalf("compiling libcprobe: %v\n%s", err, out)
	}
	scratch := filepath.Join(dir, "scratch")
	if err := os.Mkdir(scratch, 0o755); err != nil {
		t.Fatal(err)
	}
	log := filepath.Join(dir, "strace.log")
	cmd := exec.Command("strace", "-f", "-qq", "-o", log, bin, scratch)
	// Bind every symbol at load time: lazy binding makes no syscall, but
	// keeps the attribution free of the loader's first-call work.
	cmd.Env = append(os.Environ(), "LD_BIND_NOW=1", "LANG=C.UTF-8", "TZ=")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("strace libcprobe: %v\n%s", err, out)
	}
	f, err := os.Open(log)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	seen, err := straceRows(f)
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) < 300 {
		t.Fatalf("only %d functions attributed: the markers were not parsed", len(seen))
	}
	for fn, calls := range seen {
		row, ok := LibcFunction(fn)
		if !ok && len(calls) == 0 {
			continue // makes no syscall: rightly no row
		}
		if !ok {
			t.Errorf("%s: probed but has no row; strace saw %v", fn, sortedKeys(calls))
			continue
		}
		for c := range calls {
			// brk: the heap growing under an allocation (malloc's row;
			// every dynamic process calls brk before main).
			if c == "brk" && fn != "malloc" && fn != "calloc" && fn != "realloc" && fn != "free" {
				continue
			}
			if !slices.Contains(row, c) {
				t.Errorf("%s: strace saw %s, the row has %v", fn, c, row)
			}
		}
	}
	// Functions with a row that the probe does not call, and why.
	var notProbed []string
	for _, fn := range LibcFunctions() {
		if _, ok := seen[fn]; !ok {
			if _, ok := unprobed[fn]; !ok {
				notProbed = append(notProbed, fn)
			}
		}
	}
	t.Logf("%d functions probed; %d rows not probed (fatal paths, locks without contention, dangerous or privileged calls, aliases of probed ones): %s",
		len(seen), len(notProbed), strings.Join(notProbed, " "))
}

// unprobed are rows the probe cannot meaningfully call here; the test
// logs the others it does not call.
var unprobed = map[string]string{}

func TestLibcTableNames(t *testing.T) {
	for fn, row := range libcTable {
		for _, c := range row {
			if _, ok := profiles.SyscallNumber(profiles.ArchX86_64, c); !ok {
				t.Errorf("%s: %q is no x86_64 syscall", fn, c)
			}
		}
		if slices.Contains(row, "") {
			t.Errorf("%s: empty name", fn)
		}
	}
	for a, to := range aliases {
		if _, ok := libcTable[to]; to != "" && !ok {
			t.Errorf("alias %s -> %s: no such row", a, to)
		}
	}
}

func sortedKeys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
