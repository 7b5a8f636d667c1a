package audit

import (
	"bytes"
	"context"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/sysward/sysward/detector"
	"github.com/sysward/sysward/internal/inputfile"
)

// WebhookOptions configures the webhook receiver; zero values take the
// defaults below.
type WebhookOptions struct {
	CertFile, KeyFile string // the server's TLS certificate and key (required)
	// ClientCAFile, if set, requires a client certificate signed by one of
	// its CAs (the apiserver's client-certificate in the webhook kubeconfig).
	ClientCAFile string
	// TokenFile, if set, requires "Authorization: Bearer <its content>"
	// (the kubeconfig's token).
	TokenFile string
	// MaxBodyBytes bounds one request body (default 64 MiB).
	MaxBodyBytes int64
	// MaxBatchEvents bounds the events of one EventList (default 20000;
	// the apiserver's --audit-webhook-batch-max-size defaults to 400).
	MaxBatchEvents int
	// QueueEvents bounds the events accepted but not yet taken by Next
	// (default 100000). A batch that does not fit is refused whole with 429,
	// which the apiserver retries with backoff; it is counted as dropped.
	QueueEvents int
	// MaxInFlight bounds the requests being read and decoded at once
	// (default 4), so memory stays under MaxInFlight × MaxBodyBytes whatever
	// the number of clients; one more gets 429 at once. The apiserver sends
	// one batch at a time per --audit-webhook-batch-throttle-burst.
	MaxInFlight int
}

const (
	defaultMaxBody    = 64 << 20
	defaultMaxBatch   = 20000
	defaultQueue      = 100000
	defaultInFlight   = 4
	maxQueuedBatches  = 4096
	bearerPrefix      = "Bearer "
	maxTokenFileBytes = 16 << 10
)

// Rejection reasons, the keys of WebhookStats.Rejected.
const (
	RejectMethod         = "method"          // 405: not a POST
	RejectUnauthorized   = "unauthorized"    // 401: no client certificate / no or wrong bearer token
	RejectForbidden      = "forbidden"       // 403: client certificate not signed by the client CA
	RejectTooLarge       = "body_too_large"  // 413: body over MaxBodyBytes
	RejectTooManyEvents  = "too_many_events" // 413: more than MaxBatchEvents
	RejectMalformed      = "malformed"       // 400: not JSON, or an item without auditID/stage/stageTimestamp
	RejectAPIVersion     = "api_version"     // 400: not an audit.k8s.io/v1 EventList
	RejectQueueFull      = "queue_full"      // 429: the queue is full (the batch's events count as dropped)
	RejectBodyReadFailed = "read_failed"     // 400: the client went away mid-body
	RejectBusy           = "busy"            // 429: MaxInFlight requests already being read
	RejectTLS            = "tls_handshake"   // no answer: the TLS handshake failed (the client does not trust our certificate, or speaks plain HTTP)
)

var rejectReasons = []string{RejectMethod, RejectUnauthorized, RejectForbidden, RejectTooLarge, RejectTooManyEvents, RejectMalformed, RejectAPIVersion, RejectQueueFull, RejectBodyReadFailed, RejectBusy, RejectTLS}

// WebhookStats are the receiver's counters.
type WebhookStats struct {
	Batches  uint64            // batches accepted
	Events   uint64            // events accepted
	Dropped  uint64            // events refused because the queue was full
	Queued   int64             // events accepted, not yet taken by Next
	Rejected map[string]uint64 // requests refused, by reason
}

// Webhook receives the kube-apiserver's audit webhook backend: HTTPS POSTs
// of audit.k8s.io/v1 EventList. The handler decodes and queues a batch and
// answers at once; it never waits for the rules, so a slow consumer costs
// the apiserver a 429 (which it retries), never a stalled request.
//
// Create with NewWebhook, serve with Serve, consume with Next from one
// goroutine; Close stops serving.
type Webhook struct {
	opts     WebhookOptions
	tls      *tls.Config
	clientCA *x509.CertPool
	token    []byte

	queue    chan []detector.Event
	queued   atomic.Int64
	batches  atomic.Uint64
	events   atomic.Uint64
	dropped  atomic.Uint64
	rejected map[string]*atomic.Uint64
	inFlight chan struct{}

	srv *http.Server
}

