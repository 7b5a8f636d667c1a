package detector

import (
	"sort"
	"strconv"
)

// typeSet is the set of event types a condition can match: the types in set,
// or, when negated, every type except those in set. The zero value is the
// empty set; {negated: true} is every type.
type typeSet struct {
	negated bool
	set     map[string]bool
}

var allTypes = typeSet{negated: true}

func (t typeSet) has(name string) bool { return t.set[name] != t.negated }

// all reports whether t is every event type.
func (t typeSet) all() bool { return t.negated && len(t.set) == 0 }

func (t typeSet) not() typeSet { return typeSet{negated: !t.negated, set: t.set} }

func union(a, b typeSet) typeSet {
	switch {
	case !a.negated && !b.negated: // A ∪ B
		return typeSet{set: setOr(a.set, b.set)}
	case a.negated && b.negated: // ¬A ∪ ¬B = ¬(A ∩ B)
		return typeSet{negated: true, set: setAnd(a.set, b.set)}
	case a.negated: // ¬A ∪ B = ¬(A − B)
		return typeSet{negated: true, set: setMinus(a.set, b.set)}
	default:
		return typeSet{negated: true, set: setMinus(b.set, a.set)}
	}
}

func intersect(a, b typeSet) typeSet {
	return union(a.not(), b.not()).not()
}

func setOr(a, b map[string]bool) map[string]bool {
	out := make(map[string]bool, len(a)+len(b))
	for k := range a {
		out[k] = true
	}
	for k := range b {
		out[k] = true
	}
	return out
}

func setAnd(a, b map[string]bool) map[string]bool {
	out := map[string]bool{}
	for k := range a {
		if b[k] {
			out[k] = true
		}
	}
	return out
}

func setMinus(a, b map[string]bool) map[string]bool {
	out := map[string]bool{}
	for k := range a {
		if !b[k] {
			out[k] = true
		}
	}
	return out
}

// eventTypes computes which evt.type values a condition can match, as
// Falco's evttype resolver does: checks of evt.type with =, ==, in and !=
// restrict the set; and/or/not combine (De Morgan under negation); every
// other check leaves it open in both polarities.
func (c *compiler) eventTypes(e Expr, neg bool) typeSet {
	switch e := e.(type) {
	case *AndExpr, *OrExpr:
		var kids []Expr
		isAnd := false
		if a, ok := e.(*AndExpr); ok {
			kids, isAnd = a.Children, true
		} else {
			kids = e.(*OrExpr).Children
		}
		if neg {
			isAnd = !isAnd
		}
		var acc typeSet
		for i, k := range kids {
			t := c.eventTypes(k, neg)
			switch {
			case i == 0:
				acc = t
			case isAnd:
				acc = intersect(acc, t)
			default:
				acc = union(acc, t)
			}
		}
		return acc
	case *NotExpr:
		return c.eventTypes(e.Child, !neg)
	case *IdentExpr:
		m := c.macros[e.Name]
		if m == nil {
			return allTypes
		}
		if c.expanding[e.Name] {
			return allTypes
		}
		c.enter(e.Name)
		defer func() { c.expanding[e.Name] = false }()
		return c.eventTypes(m.ast, neg)
	case *BinaryCheck:
		f, ok := e.Left.(*FieldExpr)
		if ok && f.Name == "evt.num" && !f.HasArg {
			// evt.num counts from 1: "evt.num=0" (Falco's never_true) matches
			// no event type, "evt.num>0" every one; negation inverts both.
			switch evtNumInvariant(e) {
			case invariantEmpty:
				if neg {
					return allTypes
				}
				return typeSet{}
			case invariantAll:
				if neg {
					return typeSet{}
				}
				return allTypes
			}
			return allTypes
		}
		if !ok || f.Name != "evt.type" || f.HasArg {
			return allTypes
		}
		var t typeSet
		switch e.Op {
		case "=", "==", "in", "!=":
			vals, lit := c.rightValues(e.Op, e.Right)
			if !lit {
				return allTypes
			}
			t.set = map[string]bool{}
			for _, v := range vals {
				t.set[v] = true
			}
		default:
			return allTypes
		}
		if e.Op == "!=" {
			t = t.not()
		}
		if neg {
			t = t.not()
		}
		return t
	}
	return allTypes
}

// list returns the set's names, sorted; nil for a negated set.
func (t typeSet) list() []string {
	if t.negated {
		return nil
	}
	out := make([]string, 0, len(t.set))
	for k := range t.set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

type invariant int

const (
	invariantUnknown invariant = iota
	invariantEmpty             // the check can never hold
	invariantAll               // the check always holds
)

// evtNumInvariant decides checks on evt.num statically from its invariant
// (it starts at 1), as libsinsp's event-type resolver does.
func evtNumInvariant(e *BinaryCheck) invariant {
	if e.Op == "in" {
		l, ok := e.Right.(*ListExpr)
		if !ok {
			return invariantUnknown
		}
		for _, v := range l.Values {
			if n, err := strconv.ParseUint(v, 0, 64); err != nil || n != 0 {
				return invariantUnknown
			}
		}
		return invariantEmpty
	}
	v, ok := e.Right.(*ValueExpr)
	if !ok {
		return invariantUnknown
	}
	n, err := strconv.ParseUint(v.Value, 0, 64)
	if err != nil {
		return invariantUnknown
	}
	switch {
	case (e.Op == "=" || e.Op == "==") && n == 0, e.Op == "<" && n <= 1, e.Op == "<=" && n == 0:
		return invariantEmpty
	case e.Op == "!=" && n == 0, e.Op == ">" && n == 0, e.Op == ">=" && n <= 1:
		return invariantAll
	}
	return invariantUnknown
}
