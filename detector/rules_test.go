package detector

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"

	authnv1 "k8s.io/api/authentication/v1"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
)

func load(t *testing.T, files ...string) (*Ruleset, error) {
	t.Helper()
	var in []RulesFile
	for i, f := range files {
		in = append(in, RulesFile{Name: "f" + string(rune('1'+i)) + ".yaml", Data: []byte(f)})
	}
	return LoadRulesFiles(in...)
}

func TestLoadErrors(t *testing.T) {
	for _, tc := range []struct {
		name     string
		file     string
		sentinel error
		pos      string // "file:line:col" the first error must start with
		msg      string
	}{
		{"yaml", "- rule: [unclosed\n", ErrInvalidYAML, "f1.yaml:1:", ""},
		{"not a sequence", "rule: x\n", ErrInvalidRule, "f1.yaml:1:1", "sequence"},
		{"missing keys", "- rule: r\n  desc: d\n", ErrInvalidRule, "f1.yaml:1:9", "no condition"},
		{"bad priority", "- rule: r\n  desc: d\n  condition: evt.type=open\n  output: o\n  priority: LOUD\n", ErrUnknownPriority, "f1.yaml:5:13", "LOUD"},
		{"syntax error plain", "- rule: r\n  desc: d\n  condition: evt.type=open and (\n  output: o\n  priority: INFO\n", ErrSyntax, "f1.yaml:3:33", "expected"},
		{"and as a macro name", "- rule: r\n  desc: d\n  condition: evt.type=open and and\n  output: o\n  priority: INFO\n", ErrUndefinedMacro, "f1.yaml:3:32", "and"},
		{"syntax error folded", "- rule: r\n  desc: d\n  condition: >\n    evt.type=open and\n    proc.name = (\n  output: o\n  priority: INFO\n", ErrSyntax, "f1.yaml:5:17", "expected a string value"},
		{"syntax error macro", "- macro: m\n  condition: >\n    proc.name in (a,\n      b,)\n", ErrSyntax, "f1.yaml:4:9", "expected a string value"},
		{"undefined macro", "- rule: r\n  desc: d\n  condition: evt.type=open and nosuchmacro\n  output: o\n  priority: INFO\n", ErrUndefinedMacro, "f1.yaml:3:32", "nosuchmacro"},
		{"bad number", "- rule: r\n  desc: d\n  condition: evt.type=open and proc.pid > 0xZZ1\n  output: o\n  priority: INFO\n", ErrSyntax, "f1.yaml:3:44", "unexpected token after '0'"},
		{"bad value for int field", "- rule: r\n  desc: d\n  condition: evt.type=open and proc.pid = abc\n  output: o\n  priority: INFO\n", ErrBadCheck, "f1.yaml:3:32", "not a number"},
		{"op on bool", "- rule: r\n  desc: d\n  condition: evt.type=open and sysward.denied contains x\n  output: o\n  priority: INFO\n", ErrBadCheck, "f1.yaml:3:32", "not a boolean"},
		{"op on int", "- rule: r\n  desc: d\n  condition: evt.type=open and proc.pid glob 1\n  output: o\n  priority: INFO\n", ErrBadCheck, "f1.yaml:3:32", "not supported for numbers"},
		{"append without base", "- rule: r\n  condition: and x\n  append: true\n", ErrNoSuchRule, "f1.yaml:1:9", "no rule r"},
		{"override bad key", "- rule: r\n  desc: d\n  condition: evt.type=open\n  output: o\n  priority: INFO\n- rule: r\n  priority: ERROR\n  override:\n    priority: append\n", ErrInvalidRule, "f1.yaml:9:15", "cannot be overridden"},
		{"engine version", "- required_engine_version: 99.0.0\n", ErrEngineVersion, "f1.yaml:1:28", "99.0.0"},
		{"list without parentheses", "- list: shells\n  items: [bash, sh]\n- rule: r\n  desc: d\n  condition: evt.type=execve and proc.name in shells\n  output: o\n  priority: INFO\n", ErrSyntax, "f1.yaml:5:46", "unexpected token after 'bash'"},
		{"macro uses a later macro", "- macro: a\n  condition: b and evt.type=open\n- macro: b\n  condition: proc.name=x\n", ErrUndefinedMacro, "f1.yaml:2:14", "b"},
		{"error after a substituted list", "- list: l\n  items: [a, b, c]\n- rule: r\n  desc: d\n  condition: proc.name in (l) and evt.type = (\n  output: o\n  priority: INFO\n", ErrSyntax, "f1.yaml:5:46", "1:33: expected a string value"},
		{"engine version syntax", "- required_engine_version: seven\n", ErrInvalidRule, "f1.yaml:1:28", "unable to parse"},
		{"override unexpected key", "- rule: r\n  desc: d\n  condition: evt.type=open\n  output: o\n  priority: INFO\n- rule: r\n  output: new\n  priority: ERROR\n  override:\n    output: replace\n", ErrInvalidRule, "f1.yaml:8:13", "unexpected key priority"},
		{"append nothing", "- rule: r\n  desc: d\n  condition: evt.type=open\n  output: o\n  priority: INFO\n- rule: r\n  output: x\n  append: true\n", ErrInvalidRule, "f1.yaml:6:3", "must have exceptions or condition"},
		{"enabled-only without enabled", "- rule: r\n  desc: d\n  condition: evt.type=open\n  output: o\n  priority: INFO\n- rule: r\n  tags: [x]\n", ErrInvalidRule, "f1.yaml:6:9", "no enabled key"},
		{"append exception fields", "- rule: r\n  desc: d\n  condition: evt.type=open\n  output: o\n  priority: INFO\n  exceptions:\n    - name: e\n      fields: [proc.name]\n      values: [[a]]\n- rule: r\n  exceptions:\n    - name: e\n      fields: [proc.name]\n      values: [[b]]\n  append: true\n", ErrInvalidRule, "f1.yaml:12:7", "only values"},
		{"single field comp", "- rule: r\n  desc: d\n  condition: evt.type=open\n  output: o\n  priority: INFO\n  exceptions:\n    - name: e\n      fields: proc.name\n      comps: =\n      values: [a]\n", ErrInvalidRule, "f1.yaml:9:14", "comps must be in, pmatch"},
		{"exception comps length", "- rule: r\n  desc: d\n  condition: evt.type=open\n  output: o\n  priority: INFO\n  exceptions:\n    - name: e\n      fields: [proc.name, fd.name]\n      comps: [=]\n", ErrInvalidRule, "f1.yaml:9:14", "equal length"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rs, err := load(t, tc.file)
			if err == nil {
				t.Fatalf("loaded, want an error (%d rules)", len(rs.Rules))
			}
			if rs != nil {
				t.Error("a Ruleset came back with the error")
			}
			if !errors.Is(err, tc.sentinel) {
				t.Errorf("errors.Is(%v, %v) = false", err, tc.sentinel)
			}
			var es Errors
			if !errors.As(err, &es) || len(es) == 0 {
				t.Fatalf("error is not Errors: %T", err)
			}
			first := es[0].Error()
			if !strings.HasPrefix(first, tc.pos) || !strings.Contains(first, tc.msg) {
				t.Errorf("error %q, want prefix %q containing %q", first, tc.pos, tc.msg)
			}
		})
	}
}

