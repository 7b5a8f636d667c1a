package metrics

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/sysward/sysward/internal/testutil"
)

// deployRules is the PrometheusRule shipped in deploy/; the real Prometheus
// below loads its groups, so every expression is checked against the names
// this package really exports.
const deployRules = "../../deploy/components/metrics/prometheusrule.yaml"

// promResponse is the envelope of Prometheus' HTTP API.
type promResponse struct {
	Status    string          `json:"status"`
	Data      json.RawMessage `json:"data"`
	ErrorType string          `json:"errorType"`
	Error     string          `json:"error"`
}

func promGet(ctx context.Context, base, path string, q url.Values) (json.RawMessage, error) {
	u := base + path
	if q != nil {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, "GET", u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var r promResponse
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("%s: %d %s", path, resp.StatusCode, body)
	}
	if r.Status != "success" {
		return nil, fmt.Errorf("%s: %s: %s", path, r.ErrorType, r.Error)
	}
	return r.Data, nil
}

type vectorSample struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"`
}

func queryVector(ctx context.Context, base, query string) ([]vectorSample, error) {
	data, err := promGet(ctx, base, "/api/v1/query", url.Values{"query": {query}})
	if err != nil {
		return nil, err
	}
	var v struct {
		ResultType string         `json:"resultType"`
		Result     []vectorSample `json:"result"`
	}
	if err := json.Unmarshal(data, &v); err != nil {
		return nil, err
	}
	return v.Result, nil
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// rulesFromPrometheusRule turns a PrometheusRule manifest into a Prometheus
// rules file (its spec is exactly {groups: [...]}).
func rulesFromPrometheusRule(t *testing.T, path string) []byte {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var obj struct {
		Kind string          `json:"kind"`
		Spec json.RawMessage `json:"spec"`
	}
	if err := yaml.Unmarshal(raw, &obj); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if obj.Kind != "PrometheusRule" {
		t.Fatalf("%s: kind %q", path, obj.Kind)
	}
	return obj.Spec
}

// TestRealPrometheusScrape starts Debian's Prometheus on loopback, lets it
// scrape our /metrics every second, and reads the values back through its
// query API; it also loads the deploy/ alerting rules and checks that every
// rule evaluates without error against the scraped series.
func TestRealPrometheusScrape(t *testing.T) {
	testutil.Require(t, testutil.Binary("prometheus"))

	m := New(nil)
	const rule = "Terminal shell in container"
	for range 3 {
		m.Alert(rule, "Notice")
	}
	m.Alert("Write below etc", "Error")
	m.OutputDropped("http", 4)
	m.OutputError("http")
	m.EventsProcessed(1234)
	m.RulesLoaded(7)

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sctx, stop := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- m.ServeListener(sctx, ln) }()
	defer func() {
		stop()
		if err := <-served; err != nil {
			t.Errorf("metrics server: %v", err)
		}
	}()

	dir := t.TempDir()
	rulesFile := filepath.Join(dir, "rules.yaml")
	if err := os.WriteFile(rulesFile, rulesFromPrometheusRule(t, deployRules), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: [%q]
scrape_configs:
  - job_name: sysward
    scrape_interval: 1s
    static_configs:
      - targets: [%q]
`, rulesFile, ln.Addr().String())
	cfgFile := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	promAddr := freePort(t)
	var logs bytes.Buffer
	cmd := exec.CommandContext(ctx, "prometheus",
		"--config.file="+cfgFile,
		"--storage.tsdb.path="+filepath.Join(dir, "tsdb"),
		"--web.listen-address="+promAddr,
		"--log.level=warn")
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting prometheus: %v", err)
	}
	defer func() {
		cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("prometheus log:\n%s", logs.String())
		}
	}()
	base := "http://" + promAddr

	// poll runs f until it succeeds or the test's deadline passes.
	poll := func(what string, f func() error) {
		t.Helper()
		var last error
		for {
			if last = f(); last == nil {
				return
			}
			select {
			case <-ctx.Done():
				t.Fatalf("%s: gave up: %v", what, last)
			case <-time.After(250 * time.Millisecond):
			}
		}
	}
	want := func(query string, labels map[string]string, v float64) func() error {
		return func() error {
			res, err := queryVector(ctx, base, query)
			if err != nil {
				return err
			}
		next:
			for _, s := range res {
				for k, want := range labels {
					if s.Metric[k] != want {
						continue next
					}
				}
				str, _ := s.Value[1].(string)
				got, err := strconv.ParseFloat(str, 64)
				if err != nil {
					return err
				}
				if got != v {
					return fmt.Errorf("%s%v = %v, want %v", query, labels, got, v)
				}
				return nil
			}
			return fmt.Errorf("%s: no series with %v in %v", query, labels, res)
		}
	}
	poll("alerts scraped", want(AlertsTotal, map[string]string{"rule": rule, "priority": "Notice", "job": "sysward"}, 3))
	poll("second rule", want(AlertsTotal, map[string]string{"rule": "Write below etc", "priority": "Error"}, 1))
	poll("drops", want(OutputDropsTotal, map[string]string{"output": "http"}, 4))
	poll("events", want(EventsProcessedTotal, nil, 1234))
	poll("rules loaded", want(RulesLoaded, nil, 7))

	// A value recorded after the first scrape shows up in a later one.
	m.Alert(rule, "Notice")
	poll("alerts after another alert", want(AlertsTotal, map[string]string{"rule": rule, "priority": "Notice"}, 4))

	// Every alerting/recording rule from deploy/ has been evaluated and is healthy.
	poll("deploy rules evaluate", func() error {
		data, err := promGet(ctx, base, "/api/v1/rules", nil)
		if err != nil {
			return err
		}
		var r struct {
			Groups []struct {
				Name  string `json:"name"`
				Rules []struct {
					Name           string    `json:"name"`
					Health         string    `json:"health"`
					LastError      string    `json:"lastError"`
					LastEvaluation time.Time `json:"lastEvaluation"`
				} `json:"rules"`
			} `json:"groups"`
		}
		if err := json.Unmarshal(data, &r); err != nil {
			return err
		}
		n := 0
		for _, g := range r.Groups {
			for _, rl := range g.Rules {
				n++
				if rl.LastEvaluation.IsZero() || rl.LastEvaluation.Year() < 2000 {
					return fmt.Errorf("rule %s/%s not evaluated yet", g.Name, rl.Name)
				}
				if rl.Health != "ok" {
					t.Fatalf("rule %s/%s health %q: %s", g.Name, rl.Name, rl.Health, rl.LastError)
				}
			}
		}
		if n == 0 {
			return fmt.Errorf("no rules loaded from %s", deployRules)
		}
		return nil
	})
}
