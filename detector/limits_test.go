package detector

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
)

// nestedMacros is issue #13's macro bomb: m0 is one check, each next macro
// "(m and m)" of the one before, so m<n> expands to about 2^(n+2) nodes in
// 30 bytes a line.
func nestedMacros(n int) string {
	var b strings.Builder
	b.WriteString("- macro: m0\n  condition: proc.name=a\n")
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "- macro: m%d\n  condition: (m%d and m%d)\n", i, i-1, i-1)
	}
	fmt.Fprintf(&b, "- rule: r\n  desc: d\n  condition: evt.type=open and m%d\n  output: o\n  priority: INFO\n", n)
	return b.String()
}

// listBomb: a list of lists used many times in one condition.
func listBomb(items, refs, uses int) string {
	var its, rs []string
	for i := 0; i < items; i++ {
		its = append(its, fmt.Sprintf("i%d", i))
	}
	for i := 0; i < refs; i++ {
		rs = append(rs, "l1")
	}
	cond := strings.TrimSuffix(strings.Repeat("proc.name in (l2) or ", uses), " or ")
	return fmt.Sprintf("- list: l1\n  items: [%s]\n- list: l2\n  items: [%s]\n- rule: r\n  desc: d\n  condition: evt.type=open and (%s)\n  output: o\n  priority: INFO\n",
		strings.Join(its, ", "), strings.Join(rs, ", "), cond)
}

// rulesUsing is n rules named x0... with condition "evt.type=open and cond".
func rulesUsing(cond string, n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "- rule: x%d\n  desc: d\n  condition: evt.type=open and %s\n  output: o\n  priority: INFO\n", i, cond)
	}
	return b.String()
}

// TestLoadLimits: what a rules file can make the loader build is bounded,
// each limit a clear error at file:line:col naming it (issue #13 item 10).
// The sizes here are above the limits yet small enough that the loader
// without limits finishes too (and loads them).
func TestLoadLimits(t *testing.T) {
	many := func(n int, f func(i int) string) string {
		var b strings.Builder
		for i := 0; i < n; i++ {
			b.WriteString(f(i))
		}
		return b.String()
	}
	for _, tc := range []struct {
		name, file string
		pos, msg   string
	}{
		{"nested macros", nestedMacros(17), "f1.yaml:39:14", "more than 65536 nodes (the limit per rule)"},
		{"macros over all rules", nestedMacros(13) + rulesUsing("m13", 40), "f1.yaml:", "more than 1048576 nodes (the limit per load)"},
		{"flow sequences", "- list: l\n  items: " + strings.Repeat("[", 100) + strings.Repeat("]", 100) + "\n", "f1.yaml:2:", "YAML nested more than 64 levels deep"},
		{"flow mappings", strings.Repeat("{a: ", 100) + "x" + strings.Repeat("}", 100) + "\n", "f1.yaml:1:", "YAML nested more than 64 levels deep"},
		{"block sequences", strings.Repeat("- ", 100) + "x\n", "f1.yaml:1:", "YAML nested more than 64 levels deep"},
		{"too many tokens", strings.Repeat("- []\n", 40000), "f1.yaml:32769:1", "more than 131072 YAML tokens"},
		{"block mappings", many(100, func(i int) string { return strings.Repeat(" ", i) + "a:\n" }), "f1.yaml:65:", "YAML nested more than 64 levels deep"},
		{"list of lists", "- list: l1\n  items: [" + strings.TrimSuffix(strings.Repeat("a, ", 300), ", ") + "]\n- list: l2\n  items: [" + strings.TrimSuffix(strings.Repeat("l1, ", 300), ", ") + "]\n",
			"f1.yaml:3:9", "expands to 90000 items"},
		{"condition after substitution", listBomb(100, 100, 6), "f1.yaml:7:14", "longer than 262144 bytes"},
		{"substitutions over all rules", listBomb(100, 100, 1) + rulesUsing("proc.name in (l2)", 300), "f1.yaml:", "more than 4194304 bytes in all"},
		{"condition nesting", "- rule: r\n  desc: d\n  condition: " + strings.Repeat("(", 2000) + "proc.name=a" + strings.Repeat(")", 2000) + "\n  output: o\n  priority: INFO\n", "f1.yaml:3:", "exceeded max depth limit of 1000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := load(t, tc.file)
			var es Errors
			if !errors.As(err, &es) || len(es) == 0 {
				t.Fatalf("loaded (%v), want a limit error", err)
			}
			if len(es) != 1 {
				t.Errorf("%d errors, want one: %v", len(es), err)
			}
			e := es[0]
			if !strings.HasPrefix(e.Error(), tc.pos) || !strings.Contains(e.Error(), tc.msg) {
				t.Errorf("error %q, want at %s containing %q", e, tc.pos, tc.msg)
			}
			if tc.name != "condition nesting" && !errors.Is(e, ErrLimit) {
				t.Errorf("error %q is not ErrLimit", e)
			}
		})
	}
}

// TestLoadWithinLimits: Falco's own rules are far inside every limit, and
// a file just inside them loads.
func TestLoadWithinLimits(t *testing.T) {
	if _, err := load(t, nestedMacros(13)); err != nil { // 2^15 nodes
		t.Errorf("13 nested macros: %v", err)
	}
	if _, err := load(t, "- unknown_item: "+strings.Repeat("[", 30)+"a"+strings.Repeat("]", 30)+"\n"); err != nil {
		t.Errorf("30 nested YAML sequences: %v", err)
	}
	if _, err := load(t, listBomb(100, 100, 4)); err != nil { // 4 x 10000 items
		t.Errorf("list of lists used 4 times: %v", err)
	}
}

// loadAllocBound is what one load may allocate in all, whatever the input
// (up to the fuzzer's sizes): the limits above keep the worst case (about a
// million expanded nodes, or 4 MB of substituted text) well under it.
const loadAllocBound = 1 << 29

// allocated returns the bytes f allocates (a count, not a timing).
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

func TestLoadAllocBound(t *testing.T) {
	for name, file := range map[string]string{
		"macros over all rules": nestedMacros(13) + rulesUsing("m13", 40),
		"issue 13 macros":       nestedMacros(39),
		"issue 13 brackets":     strings.Repeat("[", 100000) + strings.Repeat("]", 100000) + "\n",
		"list substitutions":    listBomb(100, 100, 200),
		"substitution budget":   listBomb(100, 100, 1) + rulesUsing("proc.name in (l2)", 300),
		"a long line of []":     strings.Repeat("[]", 16<<10),     // goccy's error text: 550 MB
		"2 MB of - [] lines":    strings.Repeat("- []\n", 400000), // goccy: 700 MB
	} {
		n := allocated(func() { LoadRulesFiles(RulesFile{Name: "f.yaml", Data: []byte(file)}) })
		t.Logf("%s: %d KB allocated", name, n>>10)
		if n > loadAllocBound {
			t.Errorf("%s: %d MB allocated, bound %d MB", name, n>>20, loadAllocBound>>20)
		}
	}
}
