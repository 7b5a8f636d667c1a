package detector

import (
	"bufio"
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"
)

func TestGrammarConformance(t *testing.T) {
	f, err := os.Open("testdata/grammar_conformance.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	n, accepted, rejected := 0, 0, 0
	for line := 1; sc.Scan(); line++ {
		text := sc.Text()
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		verdict, quoted, ok := strings.Cut(text, "\t")
		if !ok {
			t.Fatalf("line %d: no tab", line)
		}
		cond, err := strconv.Unquote(quoted)
		if err != nil {
			t.Fatalf("line %d: %v", line, err)
		}
		n++
		_, perr := ParseCondition(cond)
		switch verdict {
		case "accept":
			accepted++
			if perr != nil {
				t.Errorf("line %d: Falco accepts %q, we reject: %v", line, cond, perr)
			}
		case "reject":
			rejected++
			if perr == nil {
				t.Errorf("line %d: Falco rejects %q, we accept", line, cond)
			} else if !errors.Is(perr, ErrSyntax) {
				t.Errorf("line %d: error is not ErrSyntax: %v", line, perr)
			}
		default:
			t.Fatalf("line %d: verdict %q", line, verdict)
		}
	}
	t.Logf("%d conditions: %d accepted, %d rejected, all as Falco", n, accepted, rejected)
}

// TestParsePositions checks node positions against Falco's position tests.
func TestParsePositions(t *testing.T) {
	for _, tc := range []struct {
		name, cond, want string
	}{
		{"unary", "proc.name exists", "unary0 1 1field0 1 1"},
		{"binary", "proc.name=nginx", "binary0 1 1field0 1 1value10 1 11"},
		{"params", "proc.aname[3]=nginx", "binary0 1 1field0 1 1value14 1 15"},
		{"space both", "proc.name = nginx", "binary0 1 1field0 1 1value12 1 13"},
		{"list", "proc.name in ( nginx, apache)", "binary0 1 1field0 1 1list13 1 14"},
		{"not", "not proc.name=nginx", "not0 1 1binary4 1 5field4 1 5value14 1 15"},
		{"or parens", "(proc.name=nginx or proc.name=apache)", "or1 1 2binary1 1 2field1 1 2value11 1 12binary20 1 21field20 1 21value30 1 31"},
		{"multiline", "\n(proc.aname[2]=nginx\n     and evt.type in (connect,accept))\n   or (not fd.name exists)\n   or (proc.name=apache\n       and evt.type=switch)",
			"or0 1 1and2 2 2binary2 2 2field2 2 2value16 2 16binary31 3 10field31 3 10list43 3 22not68 4 8unary72 4 12field72 4 12and95 5 8binary95 5 8field95 5 8value105 5 18binary123 6 12field123 6 12value132 6 21"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, err := ParseCondition(tc.cond)
			if err != nil {
				t.Fatal(err)
			}
			var b strings.Builder
			posString(&b, e)
			if b.String() != tc.want {
				t.Errorf("positions\n got %s\nwant %s", b.String(), tc.want)
			}
		})
	}
}

func posString(b *strings.Builder, e Expr) {
	add := func(kind string) {
		p := e.Pos()
		b.WriteString(kind + strconv.Itoa(p.Idx) + " " + strconv.Itoa(p.Line) + " " + strconv.Itoa(p.Col))
	}
	switch e := e.(type) {
	case *OrExpr:
		add("or")
		for _, c := range e.Children {
			posString(b, c)
		}
	case *AndExpr:
		add("and")
		for _, c := range e.Children {
			posString(b, c)
		}
	case *NotExpr:
		add("not")
		posString(b, e.Child)
	case *UnaryCheck:
		add("unary")
		posString(b, e.Left)
	case *BinaryCheck:
		add("binary")
		posString(b, e.Left)
		posString(b, e.Right)
	case *FieldExpr:
		add("field")
	case *ValueExpr:
		add("value")
	case *ListExpr:
		add("list")
	case *IdentExpr:
		add("identifier")
	case *TransformerExpr:
		add("transformer")
	}
}

func TestParseErrorPosition(t *testing.T) {
	for _, tc := range []struct {
		name, cond string
		line, col  int
		msg        string
	}{
		{"dangling and", "a and b and", 1, 12, "expected blank or '(' after 'and'"},
		{"dangling and blank", "a and b and ", 1, 13, "expected a '(' token, a field check, or an identifier"},
		{"bad operator", "proc.name ~ x", 1, 11, "expected a valid check operator"},
		{"second line", "proc.name = x and\n  evt.type = (", 2, 14, "expected a string value"},
		{"unclosed", "(a.b = 1", 1, 9, "expected a ')' token"},
		{"trailing", "a b", 1, 3, "unexpected token after 'a'"},
		{"empty", "", 1, 1, "empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseCondition(tc.cond)
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("err = %v, want *SyntaxError", err)
			}
			if se.Pos.Line != tc.line || se.Pos.Col != tc.col || !strings.Contains(se.Msg, tc.msg) {
				t.Errorf("got %d:%d %q, want %d:%d containing %q", se.Pos.Line, se.Pos.Col, se.Msg, tc.line, tc.col, tc.msg)
			}
		})
	}
}

func FuzzParseCondition(f *testing.F) {
	fd, err := os.ReadFile("testdata/grammar_conformance.txt")
	if err != nil {
		f.Fatal(err)
	}
	for _, line := range strings.Split(string(fd), "\n") {
		if _, q, ok := strings.Cut(line, "\t"); ok {
			if s, err := strconv.Unquote(q); err == nil {
				f.Add(s)
			}
		}
	}
	f.Add(strings.Repeat("(", 5000) + "a" + strings.Repeat(")", 5000))
	f.Fuzz(func(t *testing.T, cond string) {
		e, err := ParseCondition(cond)
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) || se.Pos.Line < 1 || se.Pos.Col < 1 || se.Pos.Idx > len(cond) {
				t.Fatalf("error without a valid position: %#v", err)
			}
			return
		}
		// what we print parses back to the same tree (except for values
		// with a NUL byte: Falco's quoted strings end at NUL, so such a
		// value has no quoted spelling)
		if strings.IndexByte(cond, 0) >= 0 {
			return
		}
		s := e.String()
		e2, err := ParseCondition(s)
		if err != nil {
			t.Fatalf("re-parsing %q (printed from %q): %v", s, cond, err)
		}
		if e2.String() != s {
			t.Fatalf("round trip: %q -> %q", s, e2.String())
		}
	})
}
