package output

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sysward/sysward/detector/metrics"
)

// falcoPayload is the shape of falcosidekick's types.FalcoPayload, which is
// what its "/" handler decodes every request body into.
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

// check is falcosidekick's FalcoPayload.Check: what makes it answer 400.
func (p falcoPayload) check() error {
	switch strings.ToLower(p.Priority) {
	case "emergency", "alert", "critical", "error", "warning", "notice", "informational", "debug":
	default:
		return errors.New("priority")
	}
	if p.Rule == "" || p.Time.IsZero() || len(p.OutputFields) == 0 {
		return errors.New("rule, time or output_fields missing")
	}
	return nil
}

// sidekick is a falcosidekick stand-in: it decodes strictly, rejects what
// falcosidekick rejects, and fails the first failFirst requests with 503.
type sidekick struct {
	failFirst int32
	calls     atomic.Int32
	mu        sync.Mutex
	got       []falcoPayload
	headers   []http.Header
	bad       []string
}

func (s *sidekick) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := s.calls.Add(1)
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.Method != http.MethodPost || r.URL.Path != "/" {
		s.bad = append(s.bad, r.Method+" "+r.URL.Path)
		http.Error(w, "not found", 404)
		return
	}
	if n <= s.failFirst {
		http.Error(w, "try later", http.StatusServiceUnavailable)
		return
	}
	var p falcoPayload
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		s.bad = append(s.bad, "decode: "+err.Error())
		http.Error(w, "Please send a valid request body", 400)
		return
	}
	if err := p.check(); err != nil {
		s.bad = append(s.bad, "check: "+err.Error())
		http.Error(w, "Please send a valid request body", 400)
		return
	}
	s.got = append(s.got, p)
	s.headers = append(s.headers, r.Header.Clone())
	w.WriteHeader(http.StatusOK)
}

func serverCAPEM(srv *httptest.Server) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
}

func TestHTTPFalcosidekickOverTLS(t *testing.T) {
	sk := &sidekick{failFirst: 2}
	srv := httptest.NewTLSServer(sk)
	defer srv.Close()
	m := metrics.New(&metrics.Options{NoRuntimeCollectors: true})
	h, err := NewHTTP(HTTPConfig{
		URL:        srv.URL + "/",
		CAPEM:      serverCAPEM(srv), // custom CA: the test server's self-signed certificate
		Headers:    map[string]string{"Authorization": "Bearer s3cret", "X-Tenant": "blue"},
		BackoffMin: Duration(time.Millisecond), BackoffMax: Duration(5 * time.Millisecond),
	}, &Options{Recorder: m})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		h.Send(alert(i))
	}
	closeOK(t, h)

	sk.mu.Lock()
	defer sk.mu.Unlock()
	if len(sk.bad) > 0 {
		t.Fatalf("rejected requests: %v", sk.bad)
	}
	if len(sk.got) != 3 {
		t.Fatalf("sidekick accepted %d alerts, want 3", len(sk.got))
	}
	for i, p := range sk.got {
		if p.Rule != "Terminal shell in container" || p.Priority != "Notice" || p.Source != "syscall" ||
			p.Hostname != "node-1" || p.OutputFields["n"] != float64(i) || !p.Time.Equal(alert(i).Time) ||
			!strings.HasPrefix(p.Output, "07:08:09.") || len(p.Tags) != 1 {
			t.Errorf("alert %d arrived as %+v", i, p)
		}
	}
	hd := sk.headers[0]
	if hd.Get("Authorization") != "Bearer s3cret" || hd.Get("X-Tenant") != "blue" ||
		hd.Get("Content-Type") != "application/json" || !strings.HasPrefix(hd.Get("User-Agent"), "sysward/") {
		t.Errorf("headers %v", hd)
	}
	st := h.Stats()
	if st.Sent != 3 || st.Errors != 2 || st.Dropped != 0 || sk.calls.Load() != 5 {
		t.Errorf("stats %+v, calls %d: want 3 sent after 2 retried 503s", st, sk.calls.Load())
	}
	if got := counter(t, m, metrics.OutputErrorsTotal, map[string]string{"output": "http"}); got != 2 {
		t.Errorf("errors metric %v", got)
	}
	if got := counter(t, m, metrics.OutputSentTotal, map[string]string{"output": "http"}); got != 3 {
		t.Errorf("sent metric %v", got)
	}
}

