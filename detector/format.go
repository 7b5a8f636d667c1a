package detector

import (
	"strconv"
	"strings"
	"time"
)

// outputFormat is a rule's compiled output string: literal text and %field
// substitutions, each field's accessor bound once.
type outputFormat struct {
	size      int // literal bytes plus an allowance per field, to size the buffer once
	nfields   int
	parts     []outputPart
	unknown   []string // fields the registry lacks; they print <NA>
	unknownAt []int    // where each unknown field's '%' is in the output
}

type outputPart struct {
	text  string // literal, when name == ""
	name  string // the field as written: proc.aname[2]
	acc   accessor
	known bool
}

// isFieldByte is a byte of a field name after '%'.
func isFieldByte(c byte) bool { return isIdent(c) || c == '.' }

// compileOutput parses Falco's output syntax: %field, %field[arg] and
// %evt.arg.name are replaced by the field's value, <NA> when it has none.
// A '%' not followed by a dotted name stays literal.
func compileOutput(reg *registry, s string) *outputFormat {
	o := &outputFormat{}
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			o.parts = append(o.parts, outputPart{text: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(s); {
		if s[i] != '%' {
			lit.WriteByte(s[i])
			i++
			continue
		}
		j := i + 1
		paren := j < len(s) && s[j] == '('
		if paren {
			j++
		}
		k := j
		for k < len(s) && isFieldByte(s[k]) {
			k++
		}
		for k > j && s[k-1] == '.' { // a sentence-ending dot is not part of the name
			k--
		}
		name := s[j:k]
		if !strings.Contains(name, ".") || identLen(name) == 0 {
			lit.WriteByte('%')
			i++
			continue
		}
		arg, hasArg := "", false
		end := k
		if end < len(s) && s[end] == '[' {
			if close := strings.IndexByte(s[end:], ']'); close > 0 {
				arg, hasArg = s[end+1:end+close], true
				end += close + 1
			}
		}
		if paren {
			if end >= len(s) || s[end] != ')' {
				lit.WriteByte('%')
				i++
				continue
			}
			end++
		}
		written := name
		if hasArg {
			written = name + "[" + arg + "]"
		}
		flush()
		p := outputPart{name: written}
		if _, acc, err := reg.lookup(name, arg, hasArg); err == nil {
			p.acc, p.known = acc, true
		} else {
			o.unknown = append(o.unknown, written)
			o.unknownAt = append(o.unknownAt, i)
		}
		o.parts = append(o.parts, p)
		i = end
	}
	flush()
	for _, p := range o.parts {
		o.size += len(p.text)
		if p.name != "" {
			o.size += 24
			o.nfields++
		}
	}
	return o
}

// render produces the output text and the output_fields map.
func (o *outputFormat) render(ev *Event) (string, map[string]any) {
	var b strings.Builder
	b.Grow(o.size)
	fields := make(map[string]any, o.nfields)
	for _, p := range o.parts {
		if p.name == "" {
			b.WriteString(p.text)
			continue
		}
		text, val := p.value(ev)
		b.WriteString(text)
		fields[p.name] = val
	}
	return b.String(), fields
}

// value returns a field's text form and its JSON value (nil when absent).
func (p *outputPart) value(ev *Event) (string, any) {
	if !p.known {
		return "<NA>", nil
	}
	a := single(p.acc)
	switch {
	case a.str != nil:
		if s, ok := a.str(ev); ok {
			return s, s
		}
	case a.list != nil:
		// (k8s.pod.labels is a string field, "key:value, key:value", as
		// Falco writes it; list fields such as ka.req.pod.containers.image
		// stay lists in output_fields.)
		if l := a.list(ev); len(l) > 0 {
			return strings.Join(l, ", "), l
		}
	case a.num != nil:
		n, ok := a.num(ev)
		if !ok {
			break
		}
		switch a.typ {
		case TypeBool:
			return strconv.FormatBool(n != 0), n != 0
		case TypeTime:
			return time.Unix(0, n).UTC().Format("15:04:05.000000000"), n
		}
		return strconv.FormatInt(n, 10), n
	}
	return "<NA>", nil
}
