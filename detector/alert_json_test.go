package detector

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

var updateGolden = flag.Bool("update-alert-golden", false, "rewrite detector/testdata/alert_*.golden")

func sampleAlert() *Alert {
	return &Alert{
		Time:     time.Date(2024, 1, 2, 3, 4, 5, 6789, time.UTC),
		Rule:     "Terminal shell in container",
		Priority: PriorityNotice,
		Source:   "syscall",
		Hostname: "node-1",
		Output:   "A shell was spawned in a container with an attached terminal (user=root shell=sh parent=runc cmdline=sh -c <x> & \"y\")",
		OutputFields: map[string]any{
			"proc.name":        "sh",
			"proc.pid":         int64(4242),
			"user.name":        "root",
			"container.id":     "0123456789ab",
			"sysward.workload": "default/web",
			"evt.type":         "execve",
			"proc.tty":         int64(34816),
			"k8s.pod.name":     nil,
		},
		Tags: []string{"shell", "container", "mitre_execution", "T1059"},
	}
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *updateGolden {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading golden file (run with -update-alert-golden): %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s mismatch:\ngot:  %s\nwant: %s", name, got, want)
	}
}

func TestAlertJSONGolden(t *testing.T) {
	a := sampleAlert()
	b := a.AppendJSON(nil)
	golden(t, "alert_falco.golden.json", append(b, '\n'))

	// An Encoder without HTML escaping keeps MarshalJSON's bytes exactly,
	// for the value and the pointer.
	for _, v := range []any{a, *a} {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(v); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(buf.Bytes(), append(b, '\n')) {
			t.Errorf("Encoder(%T):\n%s\nwant\n%s", v, buf.Bytes(), b)
		}
	}
	// json.Marshal re-escapes <>& in a Marshaler's output (\u003c), which
	// is the same JSON value.
	m, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	var x, y any
	json.Unmarshal(m, &x)
	json.Unmarshal(b, &y)
	if !reflect.DeepEqual(x, y) {
		t.Errorf("json.Marshal differs in value:\n%s\n%s", m, b)
	}
}

func TestAlertTextGolden(t *testing.T) {
	a := sampleAlert()
	golden(t, "alert_falco.golden.txt", append(a.AppendText(nil), '\n'))
}

// TestAlertTextEscapesControls: a value the workload shapes (here a command
// line with a newline, an ANSI colour sequence, a C1 CSI, a tab, DEL) cannot
// forge a second alert line or reach the reader's terminal: the text line
// is one line with those escaped, as Falco 0.44's text outputs do. The JSON
// alert keeps the raw value (JSON escapes it itself).
func TestAlertTextEscapesControls(t *testing.T) {
	a := sampleAlert()
	a.Output = "Shell (command=mkdir x\n18:00:00.000000000: Critical fake\r\x1b[31mred\u009b2J\tz\x7f é)"
	got := string(a.AppendText(nil))
	want := `Shell (command=mkdir x\n18:00:00.000000000: Critical fake\r\x1b[31mred\u009b2J\tz\x7f é)`
	if !strings.HasSuffix(got, want) {
		t.Errorf("text line %q, want it to end with %q", got, want)
	}
	if strings.ContainsAny(got, "\n\r\t\x1b\x7f\u009b") {
		t.Errorf("control character left in %q", got)
	}
	var p falcoPayload
	if err := json.Unmarshal(a.AppendJSON(nil), &p); err != nil || !strings.HasSuffix(p.Output, a.Output) {
		t.Errorf("JSON output %q (%v), want the raw value", p.Output, err)
	}
}