// NewWebhook loads the certificate, key, client CA and token named in opts.
// Errors name the file and what is wrong with it.
func NewWebhook(opts WebhookOptions) (*Webhook, error) {
	if opts.CertFile == "" || opts.KeyFile == "" {
		return nil, errors.New("audit webhook: a TLS certificate and key are required (--cert, --key)")
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = defaultMaxBody
	}
	if opts.MaxBatchEvents <= 0 {
		opts.MaxBatchEvents = defaultMaxBatch
	}
	if opts.QueueEvents <= 0 {
		opts.QueueEvents = defaultQueue
	}
	if opts.MaxInFlight <= 0 {
		opts.MaxInFlight = defaultInFlight
	}
	certPEM, err := inputfile.Read(opts.CertFile, 1<<20)
	if err != nil {
		return nil, fmt.Errorf("reading TLS certificate: %w", err)
	}
	keyPEM, err := inputfile.Read(opts.KeyFile, 1<<20)
	if err != nil {
		return nil, fmt.Errorf("reading TLS key: %w", err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("TLS certificate %s and key %s: %w", opts.CertFile, opts.KeyFile, err)
	}
	w := &Webhook{
		opts:     opts,
		queue:    make(chan []detector.Event, maxQueuedBatches),
		rejected: map[string]*atomic.Uint64{},
		inFlight: make(chan struct{}, opts.MaxInFlight),
	}
	for _, r := range rejectReasons {
		w.rejected[r] = new(atomic.Uint64)
	}
	w.tls = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
	if opts.ClientCAFile != "" {
		pem, err := inputfile.Read(opts.ClientCAFile, 1<<20)
		if err != nil {
			return nil, fmt.Errorf("reading client CA: %w", err)
		}
		w.clientCA = x509.NewCertPool()
		if !w.clientCA.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("client CA %s: no PEM certificate in it", opts.ClientCAFile)
		}
		// Request, verify in the handler: a wrong certificate gets a 403
		// and a counter instead of a handshake error the apiserver logs as
		// a network failure.
		w.tls.ClientAuth = tls.RequestClientCert
	}
	w.newServer()
	if opts.TokenFile != "" {
		b, err := inputfile.Read(opts.TokenFile, maxTokenFileBytes)
		if err != nil {
			return nil, fmt.Errorf("reading bearer token: %w", err)
		}
		w.token = []byte(strings.TrimSpace(string(b)))
		if len(w.token) == 0 {
			return nil, fmt.Errorf("bearer token file %s is empty", opts.TokenFile)
		}
	}
	return w, nil
}

func (w *Webhook) newServer() {
	w.srv = &http.Server{
		Handler:           w,
		TLSConfig:         w.tls,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		// net/http reports failed handshakes through ErrorLog: count them
		// instead of writing a line per scanner to stderr.
		ErrorLog: log.New(writerFunc(func(p []byte) (int, error) {
			if bytes.Contains(p, []byte("TLS handshake error")) {
				w.rejected[RejectTLS].Add(1)
			}
			return len(p), nil
		}), "", 0),
	}
}