func TestHTTPTLSVerification(t *testing.T) {
	sk := &sidekick{}
	srv := httptest.NewTLSServer(sk)
	defer srv.Close()
	cases := []struct {
		name     string
		cfg      HTTPConfig
		wantSent uint64
	}{
		{"unknown CA is refused", HTTPConfig{URL: srv.URL, MaxRetries: -1}, 0},
		{"insecure flag skips verification", HTTPConfig{URL: srv.URL, InsecureSkipVerify: true}, 1},
		{"custom CA", HTTPConfig{URL: srv.URL, CAPEM: serverCAPEM(srv)}, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h, err := NewHTTP(c.cfg, nil)
			if err != nil {
				t.Fatal(err)
			}
			h.Send(alert(0))
			h.Close(context.Background())
			if st := h.Stats(); st.Sent != c.wantSent || st.Sent+st.Dropped != 1 {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

func TestHTTPClientErrorsAreNotRetried(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		http.Error(w, "bad", http.StatusBadRequest)
	}))
	defer srv.Close()
	h, err := NewHTTP(HTTPConfig{URL: srv.URL, BackoffMin: Duration(time.Millisecond), BackoffMax: Duration(time.Millisecond)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	h.Send(alert(0))
	closeOK(t, h)
	if calls.Load() != 1 || h.Stats().Dropped != 1 || h.Stats().Errors != 1 {
		t.Errorf("calls %d stats %+v", calls.Load(), h.Stats())
	}
}

func TestHTTPBackoffBounds(t *testing.T) {
	s := &httpSink{cfg: HTTPConfig{BackoffMin: Duration(100 * time.Millisecond), BackoffMax: Duration(time.Second)}}
	for attempt := range 40 {
		for range 20 {
			d := s.backoff(attempt, 0)
			hi := min(100*time.Millisecond<<min(attempt, 30), time.Second)
			if d < 50*time.Millisecond || d > hi {
				t.Fatalf("attempt %d: %v outside [50ms, %v]", attempt, d, hi)
			}
		}
	}
	if d := s.backoff(0, 10*time.Second); d != time.Second {
		t.Errorf("Retry-After above the cap: %v", d)
	}
}

func TestHTTPConfigErrors(t *testing.T) {
	cases := []struct {
		name string
		cfg  HTTPConfig
	}{
		{"no url", HTTPConfig{}},
		{"ftp url", HTTPConfig{URL: "ftp://x/"}},
		{"no host", HTTPConfig{URL: "http:///x"}},
		{"missing CA file", HTTPConfig{URL: "https://x/", CAFile: "/nonexistent.pem"}},
		{"CA without PEM", HTTPConfig{URL: "https://x/", CAPEM: []byte("junk")}},
		{"cert without key", HTTPConfig{URL: "https://x/", ClientCertFile: "c.pem"}},
		{"backoff max below min", HTTPConfig{URL: "https://x/", BackoffMin: Duration(time.Second), BackoffMax: Duration(time.Millisecond)}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := NewHTTP(c.cfg, nil); !errors.Is(err, ErrBadConfig) {
				t.Errorf("err %v, want ErrBadConfig", err)
			}
		})
	}
}

// TestHTTPQueueFullDrops: the endpoint hangs; Send keeps returning and the
// alerts beyond the queue are dropped and counted, per output.
func TestHTTPQueueFullDrops(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{}, 100)
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		<-release
	}))
	defer srv.Close()
	m := metrics.New(&metrics.Options{NoRuntimeCollectors: true})
	h, err := NewHTTP(HTTPConfig{URL: srv.URL, CAPEM: serverCAPEM(srv)}, &Options{QueueSize: 2, Recorder: m, Name: "sidekick"})
	if err != nil {
		t.Fatal(err)
	}
	h.Send(alert(0))
	<-entered // alert 0 is in flight, the queue is empty
	for i := 1; i <= 10; i++ {
		h.Send(alert(i))
	}
	if st := h.Stats(); st.Dropped != 8 || st.Queued != 2 {
		t.Errorf("stats %+v, want 8 dropped and 2 queued", st)
	}
	if got := counter(t, m, metrics.OutputDropsTotal, map[string]string{"output": "sidekick"}); got != 8 {
		t.Errorf("drops metric %v", got)
	}
	close(release)
	closeOK(t, h)
	if st := h.Stats(); st.Sent != 3 || st.Dropped != 8 {
		t.Errorf("after close %+v", st)
	}
}

// TestHTTPTimeoutIsRetried: the first attempt hangs past Timeout, the retry
// succeeds.
func TestHTTPTimeoutIsRetried(t *testing.T) {
	var calls atomic.Int32
	hang := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			<-hang
			return
		}
		io.Copy(io.Discard, r.Body)
	}))
	defer srv.Close()
	defer close(hang) // before srv.Close, which waits for handlers
	h, err := NewHTTP(HTTPConfig{URL: srv.URL, Timeout: Duration(100 * time.Millisecond),
		BackoffMin: Duration(time.Millisecond), BackoffMax: Duration(time.Millisecond)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	h.Send(alert(0))
	closeOK(t, h)
	if st := h.Stats(); st.Sent != 1 || st.Errors != 1 || calls.Load() != 2 {
		t.Errorf("stats %+v after %d calls", st, calls.Load())
	}
}
