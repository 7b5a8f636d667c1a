package detector

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// evaluator is a compiled condition. It reads the event only through the
// accessors bound at compile time: no reflection, no map lookups.
type evaluator func(*Event) bool

// compiledRule is what the engine runs for one rule.
type compiledRule struct {
	source sourceID
	eval   evaluator
	types  typeSet
	output *outputFormat
}

// unknownFieldError is a compile error caused by a field the registry lacks:
// a load error, or a skipped rule with skip-if-unknown-filter or
// LoadOptions.SkipUnknownFields.
type unknownFieldError struct {
	field string
	err   error
}

func (e *unknownFieldError) Error() string { return e.err.Error() }
func (e *unknownFieldError) Unwrap() error { return e.err }

// ErrUndefinedMacro marks a condition using an identifier that is neither a
// macro nor a list.
var ErrUndefinedMacro = errors.New("undefined macro")

// ErrBadCheck marks a check whose operator does not fit the field's type, or
// whose value does not parse.
var ErrBadCheck = errors.New("invalid check")

// compiler resolves macros and lists and compiles checks for one source.
type compiler struct {
	reg    *registry
	macros map[string]*macroDef
	lists  map[string][]string
	// expanding holds the macros being expanded, to catch cycles in O(1):
	// a chain of n macros would cost n^2 with a scan.
	expanding map[string]bool
	// nodes counts the condition's nodes with macros expanded at each use;
	// past maxNodes (if > 0) compile fails with ErrLimit (limits.go).
	nodes, maxNodes int
}

type macroDef struct {
	name string
	ast  Expr
	pos  Position
	pm   posMap // rewritten text -> text in the file
	node *ynode
	used bool
}

func (c *compiler) errorf(pos CondPos, sentinel error, format string, args ...any) error {
	return &condError{pos: pos, err: fmt.Errorf("%w: %s", sentinel, fmt.Sprintf(format, args...))}
}

// condError is a compile error at a position inside a condition.
type condError struct {
	pos   CondPos
	macro string // set when the error lies inside a macro's condition
	err   error
}

func (e *condError) Error() string {
	if e.macro != "" {
		return fmt.Sprintf("in macro %s at %s: %v", e.macro, e.pos, e.err)
	}
	return fmt.Sprintf("%s: %v", e.pos, e.err)
}
func (e *condError) Unwrap() error { return e.err }

func (c *compiler) compile(e Expr) (evaluator, error) {
	if c.nodes++; c.maxNodes > 0 && c.nodes > c.maxNodes {
		return nil, c.errorf(e.Pos(), ErrLimit, "more than %d condition nodes with macros expanded", c.maxNodes)
	}
	switch e := e.(type) {
	case *AndExpr:
		evs, err := c.compileAll(e.Children)
		if err != nil {
			return nil, err
		}
		return andOf(evs), nil
	case *OrExpr:
		evs, err := c.compileAll(e.Children)
		if err != nil {
			return nil, err
		}
		return orOf(evs), nil
	case *NotExpr:
		ev, err := c.compile(e.Child)
		if err != nil {
			return nil, err
		}
		return func(x *Event) bool { return !ev(x) }, nil
	case *IdentExpr:
		m := c.macros[e.Name]
		if m == nil {
			return nil, c.errorf(e.P, ErrUndefinedMacro, "%s", e.Name)
		}
		if c.expanding[e.Name] {
			return nil, c.errorf(e.P, ErrUndefinedMacro, "macro %s refers to itself", e.Name)
		}
		m.used = true
		c.enter(e.Name)
		ev, err := c.compile(m.ast)
		c.expanding[e.Name] = false
		if err != nil {
			var ce *condError
			if errors.As(err, &ce) && ce.macro == "" {
				ce.macro = e.Name
			}
			return nil, err
		}
		return ev, nil
	case *UnaryCheck:
		acc, err := c.operand(e.Left)
		if err != nil {
			return nil, err
		}
		return existsCheck(acc), nil
	case *BinaryCheck:
		return c.binary(e)
	}
	return nil, c.errorf(e.Pos(), ErrBadCheck, "unexpected %T", e)
}

// enter marks macro name as being expanded.
func (c *compiler) enter(name string) {
	if c.expanding == nil {
		c.expanding = map[string]bool{}
	}
	c.expanding[name] = true
}

