package watch

import (
	_ "embed"
	"fmt"

	"github.com/sysward/sysward/detector"
)

// DefaultRulesName is the name the embedded rules file carries in errors
// and warnings.
const DefaultRulesName = "sysward_rules.yaml (built in)"

// DefaultRules is sysward's own rules file (rules/sysward_rules.yaml),
// embedded in the binary.
//
//go:embed rules/sysward_rules.yaml
var DefaultRules []byte

// LoadRules loads the embedded rules followed by files, in order, with the
// detector's Falco-compatible loader: a later file can append to, override
// or disable what the embedded file defines. With noDefault the embedded
// file is left out. A file using a field sysward lacks fails to load, as in
// Falco; LoadRulesWith can skip such rules instead.
func LoadRules(noDefault bool, files ...string) (*detector.Ruleset, error) {
	return LoadRulesWith(nil, noDefault, files...)
}

// LoadRulesWith is LoadRules with the detector's load options (nil: the
// defaults).
func LoadRulesWith(opts *detector.LoadOptions, noDefault bool, files ...string) (*detector.Ruleset, error) {
	var in []detector.RulesFile
	if !noDefault {
		in = append(in, detector.RulesFile{Name: DefaultRulesName, Data: DefaultRules})
	}
	for _, f := range files {
		rf, err := detector.ReadRulesFile(f)
		if err != nil {
			return nil, err
		}
		in = append(in, rf)
	}
	if len(in) == 0 {
		return nil, fmt.Errorf("no rules: --no-default-rules needs at least one --rules file")
	}
	return detector.LoadRulesFilesWith(opts, in...)
}
