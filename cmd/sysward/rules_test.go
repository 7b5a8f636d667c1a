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
	// Falco's stable rules use fields sysward lacks: refused as Falco
	// would, each named, unless --skip-unknown-fields.
	code, out, errs := runCLI(t, "rules", "check", falcoRules(t))
	if code != 2 || !strings.Contains(errs, falcoRules(t)+":822:15: rule Contact K8S API Server From Container: in macro k8s_api_server at 1:2: unknown field \"fd.sip.name\"") ||
		!strings.Contains(errs, "--skip-unknown-fields") {
		t.Errorf("strict: exit %d, stderr %q", code, errs)
	}
	code, out, errs = runCLI(t, "rules", "check", "--skip-unknown-fields", falcoRules(t))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if !strings.Contains(out, "24 compiled, 1 skipped") || !strings.Contains(out, "field fd.sip.name") {
		t.Errorf("output:\n%s", out)
	}
	code, out, _ = runCLI(t, "rules", "check", "--skip-unknown-fields", "--format", "json", falcoRules(t))
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

	// issue #13 item 7: a typo'd field was a skipped rule and exit 0
	typo := filepath.Join(t.TempDir(), "typo.yaml")
	os.WriteFile(typo, []byte("- rule: r\n  desc: d\n  condition: evt.type = execve and proc.nmae = sh\n  output: o\n  priority: INFO\n"), 0o644)
	code, _, errs = runCLI(t, "rules", "check", typo)
	if code != 2 || !strings.Contains(errs, typo+":3:36: rule r: 1:23: unknown field \"proc.nmae\"") {
		t.Errorf("typo: exit %d, stderr %q", code, errs)
	}
	plugin := filepath.Join(t.TempDir(), "plugin.yaml")
	os.WriteFile(plugin, []byte("- required_plugin_versions:\n  - name: cloudtrail\n    version: 0.7.0\n"), 0o644)
	code, _, errs = runCLI(t, "rules", "check", plugin)
	if code != 2 || !strings.Contains(errs, plugin+":2:5: required_plugin_versions: required plugin not available: plugin cloudtrail") {
		t.Errorf("plugin: exit %d, stderr %q", code, errs)
	}
	if code, _, errs = runCLI(t, "rules", "check", "--skip-unknown-fields", plugin); code != 0 {
		t.Errorf("plugin with --skip-unknown-fields: exit %d, stderr %q", code, errs)
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
	code, out, errs := runCLI(t, "rules", "test", "--skip-unknown-fields", "--hostname", "h", "--events", events, falcoRules(t))
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
	code, out, _ = runCLI(t, "rules", "test", "--skip-unknown-fields", "--format", "json", "--min-priority", "warning", "--events", events, falcoRules(t))
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
	if code, _, errs := runCLI(t, "rules", "test", "--skip-unknown-fields", "--events", badEvents, falcoRules(t)); code != 2 || !strings.Contains(errs, "e.jsonl:2") {
		t.Errorf("bad events: exit %d %s", code, errs)
	}
}