func (c *compiler) compileAll(es []Expr) ([]evaluator, error) {
	out := make([]evaluator, len(es))
	for i, e := range es {
		ev, err := c.compile(e)
		if err != nil {
			return nil, err
		}
		out[i] = ev
	}
	return out, nil
}

func andOf(evs []evaluator) evaluator {
	switch len(evs) {
	case 2:
		a, b := evs[0], evs[1]
		return func(x *Event) bool { return a(x) && b(x) }
	case 3:
		a, b, c := evs[0], evs[1], evs[2]
		return func(x *Event) bool { return a(x) && b(x) && c(x) }
	}
	return func(x *Event) bool {
		for _, ev := range evs {
			if !ev(x) {
				return false
			}
		}
		return true
	}
}

func orOf(evs []evaluator) evaluator {
	switch len(evs) {
	case 2:
		a, b := evs[0], evs[1]
		return func(x *Event) bool { return a(x) || b(x) }
	case 3:
		a, b, c := evs[0], evs[1], evs[2]
		return func(x *Event) bool { return a(x) || b(x) || c(x) }
	}
	return func(x *Event) bool {
		for _, ev := range evs {
			if ev(x) {
				return true
			}
		}
		return false
	}
}

// operand compiles a field or transformer into an accessor.
func (c *compiler) operand(e Expr) (accessor, error) {
	switch e := e.(type) {
	case *FieldExpr:
		_, acc, err := c.reg.lookup(e.Name, e.Arg, e.HasArg)
		if err != nil {
			if errors.Is(err, ErrUnknownField) {
				return accessor{}, &unknownFieldError{field: e.Name, err: &condError{pos: e.P, err: err}}
			}
			return accessor{}, &condError{pos: e.P, err: fmt.Errorf("%w: %v", ErrBadCheck, err)}
		}
		return acc, nil
	case *TransformerExpr:
		return c.transformer(e)
	}
	return accessor{}, c.errorf(e.Pos(), ErrBadCheck, "expected a field or a transformer, got %s", e)
}

func (c *compiler) transformer(t *TransformerExpr) (accessor, error) {
	switch {
	case t.Name == "join" || t.Name == "concat" || t.Name == "getopt":
		// libsinsp's newest transformers: treated like a field sysward lacks
		return accessor{}, &unknownFieldError{field: t.Name + "()", err: c.errorf(t.P, ErrUnknownField, "transformer %s is not supported by sysward", t.Name)}
	case t.HasArg:
		return accessor{}, c.errorf(t.P, ErrBadCheck, "transformer %s takes no [argument]", t.Name)
	}
	if len(t.Args) != 1 {
		return accessor{}, c.errorf(t.P, ErrBadCheck, "transformer %s takes one argument", t.Name)
	}
	in, err := c.operand(t.Args[0])
	if err != nil {
		return accessor{}, err
	}
	if t.Name == "val" {
		return in, nil
	}
	in = single(in)
	if t.Name == "len" {
		switch {
		case in.typ == TypeList:
			l := in.list
			return accessor{typ: TypeInt, num: func(e *Event) (int64, bool) { return int64(len(l(e))), true }}, nil
		case in.typ == TypeString:
			s := in.str
			return accessor{typ: TypeInt, num: func(e *Event) (int64, bool) { v, ok := s(e); return int64(len(v)), ok }}, nil
		}
		return accessor{}, c.errorf(t.P, ErrBadCheck, "len needs a string or list field")
	}
	if in.typ != TypeString {
		return accessor{}, c.errorf(t.P, ErrBadCheck, "transformer %s needs a string field, not %s", t.Name, in.typ)
	}
	var f func(string) (string, bool)
	switch t.Name {
	case "tolower":
		f = func(s string) (string, bool) { return strings.ToLower(s), true }
	case "toupper":
		f = func(s string) (string, bool) { return strings.ToUpper(s), true }
	case "b64":
		f = func(s string) (string, bool) {
			b, err := base64.StdEncoding.DecodeString(s)
			return string(b), err == nil
		}
	case "basename":
		f = func(s string) (string, bool) {
			if i := strings.LastIndexByte(s, '/'); i >= 0 {
				return s[i+1:], true
			}
			return s, true
		}
	default:
		return accessor{}, c.errorf(t.P, ErrBadCheck, "unknown transformer %s", t.Name)
	}
	src := in.str
	return accessor{typ: TypeString, str: func(e *Event) (string, bool) {
		v, ok := src(e)
		if !ok {
			return "", false
		}
		return f(v)
	}}, nil
}

