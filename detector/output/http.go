package output

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/sysward/sysward/detector"
	"github.com/sysward/sysward/internal/inputfile"
	"github.com/sysward/sysward/internal/version"
)

// HTTPConfig configures the HTTP output. Its YAML form is the "http" key of
// the outputs file (Config).
type HTTPConfig struct {
	// URL receives one POST per alert with Falco's JSON alert as the body,
	// which is what falcosidekick's "/" endpoint accepts. Redirects are not
	// followed: a 3xx answer is an error naming its Location.
	URL string `yaml:"url"`
	// Headers are added to every request (e.g. Authorization).
	Headers map[string]string `yaml:"headers"`
	// CAFile is a PEM bundle trusted in addition to the system roots.
	CAFile string `yaml:"ca_file"`
	// CAPEM is the same as CAFile, inline (not in YAML).
	CAPEM []byte `yaml:"-"`
	// ClientCertFile and ClientKeyFile enable mutual TLS.
	ClientCertFile string `yaml:"client_cert_file"`
	ClientKeyFile  string `yaml:"client_key_file"`
	// InsecureSkipVerify disables server certificate checks (testing only).
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
	// Timeout bounds one attempt (default 5s).
	Timeout Duration `yaml:"timeout"`
	// MaxRetries is how many times a failed attempt is retried (default 5;
	// negative: none). Connection errors, 429 and 5xx are retried; other
	// statuses are not.
	MaxRetries int `yaml:"max_retries"`
	// BackoffMin and BackoffMax bound the exponential backoff between
	// attempts (defaults 100ms and 10s). A Retry-After header is honoured up
	// to BackoffMax.
	BackoffMin Duration `yaml:"backoff_min"`
	BackoffMax Duration `yaml:"backoff_max"`
	// UserAgent defaults to "sysward/<version>".
	UserAgent string `yaml:"user_agent"`
}

// HTTP posts each alert to a URL.
type HTTP struct {
	*queue
	hs *httpSink
}

type httpSink struct {
	cfg    HTTPConfig
	url    string
	client *http.Client
	buf    []byte
	// onRetry counts a failed attempt that will be retried (the queue
	// counts the final outcome).
	onRetry func(error)
}

// errStatus is a non-2xx response.
type errStatus struct {
	code int
	body string
}

func (e *errStatus) Error() string {
	return fmt.Sprintf("HTTP %d: %s", e.code, e.body)
}

// NewHTTP validates cfg and returns an output posting alerts to cfg.URL.
func NewHTTP(cfg HTTPConfig, opts *Options) (*HTTP, error) {
	cfg, u, tlsCfg, err := cfg.prepare()
	if err != nil {
		return nil, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tlsCfg
	tr.MaxIdleConnsPerHost = 4
	// Redirects are not followed: Go would turn a 301/302/303 POST into a
	// GET without the alert (a 2xx then counted it as sent), and a 307/308
	// would resend the alert and the configured headers (tokens) wherever
	// the server points, https to plain http included. falcosidekick never
	// redirects; a 3xx is reported with its Location, not retried.
	client := &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	hs := &httpSink{cfg: cfg, url: u, client: client}
	h := &HTTP{queue: newQueue(opts.withDefaults("http"), hs), hs: hs}
	hs.onRetry = h.queue.failed // set before any Send can reach the goroutine
	return h, nil
}

// prepare applies defaults and checks cfg, reading its TLS files.
func (cfg HTTPConfig) prepare() (HTTPConfig, string, *tls.Config, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return cfg, "", nil, fmt.Errorf("%w: http url %q: want http:// or https:// with a host", ErrBadConfig, cfg.URL)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = Duration(5 * time.Second)
	}
	if cfg.MaxRetries == 0 {
		cfg.MaxRetries = 5
	}
	if cfg.BackoffMin <= 0 {
		cfg.BackoffMin = Duration(100 * time.Millisecond)
	}
	if cfg.BackoffMax <= 0 {
		cfg.BackoffMax = Duration(10 * time.Second)
	}
	if cfg.BackoffMax < cfg.BackoffMin {
		return cfg, "", nil, fmt.Errorf("%w: http backoff_max %v is below backoff_min %v", ErrBadConfig, cfg.BackoffMax, cfg.BackoffMin)
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = "sysward/" + version.Version
	}
	tlsCfg, err := cfg.tlsConfig()
	if err != nil {
		return cfg, "", nil, err
	}
	return cfg, u.String(), tlsCfg, nil
}

