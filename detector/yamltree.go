package detector

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml/ast"
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
	f, err := yparser.ParseBytes(data, 0)
	if err != nil {
		// goccy's message starts with "[line:col] ..."
		msg := err.Error()
		line, col := 1, 1
		if strings.HasPrefix(msg, "[") {
			if end := strings.IndexByte(msg, ']'); end > 0 {
				if l, c, ok := strings.Cut(msg[1:end], ":"); ok {
					line, _ = strconv.Atoi(l)
					col, _ = strconv.Atoi(c)
				}
				msg = strings.TrimSpace(msg[end+1:])
				if i := strings.IndexByte(msg, '\n'); i >= 0 {
					msg = msg[:i]
				}
			}
		}
		return nil, &Error{Pos: Position{File: file, Line: line, Col: col}, Err: fmt.Errorf("%w: %s", ErrInvalidYAML, msg)}
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
	if depth > 200 {
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
