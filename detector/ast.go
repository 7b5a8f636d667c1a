package detector

import (
	"fmt"
	"strings"
)

// CondPos is a position inside a condition string: byte offset, and 1-based
// line and column, counted as Falco counts them (CR and LF start a line).
type CondPos struct {
	Idx, Line, Col int
}

func (p CondPos) String() string { return fmt.Sprintf("%d:%d", p.Line, p.Col) }

// Expr is a node of a parsed condition. The concrete types are *AndExpr,
// *OrExpr, *NotExpr, *IdentExpr, *UnaryCheck, *BinaryCheck (whose Left is a
// *FieldExpr or *TransformerExpr) and, as right-hand sides, *ValueExpr,
// *ListExpr, *FieldExpr and *TransformerExpr.
type Expr interface {
	Pos() CondPos
	String() string
}

type (
	// AndExpr is "a and b and ...".
	AndExpr struct {
		P        CondPos
		Children []Expr
	}
	// OrExpr is "a or b or ...".
	OrExpr struct {
		P        CondPos
		Children []Expr
	}
	// NotExpr negates Child.
	NotExpr struct {
		P     CondPos
		Child Expr
	}
	// IdentExpr is a bare identifier: a macro reference.
	IdentExpr struct {
		P    CondPos
		Name string
	}
	// FieldExpr is a field with an optional argument: proc.aname[2].
	FieldExpr struct {
		P      CondPos
		Name   string
		Arg    string
		HasArg bool
	}
	// TransformerExpr applies Name (tolower, toupper, b64, basename, len,
	// join, concat, getopt, val) to its arguments; Arg is an optional
	// "[arg]" after the closing parenthesis.
	TransformerExpr struct {
		P      CondPos
		Name   string
		Args   []Expr
		Arg    string
		HasArg bool
	}
	// TransformerList is a parenthesized argument list of a transformer.
	TransformerList struct {
		P     CondPos
		Items []Expr
	}
	// ValueExpr is a literal right-hand value (quotes removed, escapes
	// resolved), or an identifier naming a list after a list operator.
	ValueExpr struct {
		P     CondPos
		Value string
	}
	// ListExpr is "(a, b, c)".
	ListExpr struct {
		P      CondPos
		Values []string
	}
	// UnaryCheck is "field exists".
	UnaryCheck struct {
		P    CondPos
		Left Expr
		Op   string
	}
	// BinaryCheck is "field op value".
	BinaryCheck struct {
		P     CondPos
		Left  Expr
		Op    string
		Right Expr
	}
)

func (e *AndExpr) Pos() CondPos         { return e.P }
func (e *OrExpr) Pos() CondPos          { return e.P }
func (e *NotExpr) Pos() CondPos         { return e.P }
func (e *IdentExpr) Pos() CondPos       { return e.P }
func (e *FieldExpr) Pos() CondPos       { return e.P }
func (e *TransformerExpr) Pos() CondPos { return e.P }
func (e *TransformerList) Pos() CondPos { return e.P }
func (e *ValueExpr) Pos() CondPos       { return e.P }
func (e *ListExpr) Pos() CondPos        { return e.P }
func (e *UnaryCheck) Pos() CondPos      { return e.P }
func (e *BinaryCheck) Pos() CondPos     { return e.P }

func joinExprs(es []Expr, sep string) string {
	s := make([]string, len(es))
	for i, e := range es {
		s[i] = e.String()
	}
	return strings.Join(s, sep)
}

func (e *AndExpr) String() string   { return "(" + joinExprs(e.Children, " and ") + ")" }
func (e *OrExpr) String() string    { return "(" + joinExprs(e.Children, " or ") + ")" }
func (e *NotExpr) String() string   { return "not (" + e.Child.String() + ")" }
func (e *IdentExpr) String() string { return e.Name }
func (e *FieldExpr) String() string {
	if e.HasArg {
		if e.Arg != "" && strings.IndexFunc(e.Arg, func(r rune) bool { return strings.ContainsRune("[]\"' \t\n\r\f\v\b\\", r) }) < 0 {
			return e.Name + "[" + e.Arg + "]"
		}
		return e.Name + "[" + quoted(e.Arg) + "]"
	}
	return e.Name
}

// transformerArgs prints transformer arguments: literal values there must be
// quoted strings or numbers.
func transformerArgs(es []Expr) string {
	s := make([]string, len(es))
	for i, e := range es {
		if v, ok := e.(*ValueExpr); ok {
			p := &parser{in: v.Value, pos: CondPos{Line: 1, Col: 1}}
			if v.Value != "" && (p.hexNum() || p.num()) && p.pos.Idx == len(v.Value) {
				s[i] = v.Value
			} else {
				s[i] = quoted(v.Value)
			}
			continue
		}
		s[i] = e.String()
	}
	return strings.Join(s, ", ")
}

func (e *TransformerExpr) String() string {
	s := e.Name + "(" + transformerArgs(e.Args) + ")"
	if e.HasArg {
		s += "[" + quoted(e.Arg) + "]"
	}
	return s
}
func (e *TransformerList) String() string { return "(" + transformerArgs(e.Items) + ")" }
func (e *ValueExpr) String() string       { return quoteValue(e.Value) }
func (e *ListExpr) String() string {
	s := make([]string, len(e.Values))
	for i, v := range e.Values {
		s[i] = quoteValue(v)
	}
	return "(" + strings.Join(s, ", ") + ")"
}
func (e *UnaryCheck) String() string  { return e.Left.String() + " " + e.Op }
func (e *BinaryCheck) String() string { return e.Left.String() + " " + e.Op + " " + e.Right.String() }

// quoteValue writes v so that the parser reads it back unchanged.
func quoteValue(v string) string {
	if v != "" && strings.IndexFunc(v, func(r rune) bool {
		return strings.ContainsRune("()\"'=, \t\n\r\f\v\b\\", r)
	}) < 0 {
		return v
	}
	return quoted(v)
}

// quoted writes v double-quoted, with the escapes Falco's parser resolves.
func quoted(v string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(v); i++ {
		switch c := v[i]; c {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			if i == len(v)-1 {
				// Falco's lexer ends a string only at a quote not preceded
				// by a backslash; "\ " is its escape for a final backslash.
				b.WriteString(`\ `)
			} else {
				b.WriteString(`\\`)
			}
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}