// maxCAFileSize caps ca_file, client_cert_file and client_key_file: 1 MiB,
// five times Debian's whole ca-certificates.crt bundle (215 KiB).
const maxCAFileSize = 1 << 20

func (c *HTTPConfig) tlsConfig() (*tls.Config, error) {
	t := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: c.InsecureSkipVerify}
	pem := c.CAPEM
	if c.CAFile != "" {
		b, err := inputfile.Read(c.CAFile, maxCAFileSize)
		if err != nil {
			return nil, fmt.Errorf("%w: http ca_file: %v", ErrBadConfig, err)
		}
		pem = append(append([]byte(nil), pem...), b...)
	}
	if len(pem) > 0 {
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%w: http CA bundle %q holds no PEM certificate", ErrBadConfig, c.CAFile)
		}
		t.RootCAs = pool
	}
	if (c.ClientCertFile == "") != (c.ClientKeyFile == "") {
		return nil, fmt.Errorf("%w: http client_cert_file and client_key_file go together", ErrBadConfig)
	}
	if c.ClientCertFile != "" {
		certPEM, err := inputfile.Read(c.ClientCertFile, maxCAFileSize)
		if err != nil {
			return nil, fmt.Errorf("%w: http client_cert_file: %v", ErrBadConfig, err)
		}
		keyPEM, err := inputfile.Read(c.ClientKeyFile, maxCAFileSize)
		if err != nil {
			return nil, fmt.Errorf("%w: http client_key_file: %v", ErrBadConfig, err)
		}
		cert, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			return nil, fmt.Errorf("%w: http client certificate: %v", ErrBadConfig, err)
		}
		t.Certificates = []tls.Certificate{cert}
	}
	return t, nil
}

func (s *httpSink) deliver(ctx context.Context, a *detector.Alert) error {
	s.buf = a.AppendJSON(s.buf[:0])
	var err error
	for attempt := 0; ; attempt++ {
		var retryAfter time.Duration
		retryAfter, err = s.post(ctx, s.buf)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil || !retryable(err) || attempt >= s.cfg.MaxRetries {
			return err
		}
		if s.onRetry != nil {
			s.onRetry(err)
		}
		wait := s.backoff(attempt, retryAfter)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (retry abandoned at close deadline)", err)
		case <-t.C:
		}
	}
}

// backoff is full-jitter exponential: a random wait in [min/2, min·2^attempt],
// capped at max; a server's Retry-After wins when it is longer, up to max.
func (s *httpSink) backoff(attempt int, retryAfter time.Duration) time.Duration {
	lo, hi := time.Duration(s.cfg.BackoffMin), time.Duration(s.cfg.BackoffMax)
	d := lo << min(attempt, 30)
	if d > hi || d <= 0 {
		d = hi
	}
	d = lo/2 + rand.N(d-lo/2+1)
	if retryAfter > d {
		d = min(retryAfter, hi)
	}
	return d
}

func retryable(err error) bool {
	var st *errStatus
	if errors.As(err, &st) {
		return st.code == http.StatusTooManyRequests || st.code >= 500
	}
	return true // transport errors: connection refused, reset, timeout
}

func (s *httpSink) post(ctx context.Context, body []byte) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Duration(s.cfg.Timeout))
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", s.cfg.UserAgent)
	for k, v := range s.cfg.Headers {
		if http.CanonicalHeaderKey(k) == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("posting alert: %w", err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // keep the connection reusable
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return 0, nil
	}
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		loc := resp.Header.Get("Location")
		if len(loc) > 256 {
			loc = loc[:256] + "..."
		}
		msg = []byte(fmt.Sprintf("redirect to %q not followed (set the url to where alerts go)", loc))
	}
	var ra time.Duration
	if secs, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && secs > 0 {
		ra = time.Duration(secs) * time.Second
	}
	return ra, fmt.Errorf("posting alert to %s: %w", s.url, &errStatus{code: resp.StatusCode, body: string(bytes.TrimSpace(msg))})
}

func (s *httpSink) shutdown(context.Context) error {
	s.client.CloseIdleConnections()
	return nil
}