// single turns a many-valued accessor into one value: the parent for an
// any-ancestor field, the first non-empty end for a connection pair.
func single(a accessor) accessor {
	if a.ports != nil {
		ports := a.ports
		return accessor{typ: TypeInt, num: func(e *Event) (int64, bool) {
			x, y := ports(e)
			if x == 0 {
				x = y
			}
			return x, x != 0
		}}
	}
	if a.pair != nil {
		pair := a.pair
		return accessor{typ: TypeString, str: func(e *Event) (string, bool) {
			x, y := pair(e)
			if x == "" {
				x = y
			}
			return x, x != ""
		}}
	}
	if a.ancestors == nil {
		return a
	}
	return firstAncestor(a)
}

// firstAncestor turns an any-ancestor accessor into "the parent".
func firstAncestor(a accessor) accessor {
	anc := a.ancestors
	return accessor{typ: TypeString, str: func(e *Event) (string, bool) {
		if len(e.Proc.Ancestors) == 0 {
			return "", false
		}
		s := anc(&e.Proc.Ancestors[0])
		return s, s != ""
	}}
}

func existsCheck(a accessor) evaluator {
	switch {
	case a.ports != nil:
		ports := a.ports
		return func(e *Event) bool { x, y := ports(e); return x != 0 || y != 0 }
	case a.pair != nil:
		pair := a.pair
		return func(e *Event) bool { x, y := pair(e); return x != "" || y != "" }
	case a.ancestors != nil:
		anc := a.ancestors
		return func(e *Event) bool {
			for i := range e.Proc.Ancestors {
				if anc(&e.Proc.Ancestors[i]) != "" {
					return true
				}
			}
			return false
		}
	case a.str != nil:
		f := a.str
		return func(e *Event) bool { _, ok := f(e); return ok }
	case a.num != nil:
		f := a.num
		return func(e *Event) bool { _, ok := f(e); return ok }
	default:
		f := a.list
		return func(e *Event) bool { return len(f(e)) > 0 }
	}
}

// rightValues returns the literal values on the right of a check, with list
// names expanded.
func (c *compiler) rightValues(op string, e Expr) ([]string, bool) {
	switch e := e.(type) {
	case *ValueExpr:
		if isListOp(op) {
			if l, ok := c.lists[e.Value]; ok {
				return l, true
			}
		}
		return []string{e.Value}, true
	case *ListExpr:
		var out []string
		for _, v := range e.Values {
			if l, ok := c.lists[v]; ok {
				out = append(out, l...)
			} else {
				out = append(out, v)
			}
		}
		return out, true
	}
	return nil, false
}

func isListOp(op string) bool { return op == "in" || op == "intersects" || op == "pmatch" }

func (c *compiler) binary(b *BinaryCheck) (evaluator, error) {
	left, err := c.operand(b.Left)
	if err != nil {
		return nil, err
	}
	if base, mod, ok := strings.Cut(b.Op, " "); ok {
		return c.modified(b, left, base, mod)
	}
	vals, literal := c.rightValues(b.Op, b.Right)
	if !literal {
		right, err := c.operand(b.Right)
		if err != nil {
			return nil, err
		}
		ev, err := fieldCompare(left, b.Op, right)
		if err != nil {
			return nil, c.errorf(b.P, ErrBadCheck, "%v", err)
		}
		return ev, nil
	}
	var ev evaluator
	switch {
	case left.ports != nil:
		ports := left.ports
		var one, other evaluator
		one, err = numCheck(func(e *Event) (int64, bool) { x, _ := ports(e); return x, x != 0 }, b.Op, vals)
		if err == nil {
			other, err = numCheck(func(e *Event) (int64, bool) { _, y := ports(e); return y, y != 0 }, b.Op, vals)
			ev = func(e *Event) bool { return one(e) || other(e) }
		}
	case left.typ == TypeIPNet:
		var pred func(string) bool
		if pred, err = netPred(b.Op, vals); err == nil {
			ev = anyValue(left, pred)
		}
	case left.pair != nil:
		var pred func(string) bool
		if pred, err = strPred(b.Op, vals); err == nil {
			ev = anyValue(left, pred)
		}
	case left.ancestors != nil:
		var pred func(string) bool
		if pred, err = strPred(b.Op, vals); err == nil {
			anc := left.ancestors
			ev = func(e *Event) bool {
				for i := range e.Proc.Ancestors {
					if s := anc(&e.Proc.Ancestors[i]); s != "" && pred(s) {
						return true
					}
				}
				return false
			}
		}
	case left.typ == TypeString:
		ev, err = strCheck(left.str, b.Op, vals)
	case left.typ == TypeList:
		ev, err = listCheck(left.list, b.Op, vals)
	case left.typ == TypeBool:
		ev, err = boolCheck(left.num, b.Op, vals)
	default:
		ev, err = numCheck(left.num, b.Op, vals)
	}
	if err != nil {
		return nil, c.errorf(b.P, ErrBadCheck, "%s %s: %v", b.Left, b.Op, err)
	}
	return ev, nil
}

