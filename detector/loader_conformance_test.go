package detector

import (
	"bufio"
	"encoding/json"
	"os"
	"strings"
	"testing"
)

// TestFalcoLoaderConformance loads every rules file of Falco's own
// rule-loader tests and checks that sysward accepts or rejects it as Falco
// does.
func TestFalcoLoaderConformance(t *testing.T) {
	f, err := os.Open("testdata/falco_loader_conformance.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	n := 0
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") || line == "" {
			continue
		}
		var c struct {
			Name, Verdict, Rules, Error string
			EvttypeWarning              *bool `json:"evttype_warning"`
		}
		if err := json.Unmarshal([]byte(line), &c); err != nil {
			t.Fatal(err)
		}
		n++
		t.Run(c.Name, func(t *testing.T) {
			rs, err := LoadRulesFiles(RulesFile{Name: "rules.yaml", Data: []byte(c.Rules)})
			if err == nil && c.EvttypeWarning != nil {
				warned := false
				for _, w := range rs.Warnings {
					warned = warned || strings.Contains(w.Msg, "evt.type")
				}
				if warned != *c.EvttypeWarning {
					t.Errorf("evt.type warning: sysward %v, Falco %v (%v)", warned, *c.EvttypeWarning, rs.Warnings)
				}
			}
			switch {
			case c.Verdict == "accept" && err != nil:
				t.Errorf("Falco loads this file, sysward rejects it: %v\n%s", err, c.Rules)
			case c.Verdict == "reject" && err == nil:
				t.Errorf("Falco rejects this file (%q), sysward loads it\n%s", c.Error, c.Rules)
			}
		})
	}
	t.Logf("%d rules files from Falco's rule-loader tests", n)
}
