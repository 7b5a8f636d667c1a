package detector

import (
	"errors"
	"fmt"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/lexer"
	yparser "github.com/goccy/go-yaml/parser"
)

// ynode is a YAML value with its position, converted from goccy/go-yaml's
// AST so the loader can name file:line:col for every key and value.
type ynode struct {
	pos    Position
	kind   ykind
	str    string // scalars, as written (quotes removed)
	quoted bool   // scalar was a string, not a number/bool/null
	seq    []*ynode
	keys   []string
	vals   []*ynode
}

type ykind int

const (
	yScalar ykind = iota
	yNull
	ySeq
	yMap
)

func (k ykind) String() string { return [...]string{"scalar", "null", "sequence", "mapping"}[k] }

func (n *ynode) get(key string) *ynode {
	for i, k := range n.keys {
		if k == key {
			return n.vals[i]
		}
	}
	return nil
}

// parseYAML parses one rules file into ynodes, one per document.
func parseYAML(file string, data []byte) ([]*ynode, error) {
	if line := yamlTooMany(data, maxYAMLTokens); line > 0 {
		return nil, &Error{Pos: Position{File: file, Line: line, Col: 1},
			Err: fmt.Errorf("%w: %w: more than %d YAML tokens (each line and each of - : , [ ] { } # quote and the like counts one)", ErrInvalidYAML, ErrLimit, maxYAMLTokens)}
	}
	tokens := lexer.Tokenize(string(data))
	if tk := yamlTooDeep(tokens, maxYAMLDepth); tk != nil {
		pos := Position{File: file, Line: 1, Col: 1}
		if tk.Position != nil {
			pos.Line, pos.Col = tk.Position.Line, tk.Position.Column
		}
		return nil, &Error{Pos: pos,
			Err: fmt.Errorf("%w: %w: YAML nested more than %d levels deep", ErrInvalidYAML, ErrLimit, maxYAMLDepth)}
	}
	f, err := yparser.Parse(tokens, 0)
	if err != nil {
		// Not err.Error(): goccy formats it with the source around the
		// token, which costs the square of the line's length (a 16 KB line
		// of "[]" took 136 MB, 200 KB over 20 GB).
		pos, msg := Position{File: file, Line: 1, Col: 1}, "syntax error"
		var ye yaml.Error
		if errors.As(err, &ye) {
			msg = ye.GetMessage()
			if tk := ye.GetToken(); tk != nil && tk.Position != nil {
				pos.Line, pos.Col = tk.Position.Line, tk.Position.Column
			}
		}
		return nil, &Error{Pos: pos, Err: fmt.Errorf("%w: %s", ErrInvalidYAML, msg)}
	}
	var docs []*ynode
	for _, d := range f.Docs {
		if d.Body == nil {
			continue
		}
		n, err := convert(file, d.Body, 0)
		if err != nil {
			return nil, err
		}
		docs = append(docs, n)
	}
	return docs, nil
}

func nodePos(file string, n ast.Node) Position {
	if t := n.GetToken(); t != nil && t.Position != nil {
		return Position{File: file, Line: t.Position.Line, Col: t.Position.Column}
	}
	return Position{File: file, Line: 1, Col: 1}
}

func convert(file string, n ast.Node, depth int) (*ynode, error) {
	if depth > 4*maxYAMLDepth { // keys and values count one each; yamlTooDeep checked first

		return nil, &Error{Pos: nodePos(file, n), Err: fmt.Errorf("%w: nesting too deep", ErrInvalidYAML)}
	}
	pos := nodePos(file, n)
	switch v := n.(type) {
	case *ast.DocumentNode:
		if v.Body == nil {
			return &ynode{pos: pos, kind: yNull}, nil
		}
		return convert(file, v.Body, depth+1)
	case *ast.NullNode:
		return &ynode{pos: pos, kind: yNull}, nil
	case *ast.MappingNode:
		out := &ynode{pos: pos, kind: yMap}
		if len(v.Values) > 0 {
			out.pos = nodePos(file, v.Values[0].Key)
		}
		for _, mv := range v.Values {
			if err := addPair(file, out, mv, depth); err != nil {
				return nil, err
			}
		}
		return out, nil
	case *ast.MappingValueNode:
		out := &ynode{pos: nodePos(file, v.Key), kind: yMap}
		if err := addPair(file, out, v, depth); err != nil {
			return nil, err
		}
		return out, nil
	case *ast.SequenceNode:
		out := &ynode{pos: pos, kind: ySeq}
		for _, item := range v.Values {
			if item == nil {
				out.seq = append(out.seq, &ynode{pos: pos, kind: yNull})
				continue
			}
			c, err := convert(file, item, depth+1)
			if err != nil {
				return nil, err
			}
			out.seq = append(out.seq, c)
		}
		return out, nil
	case *ast.LiteralNode:
		str := ""
		if v.Value != nil {
			str = v.Value.Value
		}
		return &ynode{pos: pos, kind: yScalar, str: str, quoted: true}, nil
	case *ast.StringNode:
		return &ynode{pos: pos, kind: yScalar, str: v.Value, quoted: true}, nil
	case *ast.AnchorNode:
		return convert(file, v.Value, depth+1)
	case *ast.TagNode:
		return convert(file, v.Value, depth+1)
	case *ast.AliasNode:
		return nil, &Error{Pos: pos, Err: fmt.Errorf("%w: YAML aliases are not supported in rules files", ErrInvalidYAML)}
	case ast.ScalarNode:
		t := v.GetToken()
		s := fmt.Sprint(v.GetValue())
		if t != nil {
			s = t.Value
		}
		return &ynode{pos: pos, kind: yScalar, str: s}, nil
	}
	return nil, &Error{Pos: pos, Err: fmt.Errorf("%w: unsupported YAML node %s", ErrInvalidYAML, n.Type())}
}

func addPair(file string, out *ynode, mv *ast.MappingValueNode, depth int) error {
	k, err := convert(file, mv.Key, depth+1)
	if err != nil {
		return err
	}
	if k.kind != yScalar {
		return &Error{Pos: k.pos, Err: fmt.Errorf("%w: mapping key must be a scalar", ErrInvalidYAML)}
	}
	var val *ynode
	if mv.Value == nil {
		val = &ynode{pos: k.pos, kind: yNull}
	} else if val, err = convert(file, mv.Value, depth+1); err != nil {
		return err
	}
	out.keys = append(out.keys, k.str)
	out.vals = append(out.vals, val)
	return nil
}