// TestAlertJSONShape checks the properties of Falco's JSON alert one by one,
// so a failure names what is wrong rather than only differing from a golden.
func TestAlertJSONShape(t *testing.T) {
	a := sampleAlert()
	b := a.AppendJSON(nil)

	t.Run("key order is sorted (nlohmann std::map)", func(t *testing.T) {
		want := []string{"hostname", "output", "output_fields", "priority", "rule", "source", "tags", "time"}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.Token() // {
		var got []string
		for dec.More() {
			tok, err := dec.Token()
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, tok.(string))
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				t.Fatal(err)
			}
		}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("keys %v, want %v", got, want)
		}
	})
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		key  string
		want any
	}{
		{"time is UTC with nine fraction digits", "time", "2024-01-02T03:04:05.000006789Z"},
		{"priority is Falco's long name", "priority", "Notice"},
		{"output carries the text prefix", "output", "03:04:05.000006789: Notice " + a.Output},
		{"source", "source", "syscall"},
		{"hostname", "hostname", "node-1"},
		{"rule", "rule", "Terminal shell in container"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if m[c.key] != c.want {
				t.Errorf("%s = %#v, want %#v", c.key, m[c.key], c.want)
			}
		})
	}
	t.Run("evt.time is added as integer nanoseconds", func(t *testing.T) {
		if !bytes.Contains(b, []byte(`"evt.time":1704164645000006789`)) {
			t.Errorf("no evt.time in %s", b)
		}
	})
	t.Run("tags sorted", func(t *testing.T) {
		if !bytes.Contains(b, []byte(`"tags":["T1059","container","mitre_execution","shell"]`)) {
			t.Errorf("tags in %s", b)
		}
	})
	t.Run("no HTML escaping", func(t *testing.T) {
		if !bytes.Contains(b, []byte(`<x> & \"y\"`)) {
			t.Errorf("HTML escaped: %s", b)
		}
	})
	t.Run("empty tags are []", func(t *testing.T) {
		a := sampleAlert()
		a.Tags = nil
		if !bytes.Contains(a.AppendJSON(nil), []byte(`"tags":[]`)) {
			t.Errorf("%s", a.AppendJSON(nil))
		}
	})
	t.Run("prefix not repeated", func(t *testing.T) {
		a := sampleAlert()
		a.Output = string(a.AppendText(nil))
		if got, want := string(a.AppendText(nil)), string(sampleAlert().AppendText(nil)); got != want {
			t.Errorf("got %q want %q", got, want)
		}
	})
	t.Run("Informational", func(t *testing.T) {
		a := sampleAlert()
		a.Priority = PriorityInformational
		if !bytes.Contains(a.AppendJSON(nil), []byte(`"priority":"Informational"`)) {
			t.Errorf("%s", a.AppendJSON(nil))
		}
	})
}

// falcoPayload has the shape of falcosidekick's types.FalcoPayload (the JSON
// tags are what matter), with its Check() rules.
type falcoPayload struct {
	UUID         string         `json:"uuid,omitempty"`
	Output       string         `json:"output"`
	Priority     string         `json:"priority"`
	Rule         string         `json:"rule"`
	Time         time.Time      `json:"time"`
	OutputFields map[string]any `json:"output_fields"`
	Source       string         `json:"source"`
	Tags         []string       `json:"tags,omitempty"`
	Hostname     string         `json:"hostname,omitempty"`
}

