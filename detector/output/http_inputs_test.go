package output

import (
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// TestHTTPRedirectNotFollowed: a real TLS server answering a redirect to a
// plain-HTTP server never gets the alert (or its headers) sent there: Go's
// client followed 307/308 with the body and the headers to http://, and
// turned 301/302/303 into a bodiless GET whose 200 counted the alert as
// sent. The alert is failed once (3xx is not retried) with the Location in
// the logged error.
func TestHTTPRedirectNotFollowed(t *testing.T) {
	var plainCalls atomic.Int32
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		plainCalls.Add(1)
		w.WriteHeader(http.StatusOK)
	}))
	defer plain.Close()
	for _, code := range []int{301, 302, 303, 307, 308} {
		t.Run(strconv.Itoa(code), func(t *testing.T) {
			var tlsCalls atomic.Int32
			srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				tlsCalls.Add(1)
				http.Redirect(w, r, plain.URL+"/stolen", code)
			}))
			defer srv.Close()
			var logb syncBuf
			h, err := NewHTTP(HTTPConfig{URL: srv.URL + "/", CAPEM: serverCAPEM(srv),
				Headers:    map[string]string{"X-Api-Key": "s3cret"},
				BackoffMin: Duration(time.Millisecond), BackoffMax: Duration(time.Millisecond)},
				&Options{Logger: slog.New(slog.NewTextHandler(&logb, nil))})
			if err != nil {
				t.Fatal(err)
			}
			h.Send(alert(0))
			h.Close(t.Context())
			if n := plainCalls.Load(); n != 0 {
				t.Fatalf("the plain-HTTP server got %d requests", n)
			}
			st := h.Stats()
			if st.Sent != 0 || st.Dropped != 1 || tlsCalls.Load() != 1 {
				t.Fatalf("stats %+v, %d calls to the TLS server; want 1 call, not sent, not retried", st, tlsCalls.Load())
			}
			if !strings.Contains(logb.String(), "redirect to") || !strings.Contains(logb.String(), plain.URL+"/stolen") {
				t.Errorf("log does not name the redirect: %s", logb.String())
			}
		})
	}
}

// TestHTTPTLSFilesBounded: ca_file, client_cert_file and client_key_file
// that are a FIFO or /dev/zero are refused at once as bad config naming the
// file (a FIFO blocked NewHTTP, /dev/zero grew memory without limit).
func TestHTTPTLSFilesBounded(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "ca.pem")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, cfg := range []HTTPConfig{
		{URL: "https://127.0.0.1:1/", CAFile: fifo},
		{URL: "https://127.0.0.1:1/", CAFile: "/dev/zero"},
		{URL: "https://127.0.0.1:1/", ClientCertFile: fifo, ClientKeyFile: "/dev/zero"},
		{URL: "https://127.0.0.1:1/", ClientCertFile: "/etc/hostname", ClientKeyFile: "/dev/zero"},
	} {
		done := make(chan error, 1)
		go func() { _, err := NewHTTP(cfg, nil); done <- err }()
		select {
		case err := <-done:
			if !errors.Is(err, ErrBadConfig) || !strings.Contains(err.Error(), "not a regular file") {
				t.Errorf("%+v: err = %v, want bad config: not a regular file", cfg, err)
			}
		case <-time.After(time.Minute): // detects a hang only
			t.Fatalf("%+v: NewHTTP blocked", cfg)
		}
	}
}