const baseRules = `
- list: shells
  items: [bash, sh]
- list: more_shells
  items: [shells, zsh, '"fish shell"']
- macro: spawned
  condition: evt.type in (execve, execveat)
- macro: shell
  condition: proc.name in (more_shells)
- rule: shell spawned
  desc: a shell
  condition: spawned and shell
  output: shell %proc.name
  priority: NOTICE
  tags: [a]
- rule: other
  desc: x
  condition: evt.type = open
  output: o
  priority: DEBUG
`

func TestAppendOverride(t *testing.T) {
	rs, err := load(t, baseRules, `
- list: shells
  items: [ksh]
  append: true
- macro: shell
  condition: or proc.name = tcsh
  append: true
- rule: shell spawned
  condition: and not proc.pname = sshd
  append: true
- rule: shell spawned
  output: replaced %proc.name
  tags: [b, a]
  priority: ERROR
  override:
    output: replace
    tags: append
    priority: replace
- rule: other
  enabled: false
`)
	if err != nil {
		t.Fatal(err)
	}
	if got := rs.Lists[1].Items; !reflect.DeepEqual(got, []string{"bash", "sh", "ksh", "zsh", "fish shell"}) {
		t.Errorf("more_shells = %q", got)
	}
	r := rs.Rule("shell spawned")
	if r.Condition != "spawned and shell and not proc.pname = sshd" || r.Output != "replaced %proc.name" ||
		!reflect.DeepEqual(r.Tags, []string{"a", "b"}) || r.Priority != PriorityError {
		t.Errorf("rule after append/override: %+v", r)
	}
	if rs.Rule("other").Enabled {
		t.Error("other still enabled")
	}
	var got []string
	eng, _ := NewEngine(rs, &EngineOptions{Sink: AlertFunc(func(a *Alert) { got = append(got, a.Output) })})
	for _, tc := range []struct {
		ev   Event
		want string
	}{
		{Event{Type: "execve", Proc: ProcInfo{Name: "ksh"}}, "replaced ksh"},
		{Event{Type: "execve", Proc: ProcInfo{Name: "fish shell"}}, "replaced fish shell"},
		{Event{Type: "execve", Proc: ProcInfo{Name: "tcsh"}}, "replaced tcsh"},
		{Event{Type: "execve", Proc: ProcInfo{Name: "bash", Ancestors: []Ancestor{{Name: "sshd"}}}}, ""},
		{Event{Type: "open", Proc: ProcInfo{Name: "bash"}}, ""},
	} {
		got = nil
		ev := tc.ev
		ev.Normalize()
		eng.Process(&ev)
		if (tc.want == "" && len(got) != 0) || (tc.want != "" && (len(got) != 1 || got[0] != tc.want)) {
			t.Errorf("%s %s: alerts %q, want %q", tc.ev.Type, tc.ev.Proc.Name, got, tc.want)
		}
	}
}

