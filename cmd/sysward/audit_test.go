package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

const k8sAuditRules = "../../audit/testdata/falco/k8s_audit_rules.yaml"

// TestAuditFollowCLI replays a saved audit log: Falco's alerts on stdout,
// a bad line reported with its number, the counts on stderr.
func TestAuditFollowCLI(t *testing.T) {
	log := filepath.Join(t.TempDir(), "audit.log")
	var data []byte
	for _, f := range []string{"kubectl_real.jsonl", "crafted.jsonl"} {
		b, err := os.ReadFile(filepath.Join("../../audit/testdata/replay", f))
		if err != nil {
			t.Fatal(err)
		}
		data = append(data, b...)
	}
	data = append(data, "{\"kind\":\"Event\",\"apiVersion\":\"audit.k8s.io/v1beta1\"}\n"...)
	if err := os.WriteFile(log, data, 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errs := runCLI(t, "audit", "follow", "--log", log, "--from-start", "--once", "--rules", k8sAuditRules, "--format", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, want := range []string{`"rule":"Create Privileged Pod"`, `"rule":"Attach/Exec Pod"`, `"ka.uri.param[command]":"sh"`, `"source":"k8s_audit"`} {
		if !strings.Contains(out, want) {
			t.Errorf("no %s in:\n%s", want, out)
		}
	}
	if !strings.Contains(errs, "record 14: unsupported audit apiVersion or kind: got apiVersion \"audit.k8s.io/v1beta1\"") ||
		!strings.Contains(errs, "13 records, 24 alerts, 1 not audit records") {
		t.Errorf("stderr: %s", errs)
	}
}

// TestAuditCLIBadUsage: bad flags and files exit 2 naming what is wrong.
func TestAuditCLIBadUsage(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	syscallRules := filepath.Join(dir, "sys.yaml")
	os.WriteFile(syscallRules, []byte("- rule: r\n  desc: d\n  condition: evt.type=open\n  output: o\n  priority: INFO\n"), 0o600)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"audit", "follow", "--rules", k8sAuditRules}, "--log FILE is required"},
		{[]string{"audit", "follow", "--log", fifo, "--rules", k8sAuditRules}, "not a regular file (FIFO)"},
		{[]string{"audit", "follow", "--log", filepath.Join(dir, "nope"), "--rules", k8sAuditRules}, "--log: opening audit log"},
		{[]string{"audit", "follow", "--log", fifo}, "--rules FILE is required"},
		{[]string{"audit", "follow", "--log", fifo, "--rules", syscallRules}, "no k8s_audit rule compiled"},
		{[]string{"audit", "follow", "--log", fifo, "--rules", k8sAuditRules, "--format", "xml"}, "--format"},
		{[]string{"audit", "serve", "--rules", k8sAuditRules}, "--cert FILE is required"},
		{[]string{"audit", "serve", "--cert", fifo, "--key", fifo, "--rules", k8sAuditRules}, "not a regular file"},
		{[]string{"audit", "serve", "--cert", "c", "--key", "k", "--client-ca", "a", "--token-file", "t", "--rules", k8sAuditRules}, "choose one"},
		{[]string{"audit", "serve", "--cert", "c", "--key", "k", "--queue", "0", "--rules", k8sAuditRules}, "--queue 0"},
	} {
		code, _, errs := runCLI(t, c.args...)
		if code != 2 || !strings.Contains(errs, c.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", c.args, code, errs, c.want)
		}
	}
}
