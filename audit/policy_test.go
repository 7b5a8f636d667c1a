package audit

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"

	"github.com/sysward/sysward/detector"
)

// TestPolicyNamesFalcoRules: deploy/audit/audit-policy.yaml is an
// audit.k8s.io/v1 Policy (decoded strictly with the apiserver's type),
// never logs a secret's body, omits RequestReceived, keeps ResponseStarted
// (Attach/Exec Pod reads it), asks for RequestResponse only for pod
// creation; and every rule of Falco's file is named in its comments, so
// each level is justified by a rule that needs it.
func TestPolicyNamesFalcoRules(t *testing.T) {
	data, err := os.ReadFile("../deploy/audit/audit-policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var p auditv1.Policy
	if err := yaml.UnmarshalStrict(data, &p); err != nil {
		t.Fatalf("audit-policy.yaml: %v", err)
	}
	if len(p.OmitStages) != 1 || p.OmitStages[0] != auditv1.StageRequestReceived {
		t.Errorf("omitStages %v, want [RequestReceived]", p.OmitStages)
	}
	for i, r := range p.Rules {
		if len(r.OmitStages) > 0 {
			t.Errorf("rule %d omits stages %v", i, r.OmitStages)
		}
		for _, g := range r.Resources {
			for _, res := range g.Resources {
				if (res == "secrets" || res == "serviceaccounts/token") && r.Level != auditv1.LevelMetadata && r.Level != auditv1.LevelNone {
					t.Errorf("rule %d logs %s at %s", i, res, r.Level)
				}
				if r.Level == auditv1.LevelRequestResponse && (res != "pods" || len(r.Verbs) != 1 || r.Verbs[0] != "create") {
					t.Errorf("rule %d: RequestResponse for %s %v: no Falco rule reads that response", i, res, r.Verbs)
				}
			}
		}
	}
	rs, err := detector.LoadRules(falcoRules)
	if err != nil {
		t.Fatal(err)
	}
	var comments strings.Builder
	for _, l := range strings.Split(string(data), "\n") {
		if c, ok := strings.CutPrefix(strings.TrimSpace(l), "#"); ok {
			comments.WriteString(strings.TrimSpace(c) + " ")
		}
	}
	text := comments.String()
	for _, r := range rs.Rules {
		if !strings.Contains(text, `"`+r.Name+`"`) && !strings.Contains(text, r.Name) {
			// the activity rules are named as a family
			if regexp.MustCompile(`^K8s .* (Created|Deleted)$`).MatchString(r.Name) || r.Name == "All K8s Audit Events" {
				continue
			}
			t.Errorf("Falco rule %q is not named in the policy's comments", r.Name)
		}
	}
	for _, m := range regexp.MustCompile(`"([^"]+)"`).FindAllStringSubmatch(text, -1) {
		if rs.Rule(m[1]) == nil && strings.Contains(m[1], " ") {
			t.Errorf("the policy names %q, which is not a rule of %s", m[1], falcoRules)
		}
	}
}
