package detector

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
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

// TestFalcoRulesConformance loads Falco's stable and incubating rules. As in
// Falco, a field sysward does not provide makes the file fail to load, each
// use named with file:line:col (strict); with SkipUnknownFields the file
// loads and exactly the rules listed here are skipped, the rest compile.
func TestFalcoRulesConformance(t *testing.T) {
	for _, tc := range []struct {
		name string
		file string
		// unknown: every field the file uses that sysward lacks (condition
		// or output); skipped: the rules whose condition needs one of them.
		unknown []string
		skipped map[string]string
	}{
		{"stable", "falco_rules.yaml",
			[]string{"container.start_ts", "fd.sip.name", "proc.exe_ino.ctime", "proc.exe_ino.ctime_duration_proc_start", "proc.exe_ino.mtime"},
			map[string]string{"Contact K8S API Server From Container": "fd.sip.name"}},
		{"incubating", "falco-incubating_rules.yaml",
			[]string{"fd.cip.name", "fd.lip.name", "fd.rip.name", "fd.sip.name"},
			map[string]string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := conformanceFile(t, tc.file)
			_, err := LoadRules(path)
			var es Errors
			if !errors.As(err, &es) {
				t.Fatalf("strict LoadRules(%s) = %v, want Errors naming the fields sysward lacks", tc.file, err)
			}
			var unknown []string
			for _, e := range es {
				if !errors.Is(e, ErrUnknownField) || e.Pos.File != path || e.Pos.Line < 1 || e.Pos.Col < 1 {
					t.Errorf("strict load: %v, want only unknown-field errors with a position", e)
					continue
				}
				unknown = append(unknown, fieldInError(t, e))
			}
			unknown = sortedUnique(unknown)
			if !reflect.DeepEqual(unknown, tc.unknown) {
				t.Errorf("strict load: unknown fields %q, want %q", unknown, tc.unknown)
			}

			rs, err := LoadRulesWith(&LoadOptions{SkipUnknownFields: true}, path)
			if err != nil {
				t.Fatalf("LoadRulesWith(SkipUnknownFields, %s): %v", tc.file, err)
			}
			total := len(rs.Rules)
			compiled := 0
			skipped := map[string]string{}
			for _, r := range rs.Rules {
				switch {
				case r.Compiled():
					compiled++
				case r.MissingField != "":
					skipped[r.Name] = r.MissingField
					t.Logf("skipped %-55q missing field %s", r.Name, r.MissingField)
				default:
					t.Errorf("rule %q neither compiled nor skipped for a missing field: %s", r.Name, r.Skipped)
				}
			}
			if !reflect.DeepEqual(skipped, tc.skipped) {
				t.Errorf("skipped %v, want %v", skipped, tc.skipped)
			}
			t.Logf("%s: %d lists, %d macros parsed; %d/%d rules compiled", tc.file, len(rs.Lists), len(rs.Macros), compiled, total)
		})
	}
}

// fieldInError extracts the quoted field name from an unknown-field error.
func fieldInError(t *testing.T, e error) string {
	t.Helper()
	_, rest, ok := strings.Cut(e.Error(), ErrUnknownField.Error()+` "`)
	name, _, ok2 := strings.Cut(rest, `"`)
	if !ok || !ok2 {
		t.Fatalf("no field named in %q", e)
	}
	return name
}

func sortedUnique(s []string) []string {
	sort.Strings(s)
	out := s[:0]
	for i, x := range s {
		if i == 0 || x != s[i-1] {
			out = append(out, x)
		}
	}
	return out
}
