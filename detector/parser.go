package detector

import (
	"errors"
	"fmt"
	"strings"
)

// ErrSyntax marks a condition that does not parse. The error is a
// *SyntaxError carrying the position.
var ErrSyntax = errors.New("syntax error")

// SyntaxError is a condition parse error at Pos.
type SyntaxError struct {
	Pos CondPos
	Msg string
}

func (e *SyntaxError) Error() string { return fmt.Sprintf("%s: %s", e.Pos, e.Msg) }

// Is reports ErrSyntax.
func (e *SyntaxError) Is(target error) bool { return target == ErrSyntax }

// maxParseDepth bounds recursion exactly as libsinsp's depth_guard does: the
// same grammar functions count, and reaching the limit is an error. (Older
// libsinsp releases built the guard as a temporary, destroyed at once, and so
// had no limit; the current one enforces it.) Each level of parentheses
// costs five. The parser's default is 100; Falco's rule loader raises it to
// loaderParseDepth for conditions in rules files.
const (
	maxParseDepth    = 100
	loaderParseDepth = 1000
)

const depthPrefix = "exceeded max depth limit of "

// Operators in the order Falco's lexer tries them (order matters: "==" before
// "=", "intersects" before "in"). A trailing space means the operator must be
// followed by a blank.
var (
	unaryOps   = []string{"exists"}
	numOps     = []string{"<=", "<", ">=", ">"}
	strOps     = []string{"==", "=", "!=", "glob ", "iglob ", "contains ", "icontains ", "bcontains ", "startswith ", "bstartswith ", "endswith ", "regex "}
	listOps    = []string{"intersects", "in", "pmatch"}
	modifiers  = []string{"oneof ", "anyof ", "allof "}
	transforms = []string{"tolower(", "toupper(", "b64(", "basename(", "len(", "join(", "concat(", "getopt("}
)

// Operators lists every check operator, as `sysward rules fields` prints it.
func Operators() []string {
	var out []string
	for _, l := range [][]string{unaryOps, numOps, strOps, listOps} {
		for _, o := range l {
			out = append(out, strings.TrimSpace(o))
		}
	}
	return out
}

// Transformers lists the field transformers, val first.
func Transformers() []string {
	out := []string{"val"}
	for _, t := range transforms {
		out = append(out, strings.TrimSuffix(t, "("))
	}
	return out
}

// ParseCondition parses a condition with Falco's grammar: it accepts and
// rejects the same strings as libsinsp's filter parser (see
// testdata/grammar_conformance.txt). Errors are *SyntaxError (errors.Is
// ErrSyntax) with the position where parsing stopped.
func ParseCondition(cond string) (e Expr, err error) {
	return parseCondition(cond, maxParseDepth)
}

// parseCondition is ParseCondition with a recursion limit.
func parseCondition(cond string, maxDepth int) (e Expr, err error) {
	p := &parser{in: cond, pos: CondPos{Line: 1, Col: 1}, maxDepth: maxDepth}
	if cond == "" {
		return nil, &SyntaxError{Pos: p.pos, Msg: "filter input string is empty"}
	}
	defer func() {
		if r := recover(); r != nil {
			se, ok := r.(*SyntaxError)
			if !ok {
				panic(r)
			}
			e, err = nil, se
		}
	}()
	e = p.parseOr()
	if p.pos.Idx != len(p.in) {
		p.fail("unexpected token after '%s', expecting 'or', 'and'", p.last)
	}
	return e, nil
}

type parser struct {
	in       string
	pos      CondPos
	last     string // the last token lexed (not blanks)
	depth    int
	maxDepth int
}

func (p *parser) fail(format string, args ...any) {
	panic(&SyntaxError{Pos: p.pos, Msg: fmt.Sprintf(format, args...)})
}

func (p *parser) enter() {
	p.depth++
	if p.depth >= p.maxDepth {
		p.fail("%s%d", depthPrefix, p.maxDepth)
	}
}

func (p *parser) leave() { p.depth-- }

func (p *parser) advance(n int) {
	for i := 0; i < n; i++ {
		c := p.in[p.pos.Idx]
		p.pos.Col++
		if c == '\r' || c == '\n' {
			p.pos.Col = 1
			p.pos.Line++
		}
		p.pos.Idx++
	}
}

func (p *parser) rest() string { return p.in[p.pos.Idx:] }

// take consumes n bytes as the last token.
func (p *parser) take(n int) string {
	p.last = p.in[p.pos.Idx : p.pos.Idx+n]
	p.advance(n)
	return p.last
}

