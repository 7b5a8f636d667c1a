package audit

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sysward/sysward/detector"
	"github.com/sysward/sysward/internal/kubetest"
)

type webhookEnv struct {
	wh     *Webhook
	url    string
	ca     *kubetest.TestCA
	client *http.Client // presents the good client certificate
	tlsCfg *tls.Config
	cancel context.CancelFunc
}

func startWebhook(t *testing.T, opts WebhookOptions, mtls bool) *webhookEnv {
	t.Helper()
	ca, err := kubetest.NewTestCA(filepath.Join(t.TempDir(), "pki"))
	if err != nil {
		t.Fatal(err)
	}
	opts.CertFile, opts.KeyFile, err = ca.Issue("server", pkix.Name{CommonName: "sysward"}, true)
	if err != nil {
		t.Fatal(err)
	}
	if mtls {
		opts.ClientCAFile = ca.CA
	}
	wh, err := NewWebhook(opts)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go wh.Serve(ctx, ln)
	pem, _ := os.ReadFile(ca.CA)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	cf, kf, err := ca.Issue("client", pkix.Name{CommonName: "kube-apiserver"}, false)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.LoadX509KeyPair(cf, kf)
	if err != nil {
		t.Fatal(err)
	}
	cfg := &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}}
	return &webhookEnv{wh: wh, url: "https://" + ln.Addr().String() + "/k8s-audit", ca: ca, tlsCfg: cfg, cancel: cancel,
		client: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}}
}

