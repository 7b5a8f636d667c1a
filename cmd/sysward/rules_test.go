package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// runCLI runs the app with captured output and returns the exit status as
// main would.
func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	app := newApp()
	var out, errb bytes.Buffer
	app.Writer, app.ErrWriter = &out, &errb
	code = exitCode(app.Run(append([]string{"sysward"}, args...)), &errb)
	return code, out.String(), errb.String()
}

func falcoRules(t *testing.T) string {
	for _, p := range []string{"../../../shared/conformance/falco/falco_rules.yaml", "/work/shared/conformance/falco/falco_rules.yaml"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	t.Fatal("falco_rules.yaml not found beside the repository")
	return ""
}

func TestRulesCheckCLI(t *testing.T) {
	code, out, errs := runCLI(t, "rules", "check", falcoRules(t))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if !strings.Contains(out, "24 compiled, 1 skipped") || !strings.Contains(out, "field fd.sip.name") {
		t.Errorf("output:\n%s", out)
	}
	code, out, _ = runCLI(t, "rules", "check", "--format", "json", falcoRules(t))
	var rep checkJSON
	if code != 0 || json.Unmarshal([]byte(out), &rep) != nil || rep.Compiled != 24 || len(rep.Rules) != 25 {
		t.Errorf("json: exit %d, %+v", code, rep)
	}

	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte("- rule: r\n  desc: d\n  condition: evt.type = open and\n  output: o\n  priority: INFO\n"), 0o644)
	code, _, errs = runCLI(t, "rules", "check", bad)
	if code != 2 || !strings.Contains(errs, bad+":3:") {
		t.Errorf("bad file: exit %d, stderr %q", code, errs)
	}
	if code, _, _ := runCLI(t, "rules", "check"); code != 2 {
		t.Errorf("no files: exit %d", code)
	}
}

func TestRulesFieldsCLI(t *testing.T) {
	code, out, _ := runCLI(t, "rules", "fields")
	for _, f := range []string{"proc.aname[n]", "evt.arg[n|name]", "sysward.in_profile", "container.image.repository", "k8s.pod.labels"} {
		if !strings.Contains(out, f) {
			t.Errorf("fields lack %s", f)
		}
	}
	if code != 0 {
		t.Errorf("exit %d", code)
	}
	code, out, _ = runCLI(t, "rules", "fields", "--source", "k8s_audit", "--format", "json")
	if code != 0 || !strings.Contains(out, `"ka.verb"`) {
		t.Errorf("k8s_audit: exit %d\n%s", code, out)
	}
	if code, _, _ := runCLI(t, "rules", "fields", "--source", "nope"); code != 2 {
		t.Errorf("bad source: exit %d", code)
	}
}

func TestRulesTestCLI(t *testing.T) {
	events := "../../detector/testdata/events.jsonl"
	code, out, errs := runCLI(t, "rules", "test", "--hostname", "h", "--events", events, falcoRules(t))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, want := range []string{"Notice A shell was spawned in a container", "Warning Sensitive file opened for reading", "Clear Log Activities" /* in stderr summary */} {
		if !strings.Contains(out+errs, want) {
			t.Errorf("missing %q in\n%s\n%s", want, out, errs)
		}
	}
	if !strings.Contains(errs, "11 events, 4 alerts") {
		t.Errorf("summary: %s", errs)
	}
	code, out, _ = runCLI(t, "rules", "test", "--format", "json", "--min-priority", "warning", "--events", events, falcoRules(t))
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 3 {
		t.Fatalf("json: exit %d, %d lines:\n%s", code, len(lines), out)
	}
	for _, l := range lines {
		var a map[string]any
		if err := json.Unmarshal([]byte(l), &a); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"time", "rule", "priority", "source", "hostname", "output", "output_fields", "tags"} {
			if _, ok := a[k]; !ok {
				t.Errorf("alert lacks %s: %s", k, l)
			}
		}
	}
	if code, _, _ := runCLI(t, "rules", "test", falcoRules(t)); code != 2 {
		t.Errorf("no --events: exit %d", code)
	}
	badEvents := filepath.Join(t.TempDir(), "e.jsonl")
	os.WriteFile(badEvents, []byte("{\"type\":\"open\"}\n{\"type\": 3}\n"), 0o644)
	if code, _, errs := runCLI(t, "rules", "test", "--events", badEvents, falcoRules(t)); code != 2 || !strings.Contains(errs, "e.jsonl:2") {
		t.Errorf("bad events: exit %d %s", code, errs)
	}
}