// modified compiles "field op oneof|anyof|allof (values)": op must hold for
// exactly one, at least one, or every value.
func (c *compiler) modified(b *BinaryCheck, left accessor, base, mod string) (evaluator, error) {
	vals, _ := c.rightValues("in", b.Right) // a list, or a list name
	left = single(left)
	checks := make([]evaluator, 0, len(vals))
	for _, v := range vals {
		var ev evaluator
		var err error
		switch left.typ {
		case TypeString:
			ev, err = strCheck(left.str, base, []string{v})
		case TypeBool:
			ev, err = boolCheck(left.num, base, []string{v})
		case TypeList:
			err = fmt.Errorf("operator modifiers do not apply to list fields")
		default:
			ev, err = numCheck(left.num, base, []string{v})
		}
		if err != nil {
			return nil, c.errorf(b.P, ErrBadCheck, "%s %s: %v", b.Left, b.Op, err)
		}
		checks = append(checks, ev)
	}
	exists := existsCheck(left)
	return func(e *Event) bool {
		if !exists(e) {
			return false
		}
		n := 0
		for _, ch := range checks {
			if ch(e) {
				n++
			}
		}
		switch mod {
		case "oneof":
			return n == 1
		case "anyof":
			return n > 0
		}
		return n == len(checks)
	}, nil
}

// anyValue applies pred to a single-valued or pair accessor (either end).
func anyValue(a accessor, pred func(string) bool) evaluator {
	if a.pair != nil {
		pair := a.pair
		return func(e *Event) bool {
			x, y := pair(e)
			return x != "" && pred(x) || y != "" && pred(y)
		}
	}
	get := a.str
	return func(e *Event) bool { s, ok := get(e); return ok && pred(s) }
}

