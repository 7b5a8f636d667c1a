package detector

import (
	"os"
	"path/filepath"
	"testing"
)

// conformanceDir holds Falco's published rules files, shipped beside the
// repository (../shared/conformance/falco).
func conformanceFile(t testing.TB, name string) string {
	t.Helper()
	for _, dir := range []string{"../../shared/conformance/falco", "../shared/conformance/falco", "/work/shared/conformance/falco"} {
		p := filepath.Join(dir, name)
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	t.Fatalf("conformance file %s not found beside the repository (../shared/conformance/falco)", name)
	return ""
}

func TestFalcoRulesConformance(t *testing.T) {
	for _, tc := range []struct {
		name string
		file string
	}{
		{"stable", "falco_rules.yaml"},
		{"incubating", "falco-incubating_rules.yaml"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := conformanceFile(t, tc.file)
			rs, err := LoadRules(path)
			if err != nil {
				t.Fatalf("LoadRules(%s): %v", tc.file, err)
			}
			total := len(rs.Rules)
			compiled := 0
			for _, r := range rs.Rules {
				switch {
				case r.Compiled():
					compiled++
				case r.MissingField != "":
					t.Logf("skipped %-55q missing field %s", r.Name, r.MissingField)
				default:
					t.Errorf("rule %q neither compiled nor skipped for a missing field: %s", r.Name, r.Skipped)
				}
			}
			pct := 100 * float64(compiled) / float64(total)
			t.Logf("%s: %d lists, %d macros parsed; %d/%d rules compiled (%.0f%%)", tc.file, len(rs.Lists), len(rs.Macros), compiled, total, pct)
			if pct < 80 {
				t.Errorf("only %.0f%% of the rules compiled, want >= 80%%", pct)
			}
		})
	}
}
