package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sysward/sysward/internal/kubetest"
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

// TestAuditServeCLI: sysward audit serve with mutual TLS takes an EventList
// (the real kubectl records), prints Falco's alerts, refuses a client
// without a certificate with 401, and prints its counters when stopped.
func TestAuditServeCLI(t *testing.T) {
	dir := t.TempDir()
	ca, err := kubetest.NewTestCA(filepath.Join(dir, "pki"))
	if err != nil {
		t.Fatal(err)
	}
	cert, key, _ := ca.Issue("server", pkix.Name{CommonName: "sysward"}, true)
	ccert, ckey, _ := ca.Issue("apiserver", pkix.Name{CommonName: "kube-apiserver"}, false)
	port, err := kubetest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	app := newApp()
	var out, errb syncBuffer
	app.Writer, app.ErrWriter = &out, &errb
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- app.RunContext(ctx, []string{"sysward", "audit", "serve", "--listen", addr, "--cert", cert, "--key", key,
			"--client-ca", ca.CA, "--rules", k8sAuditRules})
	}()
	recs, err := os.ReadFile("../../audit/testdata/replay/kubectl_real.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	body := `{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[` + strings.Join(strings.Split(strings.TrimSpace(string(recs)), "\n"), ",") + `]}`
	pool := x509.NewCertPool()
	pem, _ := os.ReadFile(ca.CA)
	pool.AppendCertsFromPEM(pem)
	kp, _ := tls.LoadX509KeyPair(ccert, ckey)
	post := func(certs []tls.Certificate) int {
		cl := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: certs}}}
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			resp, err := cl.Post("https://"+addr+"/k8s-audit", "application/json", strings.NewReader(body))
			if err == nil {
				resp.Body.Close()
				return resp.StatusCode
			}
			if time.Now().After(deadline) {
				t.Fatalf("POST: %v (stderr %s)", err, errb.String())
			}
		}
	}
	if code := post([]tls.Certificate{kp}); code != 200 {
		t.Fatalf("status %d", code)
	}
	if code := post(nil); code != 401 {
		t.Errorf("without a client certificate: status %d", code)
	}
	for deadline := time.Now().Add(20 * time.Second); !strings.Contains(out.String(), "Created Role/ClusterRole with wildcard"); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no alert; stdout %q stderr %q", out.String(), errb.String())
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Warning Pod started with privileged container (user=kubernetes-admin pod=priv-real", "Warning K8s configmap with private credential"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("no %q in %s", want, out.String())
		}
	}
	if !strings.Contains(errb.String(), "1 batches, 3 events, 5 alerts, 0 events dropped (queue full), 0 still queued; refused: unauthorized=1") {
		t.Errorf("stderr: %s", errb.String())
	}
}