func TestExceptions(t *testing.T) {
	rs, err := load(t, `
- list: allowed_images
  items: [docker.io/library/nginx]
- rule: write etc
  desc: d
  condition: evt.type = openat and fd.name startswith /etc/
  output: "%proc.name wrote %fd.name"
  priority: WARNING
  exceptions:
    - name: by_proc_file
      fields: [proc.name, fd.name]
      comps: [=, startswith]
      values:
        - [dpkg, /etc/apt]
        - [vi, /etc/hosts]
    - name: images
      fields: container.image.repository
      values: [docker.io/library/redis]
- rule: write etc
  exceptions:
    - name: images
      values: [allowed_images]
    - name: by_list
      fields: [proc.name, proc.pname]
      comps: [in, in]
      values:
        - [[cp, mv], [ansible, salt]]
  append: true
`)
	if err != nil {
		t.Fatal(err)
	}
	eng, _ := NewEngine(rs, nil)
	for _, tc := range []struct {
		name  string
		proc  string
		pname string
		file  string
		image string
		want  bool
	}{
		{"plain", "bash", "", "/etc/passwd", "", true},
		{"tuple 1", "dpkg", "", "/etc/apt/sources.list", "", false},
		{"tuple 1 other file", "dpkg", "", "/etc/passwd", "", true},
		{"tuple 2", "vi", "", "/etc/hosts", "", false},
		{"image", "bash", "", "/etc/passwd", "docker.io/library/redis:7", false},
		{"appended list value", "bash", "", "/etc/passwd", "docker.io/library/nginx:1", false},
		{"list comps", "mv", "salt", "/etc/x", "", false},
		{"list comps miss", "mv", "bash", "/etc/x", "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev := Event{Type: "openat", Proc: ProcInfo{Name: tc.proc}, Fd: FdInfo{Name: tc.file}, Container: ContainerInfo{Image: tc.image, ID: "abc"}}
			if tc.pname != "" {
				ev.Proc.Ancestors = []Ancestor{{Name: tc.pname}}
			}
			ev.Normalize()
			if got := eng.Process(&ev) == 1; got != tc.want {
				t.Errorf("match = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestSkipsAndSources(t *testing.T) {
	rs, err := load(t, `
- rule: unknown field
  desc: d
  condition: evt.type=open and proc.exe_ino.mtime > 0
  output: o
  priority: INFO
  skip-if-unknown-filter: true
- rule: plugin source
  desc: d
  condition: ct.name=x
  output: o
  priority: INFO
  source: aws_cloudtrail
- rule: audit
  desc: d
  condition: ka.verb in (create, update) and ka.target.resource = secrets
  output: "%ka.user.name changed secret %ka.target.name"
  priority: WARNING
  source: k8s_audit
- rule: no evttype
  desc: d
  condition: proc.name = nc
  output: o
  priority: INFO
- rule: no evttype quiet
  desc: d
  condition: proc.name = nc
  output: o
  priority: INFO
  warn_evttypes: false
`)
	if err != nil {
		t.Fatal(err)
	}
	if r := rs.Rule("unknown field"); r.Compiled() || r.MissingField != "proc.exe_ino.mtime" {
		t.Errorf("unknown field: compiled=%v missing=%q", r.Compiled(), r.MissingField)
	}
	if r := rs.Rule("plugin source"); r.Compiled() || !strings.Contains(r.Skipped, "aws_cloudtrail") {
		t.Errorf("plugin source: %q", r.Skipped)
	}
	if r := rs.Rule("audit"); !r.Compiled() {
		t.Errorf("k8s_audit rule did not compile: %s", r.Skipped)
	}
	warned := map[string]bool{}
	for _, w := range rs.Warnings {
		if strings.Contains(w.Msg, "Rule matches too many evt.type values") {
			warned[w.Item] = true
		}
	}
	if !warned["rule no evttype"] || warned["rule no evttype quiet"] {
		t.Errorf("evttype warnings: %v", warned)
	}
	var out []string
	eng, _ := NewEngine(rs, &EngineOptions{Matching: MatchAll, Sink: AlertFunc(func(a *Alert) { out = append(out, a.Rule+": "+a.Output) })})
	var ka Event
	ka.SetAudit(&auditv1.Event{Verb: "update", ObjectRef: &auditv1.ObjectReference{Resource: "secrets", Name: "db"}, User: authnv1.UserInfo{Username: "bob"}}, nil)
	eng.Process(&ka)
	sys := Event{Type: "connect", Proc: ProcInfo{Name: "nc"}}
	sys.Normalize()
	eng.Process(&sys)
	want := []string{"audit: bob changed secret db", "no evttype: o", "no evttype quiet: o"}
	if !reflect.DeepEqual(out, want) {
		t.Errorf("alerts %q, want %q", out, want)
	}
}

// TestUnknownFieldsRefused: as in Falco, a field sysward does not know (a
// typo, or a Falco field sysward lacks) in a condition or an output, and a
// required plugin sysward does not provide, fail the load at file:line:col;
// skip-if-unknown-filter (per rule) or SkipUnknownFields (per load) skip
// instead, with a warning.
func TestUnknownFieldsRefused(t *testing.T) {
	const rule = "- rule: r\n  desc: d\n  condition: %s\n  output: %s\n  priority: INFO\n"
	for _, tc := range []struct {
		name, file string
		sentinel   error
		pos, msg   string
		skipped    string // Rule.Skipped with SkipUnknownFields; "" = compiles
	}{
		{"typo in condition", fmt.Sprintf(rule, "evt.type=open and proc.nmae=sh", "o"), ErrUnknownField, "f1.yaml:3:32", `unknown field "proc.nmae"`, "unsupported field proc.nmae"},
		{"typo in a macro", "- macro: m\n  condition: proc.nmae=sh\n" + fmt.Sprintf(rule, "evt.type=open and m", "o"), ErrUnknownField, "f1.yaml:2:14", `in macro m`, "unsupported field proc.nmae"},
		{"typo in output", fmt.Sprintf(rule, "evt.type=open", `"shell %proc.name by %user.nmae"`), ErrUnknownField, "f1.yaml:4:32", `unknown field "user.nmae" in output`, ""},
		{"typo in folded output", fmt.Sprintf(rule, "evt.type=open", ">\n    shell %proc.name\n    by %user.nmae"), ErrUnknownField, "f1.yaml:6:8", `"user.nmae"`, ""},
		{"unsupported transformer", fmt.Sprintf(rule, "evt.type=open and join(proc.name) = x", "o"), ErrUnknownField, "f1.yaml:3:32", "join", "unsupported field join()"},
		{"plugin", "- required_plugin_versions:\n  - name: cloudtrail\n    version: 0.7.0\n", ErrPluginUnavailable, "f1.yaml:2:5", "cloudtrail", ""},
		{"plugin alternatives unmet", "- required_plugin_versions:\n  - name: cloudtrail\n    version: 0.7.0\n    alternatives:\n      - name: okta\n        version: 0.4.0\n", ErrPluginUnavailable, "f1.yaml:2:5", "cloudtrail or okta", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := load(t, tc.file)
			var es Errors
			if !errors.As(err, &es) || len(es) == 0 {
				t.Fatalf("loaded (%v), want an error", err)
			}
			if !errors.Is(es[0], tc.sentinel) || !strings.HasPrefix(es[0].Error(), tc.pos+":") || !strings.Contains(es[0].Error(), tc.msg) {
				t.Errorf("error %q, want %v at %s containing %q", es[0], tc.sentinel, tc.pos, tc.msg)
			}
			rs, err := LoadRulesFilesWith(&LoadOptions{SkipUnknownFields: true}, RulesFile{Name: "f1.yaml", Data: []byte(tc.file)})
			if err != nil {
				t.Fatalf("with SkipUnknownFields: %v", err)
			}
			if len(rs.Warnings) == 0 {
				t.Errorf("with SkipUnknownFields: no warning")
			}
			if r := rs.Rule("r"); r != nil && r.Skipped != tc.skipped {
				t.Errorf("with SkipUnknownFields: Skipped %q, want %q", r.Skipped, tc.skipped)
			}
		})
	}

	// Falco's own per-rule opt-out: an unknown output field skips the rule.
	rs, err := load(t, fmt.Sprintf(rule, "evt.type=open", "%user.nmae")+"  skip-if-unknown-filter: true\n")
	if err != nil {
		t.Fatal(err)
	}
	if r := rs.Rule("r"); r.Compiled() || r.MissingField != "user.nmae" {
		t.Errorf("skip-if-unknown-filter with an unknown output field: compiled=%v missing=%q", r.Compiled(), r.MissingField)
	}
	// A plugin sysward provides, or one alternative it provides, is met.
	if _, err := load(t, "- required_plugin_versions:\n  - name: container\n    version: 0.4.0\n  - name: k8smeta-x\n    version: 1.0.0\n    alternatives:\n      - name: k8smeta\n        version: 0.1.0\n"); err != nil {
		t.Errorf("plugins sysward provides: %v", err)
	}
}

func FuzzLoadRules(f *testing.F) {
	f.Add(baseRules)
	f.Add("- rule: r\n  desc: d\n  condition: >\n    evt.type=open and\n    proc.name = (\n  output: o\n  priority: INFO\n")
	f.Add("- list: l\n  items: [a, l]\n- macro: m\n  condition: m\n- rule: r\n  desc: d\n  condition: m and proc.name in (l)\n  output: o\n  priority: INFO\n")
	f.Add("- rule: r\n  desc: d\n  condition: evt.type=open\n  output: o\n  priority: INFO\n  exceptions:\n    - name: e\n      fields: [proc.name]\n      values: [[a], [b]]\n")
	f.Add("- required_engine_version: 0.1.0\n- required_plugin_versions:\n  - name: x\n    version: 1\n")
	f.Add("[")
	f.Add("- &a {rule: x}\n- *a\n")
	if data, err := os.ReadFile("testdata/falco_loader_conformance.jsonl"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			var c struct{ Rules string }
			if json.Unmarshal([]byte(line), &c) == nil && c.Rules != "" {
				f.Add(c.Rules)
			}
		}
	}
	f.Add(nestedMacros(39))
	f.Add("- list: l\n  items: " + strings.Repeat("[", 1000) + strings.Repeat("]", 1000) + "\n")
	f.Add(listBomb(100, 100, 20))
	f.Fuzz(func(t *testing.T, data string) {
		var rs *Ruleset
		var err error
		if n := allocated(func() { rs, err = LoadRulesFiles(RulesFile{Name: "fuzz.yaml", Data: []byte(data)}) }); n > loadAllocBound {
			t.Fatalf("loading %d bytes allocated %d MB, bound %d MB", len(data), n>>20, loadAllocBound>>20)
		}
		if err != nil {
			var es Errors
			if !errors.As(err, &es) || len(es) == 0 {
				t.Fatalf("error is not Errors: %T %v", err, err)
			}
			for _, e := range es {
				if e.Pos.File != "fuzz.yaml" || e.Pos.Line < 1 || e.Pos.Col < 1 {
					t.Fatalf("error without a position: %v", e)
				}
			}
			return
		}
		eng, err := NewEngine(rs, &EngineOptions{Matching: MatchAll, Sink: AlertFunc(func(*Alert) {})})
		if err != nil {
			t.Fatal(err)
		}
		ev := Event{Type: "open", Proc: ProcInfo{Name: "a", Ancestors: []Ancestor{{Name: "b"}}}}
		ev.Normalize()
		eng.Process(&ev)
	})
}

// TestTextualLists: lists are substituted into condition text as Falco
// does — list names with spaces, quoted items, lists inside lists defined
// earlier (one level), and a rule that uses a list defined after it.
func TestTextualLists(t *testing.T) {
	rs, err := load(t, `
- rule: uses later list
  desc: d
  condition: evt.type = execve and proc.name in (late list)
  output: o
  priority: INFO
  warn_evttypes: false
- list: base
  items: [dash]
- list: late list
  items: [base, '"my shell"', "zsh"]
`)
	if err != nil {
		t.Fatal(err)
	}
	if got := rs.Lists[1].Items; !reflect.DeepEqual(got, []string{"dash", "my shell", "zsh"}) {
		t.Errorf("late list = %q", got)
	}
	eng, _ := NewEngine(rs, nil)
	for name, want := range map[string]bool{"dash": true, "my shell": true, "zsh": true, "base": false, "bash": false} {
		ev := Event{Type: "execve", Proc: ProcInfo{Name: name}}
		ev.Normalize()
		if got := eng.Process(&ev) == 1; got != want {
			t.Errorf("%q: match %v, want %v", name, got, want)
		}
	}
}