// netPred compiles a check of an IP address against networks: "=" and "in"
// hold when a network contains the address, "!=" when it does not. A value
// without a prefix length is a single address.
func netPred(op string, vals []string) (func(string) bool, error) {
	nets := make([]netip.Prefix, 0, len(vals))
	for _, v := range vals {
		p, err := netip.ParsePrefix(v)
		if err != nil {
			a, aerr := netip.ParseAddr(v)
			if aerr != nil {
				return nil, fmt.Errorf("%q is not an IP network or address", v)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		nets = append(nets, p.Masked())
	}
	in := func(s string) bool {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return false
		}
		a = a.Unmap()
		for _, n := range nets {
			if n.Contains(a) {
				return true
			}
		}
		return false
	}
	switch op {
	case "=", "==", "in", "intersects":
		return in, nil
	case "!=":
		if len(nets) != 1 {
			return nil, fmt.Errorf("operator != takes one value")
		}
		return func(s string) bool { return !in(s) }, nil
	}
	return nil, fmt.Errorf("operator %s not supported for IP networks (use =, !=, in)", op)
}

// strCheck specializes the common string checks so that a check is one
// indirect call to the accessor plus inline comparison.
func strCheck(get func(*Event) (string, bool), op string, vals []string) (evaluator, error) {
	if len(vals) == 1 {
		v := vals[0]
		switch op {
		case "=", "==":
			return func(e *Event) bool { s, ok := get(e); return ok && s == v }, nil
		case "!=":
			return func(e *Event) bool { s, ok := get(e); return ok && s != v }, nil
		case "startswith":
			return func(e *Event) bool { s, ok := get(e); return ok && strings.HasPrefix(s, v) }, nil
		case "endswith":
			return func(e *Event) bool { s, ok := get(e); return ok && strings.HasSuffix(s, v) }, nil
		case "contains":
			return func(e *Event) bool { s, ok := get(e); return ok && strings.Contains(s, v) }, nil
		}
	}
	if op == "in" || op == "intersects" {
		set := newStrSet(vals)
		return func(e *Event) bool { s, ok := get(e); return ok && set.has(s) }, nil
	}
	pred, err := strPred(op, vals)
	if err != nil {
		return nil, err
	}
	return func(e *Event) bool { s, ok := get(e); return ok && pred(s) }, nil
}

// strPred compiles op+values into a predicate over one string.
func strPred(op string, vals []string) (func(string) bool, error) {
	one := func() (string, error) {
		if len(vals) != 1 {
			return "", fmt.Errorf("operator %s takes one value", op)
		}
		return vals[0], nil
	}
	switch op {
	case "in", "intersects":
		set := newStrSet(vals)
		return set.has, nil
	case "pmatch":
		prefixes := append([]string(nil), vals...)
		return func(s string) bool {
			for _, p := range prefixes {
				if pathPrefix(s, p) {
					return true
				}
			}
			return false
		}, nil
	}
	v, err := one()
	if err != nil {
		return nil, err
	}
	switch op {
	case "=", "==":
		return func(s string) bool { return s == v }, nil
	case "!=":
		return func(s string) bool { return s != v }, nil
	case "contains":
		return func(s string) bool { return strings.Contains(s, v) }, nil
	case "icontains":
		lv := strings.ToLower(v)
		return func(s string) bool { return containsFold(s, lv) }, nil
	case "startswith":
		return func(s string) bool { return strings.HasPrefix(s, v) }, nil
	case "endswith":
		return func(s string) bool { return strings.HasSuffix(s, v) }, nil
	case "bcontains", "bstartswith":
		b, err := hex.DecodeString(v)
		if err != nil {
			return nil, fmt.Errorf("%s needs a hex byte string: %v", op, err)
		}
		bs := string(b)
		if op == "bcontains" {
			return func(s string) bool { return strings.Contains(s, bs) }, nil
		}
		return func(s string) bool { return strings.HasPrefix(s, bs) }, nil
	case "glob":
		return func(s string) bool { return globMatch(v, s, false) }, nil
	case "iglob":
		return func(s string) bool { return globMatch(v, s, true) }, nil
	case "regex":
		re, err := regexp.Compile(v)
		if err != nil {
			return nil, fmt.Errorf("bad regex: %v", err)
		}
		return re.MatchString, nil
	case "<":
		return func(s string) bool { return s < v }, nil
	case "<=":
		return func(s string) bool { return s <= v }, nil
	case ">":
		return func(s string) bool { return s > v }, nil
	case ">=":
		return func(s string) bool { return s >= v }, nil
	}
	return nil, fmt.Errorf("operator %s not supported for strings", op)
}

func parseNum(v string) (int64, error) {
	n, err := strconv.ParseInt(v, 0, 64)
	if err != nil {
		if f, ferr := strconv.ParseFloat(v, 64); ferr == nil && f == float64(int64(f)) {
			return int64(f), nil
		}
		return 0, fmt.Errorf("%q is not a number", v)
	}
	return n, nil
}

func numCheck(get func(*Event) (int64, bool), op string, vals []string) (evaluator, error) {
	nums := make([]int64, len(vals))
	for i, v := range vals {
		n, err := parseNum(v)
		if err != nil {
			return nil, err
		}
		nums[i] = n
	}
	if op == "in" || op == "intersects" {
		return func(e *Event) bool {
			n, ok := get(e)
			if !ok {
				return false
			}
			for _, v := range nums {
				if n == v {
					return true
				}
			}
			return false
		}, nil
	}
	if len(nums) != 1 {
		return nil, fmt.Errorf("operator %s takes one value", op)
	}
	v := nums[0]
	switch op {
	case "=", "==":
		return func(e *Event) bool { n, ok := get(e); return ok && n == v }, nil
	case "!=":
		return func(e *Event) bool { n, ok := get(e); return ok && n != v }, nil
	case "<":
		return func(e *Event) bool { n, ok := get(e); return ok && n < v }, nil
	case "<=":
		return func(e *Event) bool { n, ok := get(e); return ok && n <= v }, nil
	case ">":
		return func(e *Event) bool { n, ok := get(e); return ok && n > v }, nil
	case ">=":
		return func(e *Event) bool { n, ok := get(e); return ok && n >= v }, nil
	}
	return nil, fmt.Errorf("operator %s not supported for numbers", op)
}

func boolCheck(get func(*Event) (int64, bool), op string, vals []string) (evaluator, error) {
	var want []int64
	for _, v := range vals {
		switch strings.ToLower(v) {
		case "true":
			want = append(want, 1)
		case "false":
			want = append(want, 0)
		default:
			return nil, fmt.Errorf("%q is not a boolean (true or false)", v)
		}
	}
	switch op {
	case "=", "==", "in":
		if len(want) == 1 {
			w := want[0]
			return func(e *Event) bool { n, ok := get(e); return ok && n == w }, nil
		}
		return func(e *Event) bool {
			n, ok := get(e)
			if !ok {
				return false
			}
			for _, w := range want {
				if n == w {
					return true
				}
			}
			return false
		}, nil
	case "!=":
		if len(want) != 1 {
			return nil, fmt.Errorf("operator != takes one value")
		}
		w := want[0]
		return func(e *Event) bool { n, ok := get(e); return ok && n != w }, nil
	}
	return nil, fmt.Errorf("operator %s not supported for booleans", op)
}

// listCheck: "in" holds when every element is in the set, "intersects" when
// one is.
func listCheck(get func(*Event) []string, op string, vals []string) (evaluator, error) {
	set := newStrSet(vals)
	switch op {
	case "in":
		return func(e *Event) bool {
			l := get(e)
			for _, s := range l {
				if !set.has(s) {
					return false
				}
			}
			return len(l) > 0
		}, nil
	case "intersects":
		return func(e *Event) bool {
			for _, s := range get(e) {
				if set.has(s) {
					return true
				}
			}
			return false
		}, nil
	}
	return nil, fmt.Errorf("operator %s not supported for lists (use in, intersects, exists)", op)
}

// fieldCompare compiles "field op val(other)" and "field op transformer(...)".
func fieldCompare(l accessor, op string, r accessor) (evaluator, error) {
	l, r = single(l), single(r)
	if l.typ == TypeList || r.typ == TypeList {
		return nil, fmt.Errorf("list fields cannot be compared with a field")
	}
	if l.num != nil && r.num != nil {
		lf, rf := l.num, r.num
		var cmp func(a, b int64) bool
		switch op {
		case "=", "==", "in", "intersects":
			cmp = func(a, b int64) bool { return a == b }
		case "!=":
			cmp = func(a, b int64) bool { return a != b }
		case "<":
			cmp = func(a, b int64) bool { return a < b }
		case "<=":
			cmp = func(a, b int64) bool { return a <= b }
		case ">":
			cmp = func(a, b int64) bool { return a > b }
		case ">=":
			cmp = func(a, b int64) bool { return a >= b }
		default:
			return nil, fmt.Errorf("operator %s not supported between numbers", op)
		}
		return func(e *Event) bool {
			a, ok1 := lf(e)
			b, ok2 := rf(e)
			return ok1 && ok2 && cmp(a, b)
		}, nil
	}
	if l.str == nil || r.str == nil {
		return nil, fmt.Errorf("operator %s: both sides must be strings or both numbers", op)
	}
	var cmp func(a, b string) bool
	switch op {
	case "=", "==", "in", "intersects":
		cmp = func(a, b string) bool { return a == b }
	case "!=":
		cmp = func(a, b string) bool { return a != b }
	case "contains":
		cmp = strings.Contains
	case "icontains":
		cmp = func(a, b string) bool { return containsFold(a, strings.ToLower(b)) }
	case "startswith":
		cmp = strings.HasPrefix
	case "endswith":
		cmp = strings.HasSuffix
	case "glob":
		cmp = func(a, b string) bool { return globMatch(b, a, false) }
	case "iglob":
		cmp = func(a, b string) bool { return globMatch(b, a, true) }
	case "pmatch":
		cmp = pathPrefix
	case "<":
		cmp = func(a, b string) bool { return a < b }
	case "<=":
		cmp = func(a, b string) bool { return a <= b }
	case ">":
		cmp = func(a, b string) bool { return a > b }
	case ">=":
		cmp = func(a, b string) bool { return a >= b }
	default:
		return nil, fmt.Errorf("operator %s not supported with a field on the right", op)
	}
	lf, rf := l.str, r.str
	return func(e *Event) bool {
		a, ok1 := lf(e)
		b, ok2 := rf(e)
		return ok1 && ok2 && cmp(a, b)
	}, nil
}

// strSet is a set of strings searched without hashing: linear for a few
// values, binary search over a sorted slice beyond.
type strSet struct {
	vals []string
}

func newStrSet(vals []string) *strSet {
	s := &strSet{vals: append([]string(nil), vals...)}
	sort.Strings(s.vals)
	return s
}

func (s *strSet) has(v string) bool {
	vals := s.vals
	if len(vals) <= 8 {
		for _, x := range vals {
			if x == v {
				return true
			}
		}
		return false
	}
	lo, hi := 0, len(vals)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if vals[m] < v {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo < len(vals) && vals[lo] == v
}

// containsFold reports whether s contains lower (already lower-case),
// ignoring ASCII case, without allocating.
func containsFold(s, lower string) bool {
	n := len(lower)
	if n == 0 {
		return true
	}
outer:
	for i := 0; i+n <= len(s); i++ {
		for j := 0; j < n; j++ {
			c := s[i+j]
			if c >= 'A' && c <= 'Z' {
				c += 'a' - 'A'
			}
			if c != lower[j] {
				continue outer
			}
		}
		return true
	}
	return false
}

// pathPrefix reports whether path equals prefix or lies below it, compared
// by path component (Falco's pmatch).
func pathPrefix(path, prefix string) bool {
	prefix = strings.TrimSuffix(prefix, "/")
	if prefix == "" {
		return strings.HasPrefix(path, "/")
	}
	if !strings.HasPrefix(path, prefix) {
		return false
	}
	return len(path) == len(prefix) || path[len(prefix)] == '/'
}

// globMatch matches s against a shell glob: * (any run, including '/'),
// ? (one byte), [...] classes with ranges and ! or ^ negation, \ escapes.
func globMatch(pattern, s string, fold bool) bool {
	px, sx := 0, 0
	nextPx, nextSx := -1, -1
	for px < len(pattern) || sx < len(s) {
		if px < len(pattern) {
			c := pattern[px]
			switch c {
			case '*':
				nextPx, nextSx = px, sx+1
				px++
				continue
			case '?':
				if sx < len(s) {
					px++
					sx++
					continue
				}
			case '[':
				if sx < len(s) {
					if ok, n := matchClass(pattern[px:], s[sx], fold); n > 0 {
						if ok {
							px += n
							sx++
							continue
						}
					} else if eqByte(c, s[sx], fold) { // unterminated class: literal '['
						px++
						sx++
						continue
					}
				}
			case '\\':
				if px+1 < len(pattern) && sx < len(s) && eqByte(pattern[px+1], s[sx], fold) {
					px += 2
					sx++
					continue
				}
			default:
				if sx < len(s) && eqByte(c, s[sx], fold) {
					px++
					sx++
					continue
				}
			}
		}
		if nextSx > 0 && nextSx <= len(s) {
			px, sx = nextPx, nextSx
			continue
		}
		return false
	}
	return true
}

func eqByte(a, b byte, fold bool) bool {
	if a == b {
		return true
	}
	if !fold {
		return false
	}
	if a >= 'A' && a <= 'Z' {
		a += 'a' - 'A'
	}
	if b >= 'A' && b <= 'Z' {
		b += 'a' - 'A'
	}
	return a == b
}

// matchClass matches c against the class at the start of p ("[...]"). n is
// the class's length, 0 if it is not terminated.
func matchClass(p string, c byte, fold bool) (ok bool, n int) {
	i := 1
	neg := false
	if i < len(p) && (p[i] == '!' || p[i] == '^') {
		neg = true
		i++
	}
	first := true
	for i < len(p) {
		if p[i] == ']' && !first {
			return ok != neg, i + 1
		}
		first = false
		lo := p[i]
		hi := lo
		if i+2 < len(p) && p[i+1] == '-' && p[i+2] != ']' {
			hi = p[i+2]
			i += 3
		} else {
			i++
		}
		if lo <= c && c <= hi || fold && (eqByte(lo, c, true) || eqByte(hi, c, true)) {
			ok = true
		}
	}
	return false, 0
}