func TestAlertDecodesAsFalcosidekickPayload(t *testing.T) {
	a := sampleAlert()
	a.OutputFields = nil // falcosidekick rejects empty output_fields; evt.time fills it as in Falco
	var p falcoPayload
	dec := json.NewDecoder(bytes.NewReader(a.AppendJSON(nil)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		t.Fatal(err)
	}
	if !p.Time.Equal(a.Time) || p.Rule != a.Rule || p.Priority != "Notice" || len(p.OutputFields) == 0 || p.Source != "syscall" {
		t.Errorf("decoded %+v", p)
	}
	// Round trip through Alert itself.
	var back Alert
	if err := json.Unmarshal(a.AppendJSON(nil), &back); err != nil {
		t.Fatal(err)
	}
	if got, want := string(back.AppendText(nil)), string(a.AppendText(nil)); got != want {
		t.Errorf("round trip text %q, want %q", got, want)
	}
}

func TestAppendEscaped(t *testing.T) {
	cases := []struct{ name, in, want string }{
		{"plain", "abc", `"abc"`},
		{"quote and backslash", `a"b\c`, `"a\"b\\c"`},
		{"short escapes", "\b\f\n\r\t", `"\b\f\n\r\t"`},
		{"other control lowercase hex", "\x01\x1f", `"\u0001\u001f"`},
		{"DEL kept", "\x7f", "\"\x7f\""},
		{"html kept", "<&>", `"<&>"`},
		{"line separator kept", "\u2028", "\"\u2028\""},
		{"invalid utf8 replaced", "a\xffb", "\"a\ufffdb\""},
		{"utf8 kept", "héllo", `"héllo"`},
		// one U+FFFD per maximal subpart, as Falco (libsinsp's
		// sinsp_utils.ut.cpp utf8_sanitize cases, nlohmann's replace)
		{"two invalid bytes", "foo\xff\xfexyz", "\"foo\ufffd\ufffdxyz\""},
		{"valid then invalid", "\xc3\xa9\xff", "\"é\ufffd\""},
		{"orphan continuations", "\x80\xff\xfe", "\"\ufffd\ufffd\ufffd\""},
		{"3-byte lead, one continuation, then ascii", "\xe1\x80x", "\"\ufffdx\""},
		{"truncated 3-byte at the end", "hello\xe1\x80", "\"hello\ufffd\""},
		{"truncated euro sign", "\xe2\x82 \xe2\x82\xac", "\"\ufffd €\""},
		{"truncated 4-byte", "\xf0\x9f\x98|", "\"\ufffd|\""},
		{"surrogate", "\xed\xa0\x80", "\"\ufffd\ufffd\ufffd\""},
		{"overlong 3-byte", "\xe0\x9f\xbf", "\"\ufffd\ufffd\ufffd\""},
		{"above U+10FFFF", "\xf4\x90\x80\x80", "\"\ufffd\ufffd\ufffd\ufffd\""},
		{"overlong 2-byte", "\xc0\xaf", "\"\ufffd\ufffd\""},
		{"noncharacters kept", "\xef\xb7\x90\xef\xbf\xbf", "\"\ufdd0\uffff\""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := string(appendJSONString(nil, c.in)); got != c.want {
				t.Errorf("got %q want %q", got, c.want)
			}
		})
	}
}

// FuzzAlertJSON: whatever the strings, the alert is valid JSON and decodes
// back to the same (UTF-8-repaired) values.
func FuzzAlertJSON(f *testing.F) {
	f.Add("rule", "out", "host", "tag", "k", "v")
	f.Add("r\"\\", "o\n\x00", "\xff", "<>&", "\u2028", "\x7f")
	f.Add("\xe2\x82", "\xed\xa0\x80x", "\xf0\x9f\x98", "\xe0\x9f", "k", "\xe1\x80x")
	f.Fuzz(func(t *testing.T, rule, out, host, tag, k, v string) {
		a := &Alert{Time: time.Unix(0, 1).UTC(), Rule: rule, Output: out, Hostname: host,
			Tags: []string{tag}, OutputFields: map[string]any{k: v}}
		b := a.AppendJSON(nil)
		if !json.Valid(b) {
			t.Fatalf("invalid JSON: %q", b)
		}
		var p falcoPayload
		if err := json.Unmarshal(b, &p); err != nil {
			t.Fatal(err)
		}
		fix := maximalSubparts
		if p.Rule != fix(rule) || p.Hostname != fix(host) || !strings.HasSuffix(p.Output, fix(out)) {
			t.Errorf("round trip %+v", p)
		}
		if k != FieldEvtTime && p.OutputFields[fix(k)] != fix(v) && utf8.ValidString(k) {
			t.Errorf("field %q = %#v", k, p.OutputFields[k])
		}
	})
}

// maximalSubparts replaces each maximal subpart of an ill-formed UTF-8
// sequence in s with one U+FFFD: the test's own oracle, from the definition
// (the longest prefix of s[i:] that some continuation makes valid UTF-8, at
// least one byte), checked with Go's validator rather than byte ranges.
func maximalSubparts(s string) string {
	var sb strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r != utf8.RuneError || size > 1 {
			sb.WriteString(s[i : i+size])
			i += size
			continue
		}
		n := 1
		for k := 2; k <= 3 && i+k <= len(s); k++ {
			if completable(s[i : i+k]) {
				n = k
			}
		}
		sb.WriteRune(utf8.RuneError)
		i += n
	}
	return sb.String()
}

// completable reports whether some bytes appended to p make one valid rune.
func completable(p string) bool {
	for total := len(p) + 1; total <= 4; total++ {
		for b := 0x80; b <= 0xbf; b++ {
			c := p + string([]byte{byte(b)}) + strings.Repeat("\x80", total-len(p)-1)
			if r, size := utf8.DecodeRuneInString(c); r != utf8.RuneError && size == total {
				return true
			}
		}
	}
	return false
}
