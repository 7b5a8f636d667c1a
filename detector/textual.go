package detector

import "strings"

// Falco's rule loader works on condition text before parsing: it appends a
// rule's exceptions as text, then substitutes every list name that stands
// between delimiters with the list's items. sysward does the same, so that a
// rules file means (and fails) exactly what it does in Falco, and keeps a map
// from the rewritten text back to the original so that errors still point
// into the file.

// textMap maps offsets of a rewritten condition back to the text it was
// rewritten from. Each piece starts at new offset at; copied pieces map
// one-to-one onto orig, synthesized ones all map to orig.
type textMap struct {
	pieces []textPiece
}

type textPiece struct {
	at, orig int
	copied   bool
}

// posMap is a chain of rewrites, newest first.
type posMap []*textMap

// back maps an offset of the newest text to the original (-1: inside text
// that has no origin, such as an appended exception).
func (pm posMap) back(idx int) int {
	for _, m := range pm {
		if idx < 0 {
			return -1
		}
		idx = m.back(idx)
	}
	return idx
}

func (m *textMap) back(idx int) int {
	if len(m.pieces) == 0 {
		return idx
	}
	i := len(m.pieces) - 1
	for i > 0 && m.pieces[i].at > idx {
		i--
	}
	p := m.pieces[i]
	if p.copied {
		return p.orig + (idx - p.at)
	}
	return p.orig
}

// rewrite accumulates a new text and its map to the old one.
type rewrite struct {
	b strings.Builder
	m textMap
}

func (r *rewrite) copy(old string, from, to int) {
	if to <= from {
		return
	}
	r.m.pieces = append(r.m.pieces, textPiece{at: r.b.Len(), orig: from, copied: true})
	r.b.WriteString(old[from:to])
}

func (r *rewrite) add(s string, orig int) {
	if s == "" {
		return
	}
	r.m.pieces = append(r.m.pieces, textPiece{at: r.b.Len(), orig: orig})
	r.b.WriteString(s)
}

const (
	listBlanks = " \t\n\r"
	listDelims = listBlanks + "(),="
)

// quoteItem quotes a list or exception value that holds a space and is not
// quoted already (Falco's quote_item).
func quoteItem(e string) string {
	if strings.Contains(e, " ") && (e == "" || (e[0] != '"' && e[0] != '\'')) {
		return `"` + e + `"`
	}
	return e
}

// resolveList substitutes one list into cond as Falco's resolve_list does:
// each occurrence of the name bounded by delimiters (or the ends), with the
// blanks around it, becomes " item1, item2 ". It reports whether the list
// was used and how to map the result back (newest first). budget is what
// the load may still write (maxSubstitutionBytes): every substitution
// rewrites the whole text, so it is charged the new text's length.
func resolveList(cond, name string, items []string, budget *int) (string, posMap, bool, error) {
	if name == "" || !strings.Contains(cond, name) {
		return cond, nil, false, nil
	}
	var sub strings.Builder
	for i, v := range items {
		if i > 0 {
			sub.WriteString(", ")
		}
		sub.WriteString(quoteItem(v))
	}
	used := false
	// The current text is cur; m maps it to the input of this call.
	cur := cond
	var m posMap
	start := strings.Index(cur, name)
	for start >= 0 {
		end := start + len(name)
		if (start == 0 || strings.IndexByte(listDelims, cur[start-1]) >= 0) &&
			(end >= len(cur) || strings.IndexByte(listDelims, cur[end]) >= 0) {
			for start > 0 && strings.IndexByte(listBlanks, cur[start-1]) >= 0 {
				start--
			}
			for end < len(cur) && strings.IndexByte(listBlanks, cur[end]) >= 0 {
				end++
			}
			s := sub.String()
			if s == "" {
				if start > 0 && cur[start-1] == ',' {
					start--
				} else if end < len(cur) && cur[end] == ',' {
					end++
				}
			}
			n := start + 1 + len(s) + 1 + len(cur) - end
			if n > maxConditionBytes {
				return "", nil, false, limitErr("substituting list %s makes the condition longer than %d bytes", name, maxConditionBytes)
			}
			if *budget -= n; *budget < 0 {
				return "", nil, false, limitErr("substituting list %s: list substitutions write more than %d bytes in all", name, maxSubstitutionBytes)
			}
			var r rewrite
			if start > 0 {
				r.copy(cur, 0, start)
				r.add(" ", start)
			}
			r.add(s+" ", start)
			r.copy(cur, end, len(cur))
			next := r.b.String()
			m = append(posMap{&r.m}, m...)
			cur = next
			start += len(s) + 1
			used = true
		}
		if start+1 > len(cur) {
			break
		}
		i := strings.Index(cur[start+1:], name)
		if i < 0 {
			break
		}
		start = start + 1 + i
	}
	return cur, m, used, nil
}

// resolveLists substitutes every list, in definition order, within budget
// (see resolveList).
func resolveLists(cond string, lists []compiledList, budget *int) (string, posMap, error) {
	var m posMap
	for _, l := range lists {
		next, lm, ok, err := resolveList(cond, l.name, l.items, budget)
		if err != nil {
			return "", nil, err
		}
		if ok {
			cond = next
			m = append(lm, m...)
		}
	}
	return cond, m, nil
}

// compiledList is a list with its references to earlier lists expanded.
type compiledList struct {
	name  string
	items []string
}

// exceptionsText appends a rule's exceptions to its condition as Falco's
// build_rule_exception_infos does: "(cond) and not (...)" per exception.
// Text added has no origin in the condition (maps to -1).
func exceptionsText(cond string, exs []Exception) (string, posMap) {
	var r rewrite
	r.add("(", 0)
	r.copy(cond, 0, len(cond))
	r.add(")", len(cond))
	for _, ex := range exs {
		var ic strings.Builder
		if ex.SingleField {
			for _, row := range ex.Values {
				for _, v := range row[0].List {
					if ic.Len() == 0 {
						ic.WriteString("(" + ex.Fields[0] + " " + ex.Comps[0] + " (")
					} else {
						ic.WriteString(", ")
					}
					ic.WriteString(quoteItem(v))
				}
			}
			if ic.Len() > 0 {
				ic.WriteString("))")
			}
		} else {
			ic.WriteString("(")
			for _, row := range ex.Values {
				if ic.String() != "(" {
					ic.WriteString(" or ")
				}
				ic.WriteString("(")
				for k, field := range ex.Fields {
					if k > 0 {
						ic.WriteString(" and ")
					}
					var val string
					if row[k].List != nil {
						parts := make([]string, len(row[k].List))
						for j, v := range row[k].List {
							parts[j] = quoteItem(v)
						}
						val = "(" + strings.Join(parts, ", ") + ")"
					} else {
						val = row[k].Str
						if isListOp(ex.Comps[k]) || isModifiedOp(ex.Comps[k]) {
							if val == "" || val[0] != '(' {
								val = "(" + val + ")"
							}
						} else {
							val = quoteItem(val)
						}
					}
					ic.WriteString(" " + field + " " + ex.Comps[k] + " " + val)
				}
				ic.WriteString(")")
			}
			ic.WriteString(")")
			if ic.String() == "()" {
				ic.Reset()
			}
		}
		if ic.Len() > 0 {
			r.add(" and not "+ic.String(), -1)
		}
	}
	return r.b.String(), posMap{&r.m}
}
