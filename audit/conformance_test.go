package audit

import (
	"testing"

	"github.com/sysward/sysward/detector"
)

// falcoRules is Falco's k8saudit rules file, copied unchanged from
// falcosecurity/plugins (plugins/k8saudit/rules/k8s_audit_rules.yaml at
// 0b3cbd8d84eb; Apache-2.0, testdata/falco/LICENSE).
const falcoRules = "testdata/falco/k8s_audit_rules.yaml"

// TestFalcoK8sAuditRulesConformance: every rule of Falco's k8saudit rules
// file compiles, or is listed with the field sysward lacks; at least 95 %
// compile.
func TestFalcoK8sAuditRulesConformance(t *testing.T) {
	rs, err := detector.LoadRules(falcoRules)
	if err != nil {
		t.Fatal(err)
	}
	compiled := 0
	for _, r := range rs.Rules {
		switch {
		case r.Compiled():
			compiled++
			if r.Source != detector.SourceK8sAudit {
				t.Errorf("rule %q: source %q", r.Name, r.Source)
			}
		case r.MissingField != "":
			t.Logf("skipped %-50q missing field %s", r.Name, r.MissingField)
		default:
			t.Errorf("rule %q neither compiled nor skipped for a missing field: %s", r.Name, r.Skipped)
		}
	}
	pct := 100 * float64(compiled) / float64(len(rs.Rules))
	t.Logf("%s: %d lists, %d macros; %d/%d rules compiled (%.0f%%)", falcoRules, len(rs.Lists), len(rs.Macros), compiled, len(rs.Rules), pct)
	if pct < 95 {
		t.Errorf("%.0f%% of the rules compiled, want >= 95%%", pct)
	}
	for _, w := range rs.Warnings {
		if w.Item == "required_plugin_versions" {
			t.Errorf("warning: %s", w)
		}
	}
}