// eventList makes an EventList of n copies of a real record, each with its
// own auditID.
func eventList(t testing.TB, n int) []byte {
	t.Helper()
	data, err := os.ReadFile("testdata/replay/kubectl_real.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	rec := bytes.SplitN(data, []byte("\n"), 2)[0]
	var b bytes.Buffer
	b.WriteString(`{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{},"items":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(bytes.Replace(rec, []byte(`"auditID":"`), []byte(fmt.Sprintf(`"auditID":"%08d-`, i)), 1))
	}
	b.WriteString("]}")
	return b.Bytes()
}

func post(t *testing.T, c *http.Client, url string, body []byte, hdr map[string]string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("POST: %v", err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(msg))
}

// TestWebhookAccepts: an EventList is answered 200 and its records come out
// of Next decoded, in order.
func TestWebhookAccepts(t *testing.T) {
	e := startWebhook(t, WebhookOptions{}, true)
	if code, msg := post(t, e.client, e.url, eventList(t, 3), nil); code != http.StatusOK {
		t.Fatalf("status %d: %s", code, msg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	b, ok := e.wh.Next(ctx)
	if !ok || len(b) != 3 {
		t.Fatalf("batch of %d, ok %v", len(b), ok)
	}
	for i, ev := range b {
		if ev.Source != detector.SourceK8sAudit || !strings.HasPrefix(string(ev.Audit.Event.AuditID), fmt.Sprintf("%08d-", i)) || ev.Audit.Event.ObjectRef.Name != "priv-real" {
			t.Errorf("event %d: %s %s", i, ev.Source, ev.Audit.Event.AuditID)
		}
	}
	if s := e.wh.Stats(); s.Batches != 1 || s.Events != 3 || s.Queued != 0 {
		t.Errorf("stats %+v", s)
	}
}

// TestWebhookRejects: every kind of bad request gets its 4xx, its counter
// and a message saying what is wrong; nothing is queued.
func TestWebhookRejects(t *testing.T) {
	e := startWebhook(t, WebhookOptions{MaxBodyBytes: 64 << 10, MaxBatchEvents: 5, QueueEvents: 8}, true)
	other, err := kubetest.NewTestCA(filepath.Join(t.TempDir(), "other"))
	if err != nil {
		t.Fatal(err)
	}
	cf, kf, _ := other.Issue("intruder", pkix.Name{CommonName: "kube-apiserver"}, false)
	wrong, _ := tls.LoadX509KeyPair(cf, kf)
	wrongCfg := e.tlsCfg.Clone()
	wrongCfg.Certificates = []tls.Certificate{wrong}
	noCertCfg := e.tlsCfg.Clone()
	noCertCfg.Certificates = nil
	wrongClient := &http.Client{Transport: &http.Transport{TLSClientConfig: wrongCfg}}
	noCertClient := &http.Client{Transport: &http.Transport{TLSClientConfig: noCertCfg}}

	for _, c := range []struct {
		name   string
		client *http.Client
		body   []byte
		code   int
		reason string
		msg    string
	}{
		{"malformed JSON", e.client, []byte(`{"kind":"EventList",`), 400, RejectMalformed, "malformed audit JSON"},
		{"not an object", e.client, []byte(`[1,2]`), 400, RejectMalformed, "malformed audit JSON"},
		{"wrong apiVersion", e.client, bytes.Replace(eventList(t, 1), []byte("audit.k8s.io/v1"), []byte("audit.k8s.io/v1beta1"), 1), 400, RejectAPIVersion, `got apiVersion "audit.k8s.io/v1beta1"`},
		{"an Event, not an EventList", e.client, []byte(`{"kind":"Event","apiVersion":"audit.k8s.io/v1"}`), 400, RejectAPIVersion, `kind "Event"`},
		{"item without auditID", e.client, []byte(`{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[{"stage":"ResponseComplete"}]}`), 400, RejectMalformed, "item 0: malformed audit JSON: no auditID"},
		{"item of the wrong type", e.client, []byte(`{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[{"auditID":7}]}`), 400, RejectMalformed, "item 0"},
		{"too many events", e.client, eventList(t, 6), 413, RejectTooManyEvents, "6 events, at most 5"},
		{"body too large", e.client, eventList(t, 40), 413, RejectTooLarge, "at most 65536"},
		{"client certificate of another CA", wrongClient, eventList(t, 1), 403, RejectForbidden, "client certificate not accepted"},
		{"no client certificate", noCertClient, eventList(t, 1), 401, RejectUnauthorized, "a client certificate is required"},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := e.wh.Stats().Rejected[c.reason]
			code, msg := post(t, c.client, e.url, c.body, nil)
			if code != c.code || !strings.Contains(msg, c.msg) {
				t.Errorf("got %d %q, want %d containing %q", code, msg, c.code, c.msg)
			}
			if after := e.wh.Stats().Rejected[c.reason]; after != before+1 {
				t.Errorf("counter %s: %d -> %d", c.reason, before, after)
			}
		})
	}
	req, _ := http.NewRequest(http.MethodGet, e.url, nil)
	if resp, err := e.client.Do(req); err != nil || resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET: %v %v", resp.Status, err)
	}
	if s := e.wh.Stats(); s.Events != 0 || s.Queued != 0 {
		t.Errorf("something was queued: %+v", s)
	}

	// The queue holds 8 events: a second batch of 5 does not fit, is
	// refused with 429 (the apiserver retries) and counted as dropped; once
	// the consumer takes the first, it fits again.
	if code, msg := post(t, e.client, e.url, eventList(t, 5), nil); code != 200 {
		t.Fatalf("first batch: %d %s", code, msg)
	}
	if code, msg := post(t, e.client, e.url, eventList(t, 5), nil); code != http.StatusTooManyRequests {
		t.Fatalf("batch over the queue: %d %s", code, msg)
	}
	if s := e.wh.Stats(); s.Dropped != 5 || s.Rejected[RejectQueueFull] != 1 || s.Queued != 5 {
		t.Errorf("stats after the full queue: %+v", s)
	}
	if _, ok := e.wh.Next(context.Background()); !ok {
		t.Fatal("Next")
	}
	if code, msg := post(t, e.client, e.url, eventList(t, 5), nil); code != 200 {
		t.Fatalf("batch after the queue drained: %d %s", code, msg)
	}
}

// TestWebhookBearerToken: with --token-file, a request needs the token.
func TestWebhookBearerToken(t *testing.T) {
	tok := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tok, []byte("s3cr3t-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e := startWebhook(t, WebhookOptions{TokenFile: tok}, false)
	for _, c := range []struct {
		hdr  string
		code int
	}{{"", 401}, {"Bearer wrong", 401}, {"Basic s3cr3t-token", 401}, {"Bearer s3cr3t-token", 200}} {
		code, msg := post(t, e.client, e.url, eventList(t, 1), map[string]string{"Authorization": c.hdr})
		if code != c.code {
			t.Errorf("Authorization %q: %d %s, want %d", c.hdr, code, msg, c.code)
		}
	}
	if n := e.wh.Stats().Rejected[RejectUnauthorized]; n != 3 {
		t.Errorf("unauthorized counter %d, want 3", n)
	}
}

// TestNewWebhookErrors: bad files are named, a FIFO is refused without
// blocking.
func TestNewWebhookErrors(t *testing.T) {
	dir := t.TempDir()
	ca, _ := kubetest.NewTestCA(filepath.Join(dir, "pki"))
	cf, kf, _ := ca.Issue("s", pkix.Name{CommonName: "s"}, true)
	fifo := filepath.Join(dir, "fifo")
	if err := mkfifo(fifo); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, nil, 0o600)
	for _, c := range []struct {
		opts WebhookOptions
		want string
	}{
		{WebhookOptions{}, "a TLS certificate and key are required"},
		{WebhookOptions{CertFile: filepath.Join(dir, "nope.crt"), KeyFile: kf}, "nope.crt"},
		{WebhookOptions{CertFile: kf, KeyFile: cf}, "TLS certificate " + kf},
		{WebhookOptions{CertFile: cf, KeyFile: kf, ClientCAFile: fifo}, "not a regular file"},
		{WebhookOptions{CertFile: cf, KeyFile: kf, ClientCAFile: kf}, "no PEM certificate"},
		{WebhookOptions{CertFile: cf, KeyFile: kf, TokenFile: empty}, "is empty"},
	} {
		if _, err := NewWebhook(c.opts); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.opts, err, c.want)
		}
	}
}

// TestWebhookBurst: one batch of 10 000 records (25 times the apiserver's
// default batch) is accepted whole and every record reaches the rules.
func TestWebhookBurst(t *testing.T) {
	e := startWebhook(t, WebhookOptions{}, true)
	body := eventList(t, 10000)
	if code, msg := post(t, e.client, e.url, body, nil); code != 200 {
		t.Fatalf("%d %s", code, msg)
	}
	rs, err := detector.LoadRules(falcoRules)
	if err != nil {
		t.Fatal(err)
	}
	alerts := 0
	eng, _ := detector.NewEngine(rs, &detector.EngineOptions{Sink: detector.AlertFunc(func(a *detector.Alert) {
		if a.Rule == "Create Privileged Pod" {
			alerts++
		}
	})})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, ok := e.wh.Next(ctx)
	if !ok {
		t.Fatal("no batch")
	}
	for i := range b {
		eng.Process(&b[i])
	}
	if len(b) != 10000 || alerts != 10000 || eng.Stats().Events != 10000 {
		t.Errorf("%d events, %d alerts, engine saw %d", len(b), alerts, eng.Stats().Events)
	}
	if s := e.wh.Stats(); s.Dropped != 0 || s.Events != 10000 {
		t.Errorf("stats %+v", s)
	}
}

// TestWebhookInFlight: with one request being read (a client trickling its
// body), another is refused at once with 429 instead of holding a second
// body in memory; once the first ends, requests are served again.
func TestWebhookInFlight(t *testing.T) {
	e := startWebhook(t, WebhookOptions{MaxInFlight: 1}, true)
	pr, pw := io.Pipe()
	first := make(chan int, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodPost, e.url, pr)
		resp, err := e.client.Do(req)
		if err != nil {
			first <- 0
			return
		}
		resp.Body.Close()
		first <- resp.StatusCode
	}()
	pw.Write([]byte(`{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[`))
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		code, msg := post(t, e.client, e.url, eventList(t, 1), nil)
		if code == http.StatusTooManyRequests {
			if !strings.Contains(msg, "1 requests already in progress") {
				t.Errorf("message %q", msg)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("never refused while a request was in flight: %d %s", code, msg)
		}
	}
	pw.Write([]byte(`]}`))
	pw.Close()
	if code := <-first; code != http.StatusOK {
		t.Errorf("the trickled request: %d", code)
	}
	if code, msg := post(t, e.client, e.url, eventList(t, 1), nil); code != 200 {
		t.Errorf("after: %d %s", code, msg)
	}
	if n := e.wh.Stats().Rejected[RejectBusy]; n != 1 {
		t.Errorf("busy counter %d", n)
	}
}