// Serve accepts HTTPS connections on ln until Close or ctx ends.
func (w *Webhook) Serve(ctx context.Context, ln net.Listener) error {
	stop := context.AfterFunc(ctx, func() { w.srv.Close() })
	defer stop()
	err := w.srv.Serve(tls.NewListener(ln, w.tls))
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Close stops serving; queued batches stay available to Next.
func (w *Webhook) Close() error { return w.srv.Close() }

// Next returns the next accepted batch, waiting until one arrives or ctx
// ends (then ok is false).
func (w *Webhook) Next(ctx context.Context) (batch []detector.Event, ok bool) {
	select {
	case b := <-w.queue:
		w.queued.Add(-int64(len(b)))
		return b, true
	case <-ctx.Done():
		return nil, false
	}
}

// Stats returns the counters; safe to call concurrently.
func (w *Webhook) Stats() WebhookStats {
	s := WebhookStats{Batches: w.batches.Load(), Events: w.events.Load(), Dropped: w.dropped.Load(), Queued: w.queued.Load(), Rejected: map[string]uint64{}}
	for r, c := range w.rejected {
		s.Rejected[r] = c.Load()
	}
	return s
}

func (w *Webhook) reject(rw http.ResponseWriter, code int, reason, msg string) {
	w.rejected[reason].Add(1)
	http.Error(rw, msg, code)
}

// ServeHTTP handles one POST of an EventList.
func (w *Webhook) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		rw.Header().Set("Allow", http.MethodPost)
		w.reject(rw, http.StatusMethodNotAllowed, RejectMethod, "audit webhook: POST an audit.k8s.io/v1 EventList")
		return
	}
	if w.clientCA != nil {
		if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
			w.reject(rw, http.StatusUnauthorized, RejectUnauthorized, "audit webhook: a client certificate is required")
			return
		}
		certs := r.TLS.PeerCertificates
		inter := x509.NewCertPool()
		for _, c := range certs[1:] {
			inter.AddCert(c)
		}
		if _, err := certs[0].Verify(x509.VerifyOptions{Roots: w.clientCA, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
			w.reject(rw, http.StatusForbidden, RejectForbidden, "audit webhook: client certificate not accepted: "+err.Error())
			return
		}
	}
	if w.token != nil {
		h := r.Header.Get("Authorization")
		if !strings.HasPrefix(h, bearerPrefix) || subtle.ConstantTimeCompare([]byte(h[len(bearerPrefix):]), w.token) != 1 {
			w.reject(rw, http.StatusUnauthorized, RejectUnauthorized, "audit webhook: missing or wrong bearer token")
			return
		}
	}
	select {
	case w.inFlight <- struct{}{}:
		defer func() { <-w.inFlight }()
	default:
		w.reject(rw, http.StatusTooManyRequests, RejectBusy, fmt.Sprintf("audit webhook: %d requests already in progress, retry later", w.opts.MaxInFlight))
		return
	}
	if r.ContentLength > w.opts.MaxBodyBytes {
		w.reject(rw, http.StatusRequestEntityTooLarge, RejectTooLarge, fmt.Sprintf("audit webhook: body of %d bytes, at most %d", r.ContentLength, w.opts.MaxBodyBytes))
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(rw, r.Body, w.opts.MaxBodyBytes))
	if err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			w.reject(rw, http.StatusRequestEntityTooLarge, RejectTooLarge, fmt.Sprintf("audit webhook: body over %d bytes", w.opts.MaxBodyBytes))
			return
		}
		w.reject(rw, http.StatusBadRequest, RejectBodyReadFailed, "audit webhook: reading body: "+err.Error())
		return
	}
	batch, err := DecodeEventList(body, w.opts.MaxBatchEvents)
	switch {
	case errors.Is(err, ErrTooMany):
		w.reject(rw, http.StatusRequestEntityTooLarge, RejectTooManyEvents, "audit webhook: "+err.Error())
		return
	case errors.Is(err, ErrAPIVersion):
		w.reject(rw, http.StatusBadRequest, RejectAPIVersion, "audit webhook: "+err.Error())
		return
	case err != nil:
		w.reject(rw, http.StatusBadRequest, RejectMalformed, "audit webhook: "+err.Error())
		return
	}
	if len(batch) > 0 && !w.enqueue(batch) {
		w.dropped.Add(uint64(len(batch)))
		w.reject(rw, http.StatusTooManyRequests, RejectQueueFull, "audit webhook: queue full, retry later")
		return
	}
	w.batches.Add(1)
	w.events.Add(uint64(len(batch)))
	rw.WriteHeader(http.StatusOK)
}

// enqueue reserves room for the batch's events and queues it, without
// waiting.
func (w *Webhook) enqueue(b []detector.Event) bool {
	n := int64(len(b))
	for {
		q := w.queued.Load()
		if q+n > int64(w.opts.QueueEvents) {
			return false
		}
		if w.queued.CompareAndSwap(q, q+n) {
			break
		}
	}
	select {
	case w.queue <- b:
		return true
	default:
		w.queued.Add(-n)
		return false
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
