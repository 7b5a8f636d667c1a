package detector

import (
	"errors"
	"fmt"

	"github.com/goccy/go-yaml/token"
)

// ErrLimit marks a rules file that would make the loader build more than it
// allows: YAML or condition nesting, list or macro expansion. Each limit is
// far above what Falco's own rules need (measured on falco_rules.yaml and
// falco-incubating_rules.yaml, engine 0.57.0, in the comments), so that a
// file an attacker can shape never costs more than bounded memory and time.
var ErrLimit = errors.New("loader limit exceeded")

const (
	// maxYAMLDepth bounds YAML nesting (flow [ { and block levels). Falco's
	// rules nest at most 7 deep (a list value inside an exception tuple).
	// goccy/go-yaml's parser costs O(nodes x depth) (it keeps each node's
	// path), so 100 000 levels of [[[...]]] in 200 KB took over 1 GB: the
	// depth is checked on the lexer's tokens, before parsing.
	maxYAMLDepth = 64
	// maxYAMLTokens bounds the YAML tokens of one file. goccy's lexer and
	// parser take some 600 bytes a token and lex a whole document at once,
	// so the bytes are counted first (yamlTooMany): a 4 MB file of "- []"
	// lines (2.5 million tokens) took 1.5 GB before it was refused as not
	// a rules file. Falco's stable file counts 4 566 (2 757 real tokens).
	maxYAMLTokens = 1 << 17
	// maxListItems bounds one list after the lists it names are expanded
	// (Falco: 102 at most).
	maxListItems = 1 << 16
	// maxLoadListItems bounds the items of every list of a load, expanded
	// (Falco's stable file: under 1000).
	maxLoadListItems = 1 << 20
	// maxConditionBytes bounds a condition's text after lists are
	// substituted (Falco: 2.6 KB at most).
	maxConditionBytes = 1 << 18
	// maxSubstitutionBytes bounds the text written by all list
	// substitutions of one load: each rewrites the condition, so many uses
	// of a list in a long condition would cost their product (Falco's
	// stable file: 43 KB).
	maxSubstitutionBytes = 1 << 22
	// maxRuleNodes bounds one rule's condition with every macro expanded at
	// each use, which is what the engine evaluates per event (Falco: under
	// 100). 39 nested "(m and m)" macros are 2^39 nodes.
	maxRuleNodes = 1 << 16
	// maxLoadNodes bounds the same summed over every rule of a load
	// (Falco's stable and incubating files: 607 and 819).
	maxLoadNodes = 1 << 20
)

// yamlTooDeep returns the first token at which the YAML nesting passes
// limit, or nil. Flow collections count one level per [ or {; block
// collections one level per indentation step of a "- " entry or a "key:".
// The count may be lower than the real depth (a block sequence may sit at
// its parent key's column), never more than twice lower, which is all the
// bound needs.
func yamlTooDeep(tokens token.Tokens, limit int) *token.Token {
	flow := 0
	var cols []int // the column of each open block level
	for _, tk := range tokens {
		switch tk.Type {
		case token.DocumentHeaderType, token.DocumentEndType:
			flow, cols = 0, cols[:0]
			continue
		case token.SequenceStartType, token.MappingStartType:
			flow++
		case token.SequenceEndType, token.MappingEndType:
			if flow > 0 {
				flow--
			}
		case token.SequenceEntryType, token.MappingValueType:
			if flow > 0 || tk.Position == nil {
				break
			}
			col := tk.Position.Column
			if tk.Type == token.MappingValueType && tk.Prev != nil && tk.Prev.Position != nil && tk.Prev.Position.Line == tk.Position.Line {
				col = tk.Prev.Position.Column // the key's column
			}
			for len(cols) > 0 && cols[len(cols)-1] >= col {
				cols = cols[:len(cols)-1]
			}
			cols = append(cols, col)
		default:
			continue
		}
		if flow+len(cols) > limit {
			return tk
		}
	}
	return nil
}

// yamlTooMany returns the 1-based line at which data passes limit YAML
// tokens, or 0. It counts, without lexing, every byte that can start a
// token other than a scalar (indicators, quotes, comments) and every line:
// a scalar always borders one of them, so the lexer makes at most about
// twice as many tokens.
func yamlTooMany(data []byte, limit int) int {
	n, line := 1, 1
	for _, c := range data {
		switch c {
		case '\n':
			line++
			n++
		case '-', ':', ',', '[', ']', '{', '}', '?', '&', '*', '!', '|', '>', '%', '#', '\'', '"':
			n++
		default:
			continue
		}
		if n > limit {
			return line
		}
	}
	return 0
}

func limitErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrLimit, fmt.Sprintf(format, args...))
}