// --- lexers ---------------------------------------------------------------

func isLexBlank(c byte) bool { return c == ' ' || c == '\t' || c == '\b' || c == '\r' || c == '\n' }

// isSpace is POSIX [[:space:]].
func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
}
func isAlpha(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func isDigit(c byte) bool { return c >= '0' && c <= '9' }
func isIdent(c byte) bool { return isAlpha(c) || isDigit(c) || c == '_' }

func (p *parser) blank() bool {
	found := false
	for p.pos.Idx < len(p.in) && isLexBlank(p.in[p.pos.Idx]) {
		found = true
		p.advance(1)
	}
	return found
}

func (p *parser) str(s string) bool {
	if strings.HasPrefix(p.rest(), s) {
		p.take(len(s))
		return true
	}
	return false
}

func (p *parser) strList(list []string) bool {
	for _, s := range list {
		if p.str(s) {
			return true
		}
	}
	return false
}

// opList lexes an operator; one written with a trailing space must be
// followed by a blank, else the lexer backtracks and tries the next.
func (p *parser) opList(list []string) bool {
	for _, op := range list {
		if !strings.HasSuffix(op, " ") {
			if p.str(op) {
				return true
			}
			continue
		}
		pos, last := p.pos, p.last
		if p.str(strings.TrimSuffix(op, " ")) {
			if p.blank() {
				return true
			}
			p.pos, p.last = pos, last
		}
	}
	return false
}

// identLen matches [a-zA-Z]+[a-zA-Z0-9_]* at s.
func identLen(s string) int {
	if s == "" || !isAlpha(s[0]) {
		return 0
	}
	n := 1
	for n < len(s) && isIdent(s[n]) {
		n++
	}
	return n
}

func (p *parser) identifier() bool {
	if n := identLen(p.rest()); n > 0 {
		p.take(n)
		return true
	}
	return false
}

// fieldName matches ident(\.ident)+.
func (p *parser) fieldName() bool {
	s := p.rest()
	n := identLen(s)
	if n == 0 {
		return false
	}
	segs := 0
	for n < len(s) && s[n] == '.' {
		m := identLen(s[n+1:])
		if m == 0 {
			break
		}
		n += 1 + m
		segs++
	}
	if segs == 0 {
		return false
	}
	p.take(n)
	return true
}

// spanNot returns the length of the longest prefix of s made of bytes not
// in stop and not POSIX spaces.
func spanNot(s, stop string) int {
	n := 0
	for n < len(s) && !isSpace(s[n]) && strings.IndexByte(stop, s[n]) < 0 {
		n++
	}
	return n
}

func (p *parser) fieldArgBare() bool {
	if n := spanNot(p.rest(), "[]\"'"); n > 0 {
		p.take(n)
		return true
	}
	return false
}

func (p *parser) bareStr() bool {
	if n := spanNot(p.rest(), "()\"'=,"); n > 0 {
		p.take(n)
		return true
	}
	return false
}

func (p *parser) hexNum() bool {
	s := p.rest()
	if len(s) < 3 || s[0] != '0' || (s[1] != 'x' && s[1] != 'X') {
		return false
	}
	n := 2
	for n < len(s) && (isDigit(s[n]) || s[n] >= 'a' && s[n] <= 'f' || s[n] >= 'A' && s[n] <= 'F') {
		n++
	}
	if n == 2 {
		return false
	}
	p.take(n)
	return true
}

// num matches [+-]?[0-9]+\.?[0-9]*([eE][+-][0-9]+)?
func (p *parser) num() bool {
	s := p.rest()
	n := 0
	if n < len(s) && (s[n] == '+' || s[n] == '-') {
		n++
	}
	d := n
	for n < len(s) && isDigit(s[n]) {
		n++
	}
	if n == d {
		return false
	}
	if n < len(s) && s[n] == '.' {
		n++
		for n < len(s) && isDigit(s[n]) {
			n++
		}
	}
	if n+2 < len(s)+0 && (s[n] == 'e' || s[n] == 'E') && (s[n+1] == '+' || s[n+1] == '-') && isDigit(s[n+2]) {
		n += 3
		for n < len(s) && isDigit(s[n]) {
			n++
		}
	}
	p.take(n)
	return true
}

func (p *parser) notBlank() bool {
	s := p.rest()
	if !strings.HasPrefix(s, "not") || len(s) < 4 || !isSpace(s[3]) {
		return false
	}
	n := 4
	for n < len(s) && isSpace(s[n]) {
		n++
	}
	p.take(n)
	return true
}

// quotedStr lexes a '- or "-quoted string: it ends at the first delimiter
// not preceded by a backslash (Falco's rule; so "a\\" does not end at its
// last quote). An unterminated string consumes nothing.
func (p *parser) quotedStr() bool {
	s := p.rest()
	if s == "" || (s[0] != '\'' && s[0] != '"') {
		return false
	}
	delim := s[0]
	prev := byte('\\')
	for i := 0; i < len(s) && s[i] != 0; i++ {
		if s[i] == delim && prev != '\\' {
			raw := s[:i+1]
			p.advance(i + 1)
			v, err := unescape(raw)
			if err != nil {
				p.fail("%v", err)
			}
			p.last = v
			return true
		}
		prev = s[i]
	}
	return false
}

// unescape resolves the escapes of a quoted string (with its quotes), the
// set Falco accepts: \b \f \n \r \t \\ \/ "\ " and the string's own quote.
func unescape(q string) (string, error) {
	var b strings.Builder
	esc := false
	for i := 1; i < len(q)-1; i++ {
		c := q[i]
		if !esc {
			if c == '\\' {
				esc = true
			} else {
				b.WriteByte(c)
			}
			continue
		}
		switch c {
		case 'b':
			b.WriteByte('\b')
		case 'f':
			b.WriteByte('\f')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case ' ', '\\':
			b.WriteByte('\\')
		case '/':
			b.WriteByte('/')
		case '"':
			if q[0] != '"' {
				return "", errors.New(`invalid \" escape in '-quoted string`)
			}
			b.WriteByte('"')
		case '\'':
			if q[0] != '\'' {
				return "", errors.New(`invalid \' escape in "-quoted string`)
			}
			b.WriteByte('\'')
		default:
			return "", fmt.Errorf("unsupported string escape sequence: \\%c", c)
		}
		esc = false
	}
	return b.String(), nil
}

// --- grammar --------------------------------------------------------------

func (p *parser) parseOr() Expr {
	p.enter()
	defer p.leave()
	pos := p.pos
	p.blank()
	children := []Expr{p.parseAnd()}
	p.blank()
	for p.str("or") {
		var child Expr
		if !p.blank() {
			if !p.str("(") {
				p.fail("expected blank or '(' after 'or'")
			}
			child = p.parseEmbedded()
		} else {
			child = p.parseAnd()
		}
		children = append(children, child)
		p.blank()
	}
	if len(children) > 1 {
		return &OrExpr{P: pos, Children: children}
	}
	return children[0]
}

func (p *parser) parseAnd() Expr {
	p.enter()
	defer p.leave()
	pos := p.pos
	p.blank()
	children := []Expr{p.parseNot()}
	p.blank()
	for p.str("and") {
		var child Expr
		if !p.blank() {
			if !p.str("(") {
				p.fail("expected blank or '(' after 'and'")
			}
			child = p.parseEmbedded()
		} else {
			child = p.parseNot()
		}
		children = append(children, child)
		p.blank()
	}
	if len(children) > 1 {
		return &AndExpr{P: pos, Children: children}
	}
	return children[0]
}

func (p *parser) parseNot() Expr {
	p.enter()
	defer p.leave()
	pos := p.pos
	neg := false
	p.blank()
	for p.notBlank() {
		neg = !neg
	}
	var child Expr
	if p.str("not(") {
		neg = !neg
		child = p.parseEmbedded()
	} else {
		child = p.parseCheck()
	}
	if neg {
		return &NotExpr{P: pos, Child: child}
	}
	return child
}

// parseEmbedded parses the rest of "( Expr )" after the "(".
func (p *parser) parseEmbedded() Expr {
	p.enter()
	defer p.leave()
	p.blank()
	child := p.parseOr()
	p.blank()
	if !p.str(")") {
		p.fail("expected a ')' token")
	}
	return child
}

func (p *parser) parseCheck() Expr {
	p.enter()
	defer p.leave()
	pos := p.pos
	p.blank()
	if p.str("(") {
		return p.parseEmbedded()
	}
	if p.fieldName() {
		left := p.parseFieldRemainder(p.last, pos)
		return p.parseCondition(left, pos)
	}
	if p.strList(transforms) {
		p.blank()
		left := p.parseTransformerRemainder(strings.TrimSuffix(p.last, "("), pos)
		return p.parseCondition(left, pos)
	}
	if p.identifier() {
		return &IdentExpr{P: pos, Name: p.last}
	}
	p.fail("expected a '(' token, a field check, or an identifier")
	return nil
}

func (p *parser) parseFieldRemainder(name string, pos CondPos) *FieldExpr {
	p.enter()
	defer p.leave()
	f := &FieldExpr{P: pos, Name: name}
	f.Arg, f.HasArg = p.optionalFieldArg()
	return f
}

// optionalFieldArg parses "[arg]" if present.
func (p *parser) optionalFieldArg() (string, bool) {
	if !p.str("[") {
		return "", false
	}
	if !p.quotedStr() && !p.fieldArgBare() {
		p.fail("expected a valid field argument: a quoted string or a bare string")
	}
	arg := p.last
	if !p.str("]") {
		p.fail("expected a ']' token")
	}
	return arg, true
}

// parseTransformerRemainder parses "arg (, arg)* )" after "name(".
func (p *parser) parseTransformerRemainder(name string, pos CondPos) Expr {
	p.enter()
	defer p.leave()
	p.blank()
	t := &TransformerExpr{P: pos, Name: name}
	for {
		t.Args = append(t.Args, p.parseTransformerArg(p.pos))
		p.blank()
		if !p.str(",") {
			break
		}
	}
	p.blank()
	if !p.str(")") {
		p.fail("expected a ')' token closing the transformer")
	}
	t.Arg, t.HasArg = p.optionalFieldArg()
	return t
}

func (p *parser) parseTransformerArg(pos CondPos) Expr {
	p.enter()
	defer p.leave()
	p.blank()
	if p.hexNum() || p.num() {
		return &ValueExpr{P: pos, Value: p.last}
	}
	if p.quotedStr() {
		return &ValueExpr{P: pos, Value: p.last}
	}
	if p.str("(") {
		return p.parseTransformerList(pos)
	}
	if p.strList(transforms) {
		return p.parseTransformerRemainder(strings.TrimSuffix(p.last, "("), pos)
	}
	if p.fieldName() {
		return p.parseFieldRemainder(p.last, pos)
	}
	p.fail("expected field transformer argument: field, transformer, quoted string, number, or transformer list")
	return nil
}

func (p *parser) parseTransformerList(pos CondPos) Expr {
	l := &TransformerList{P: pos}
	p.blank()
	if p.str(")") {
		return l
	}
	l.Items = append(l.Items, p.parseTransformerListArg(pos))
	p.blank()
	for p.str(",") {
		p.blank()
		l.Items = append(l.Items, p.parseTransformerListArg(pos))
		p.blank()
	}
	if !p.str(")") {
		p.fail("expected ')'")
	}
	return l
}

func (p *parser) parseTransformerListArg(pos CondPos) Expr {
	switch {
	case p.fieldName():
		return p.parseFieldRemainder(p.last, pos)
	case p.strList(transforms):
		p.blank()
		return p.parseTransformerRemainder(strings.TrimSuffix(p.last, "("), pos)
	case p.quotedStr():
		return &ValueExpr{P: pos, Value: p.last}
	case p.hexNum() || p.num():
		return &ValueExpr{P: pos, Value: p.last}
	}
	p.fail("expected transformer list argument: field, transformer, quoted string, or number")
	return nil
}

func (p *parser) parseCondition(left Expr, pos CondPos) Expr {
	p.enter()
	defer p.leave()
	p.blank()
	if p.opList(unaryOps) {
		return &UnaryCheck{P: pos, Left: left, Op: strings.TrimSpace(p.last)}
	}
	p.blank()
	var right Expr
	var op string
	switch {
	case p.opList(numOps):
		op = p.last
		right = p.parseNumValue()
	case p.opList(strOps):
		op = p.last
		// an operator modifier: "== oneof (a, b)"; word operators already
		// consumed their blank, symbol ones need one here
		hadBlank := isAlpha(op[0]) || p.blank()
		pos, last := p.pos, p.last
		if hadBlank && p.opList(modifiers) && p.listValueFollows() && !p.boolKeywordFollows() {
			op = strings.TrimSpace(op) + " " + strings.TrimSpace(p.last)
			right = p.parseListOnly()
		} else {
			p.pos, p.last = pos, last
			right = p.parseStrValue(false)
		}
	case p.opList(listOps):
		op = p.last
		right = p.parseListValue()
	default:
		p.fail("expected a valid check operator: one of %s", quotedList(Operators()))
	}
	return &BinaryCheck{P: pos, Left: left, Op: strings.TrimSpace(op), Right: right}
}

func quotedList(l []string) string {
	q := make([]string, len(l))
	for i, s := range l {
		q[i] = "'" + s + "'"
	}
	return strings.Join(q, ", ")
}

func (p *parser) parseNumValue() Expr {
	p.enter()
	defer p.leave()
	p.blank()
	pos := p.pos
	if t := p.tryTransformerOrVal(); t != nil {
		return t
	}
	if p.hexNum() || p.num() {
		return &ValueExpr{P: pos, Value: p.last}
	}
	p.fail("expected a number value or a field with a valid transformer: %s", quotedList(Transformers()))
	return nil
}

func (p *parser) parseStrValue(noTransformer bool) Expr {
	p.enter()
	defer p.leave()
	p.blank()
	pos := p.pos
	if !noTransformer {
		if t := p.tryTransformerOrVal(); t != nil {
			return t
		}
	}
	if p.quotedStr() || p.bareStr() {
		return &ValueExpr{P: pos, Value: p.last}
	}
	if noTransformer {
		p.fail("expected a string value")
	}
	p.fail("expected a string value or a field with a valid transformer: %s", quotedList(Transformers()))
	return nil
}

// tryStrValue is parseStrValue(true) that reports failure instead of
// failing, keeping the position (as Falco's try/catch does). A depth error is
// not caught: in libsinsp it unbalances the depth count, which fails the
// whole parse.
func (p *parser) tryStrValue() (e Expr, ok bool) {
	depth := p.depth
	defer func() {
		if r := recover(); r != nil {
			se, is := r.(*SyntaxError)
			if !is || strings.HasPrefix(se.Msg, depthPrefix) {
				panic(r)
			}
			p.depth = depth
			e, ok = nil, false
		}
	}()
	return p.parseStrValue(true), true
}

func (p *parser) listValueFollows() bool {
	s := p.rest()
	return strings.HasPrefix(s, "(") || identLen(s) > 0
}

func (p *parser) boolKeywordFollows() bool {
	s := p.rest()
	for _, kw := range []string{"and", "or", "not"} {
		if strings.HasPrefix(s, kw) && (len(s) == len(kw) || !isAlpha(s[len(kw)]) && !isDigit(s[len(kw)])) {
			return true
		}
	}
	return false
}

// tryListExpr parses "( values )" if a '(' follows.
func (p *parser) tryListExpr() *ListExpr {
	pos := p.pos
	if !p.str("(") {
		return nil
	}
	l := &ListExpr{P: pos, Values: []string{}}
	p.blank()
	if v, ok := p.tryStrValue(); ok {
		l.Values = append(l.Values, v.(*ValueExpr).Value)
		p.blank()
		for p.str(",") {
			v := p.parseStrValue(true)
			l.Values = append(l.Values, v.(*ValueExpr).Value)
			p.blank()
		}
	}
	if !p.str(")") {
		p.fail("expected a ')' token")
	}
	return l
}

// parseListOnly is the right side after an operator modifier.
func (p *parser) parseListOnly() Expr {
	p.enter()
	defer p.leave()
	p.blank()
	pos := p.pos
	if l := p.tryListExpr(); l != nil {
		return l
	}
	if p.identifier() {
		return &ValueExpr{P: pos, Value: p.last}
	}
	p.fail("expected a list or an identifier")
	return nil
}

func (p *parser) parseListValue() Expr {
	p.enter()
	defer p.leave()
	p.blank()
	pos := p.pos
	if l := p.tryListExpr(); l != nil {
		return l
	}
	if t := p.tryTransformerOrVal(); t != nil {
		return t
	}
	if p.identifier() {
		return &ValueExpr{P: pos, Value: p.last}
	}
	p.fail("expected a list, an identifier, or a field with a valid transformer: %s", quotedList(Transformers()))
	return nil
}

func (p *parser) tryTransformerOrVal() Expr {
	p.enter()
	defer p.leave()
	p.blank()
	pos := p.pos
	if p.str("val(") {
		p.blank()
		fpos := p.pos
		if !p.fieldName() {
			p.fail("expected a field within 'val' transformer")
		}
		f := p.parseFieldRemainder(p.last, fpos)
		p.blank()
		if !p.str(")") {
			p.fail("expected a ')' token closing the transformer")
		}
		t := &TransformerExpr{P: pos, Name: "val", Args: []Expr{f}}
		t.Arg, t.HasArg = p.optionalFieldArg()
		return t
	}
	if p.strList(transforms) {
		p.blank()
		return p.parseTransformerRemainder(strings.TrimSuffix(p.last, "("), pos)
	}
	return nil
}
