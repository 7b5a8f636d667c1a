package metrics

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrape fetches /metrics from h and parses the text exposition.
func scrape(t *testing.T, h http.Handler) map[string]*dto.MetricFamily {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 {
		t.Fatalf("/metrics: %d %s", rec.Code, rec.Body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(rec.Body)
	if err != nil {
		t.Fatalf("parsing /metrics: %v", err)
	}
	return fams
}

// value returns the value of name's series whose labels include want.
func value(fams map[string]*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	f, ok := fams[name]
	if !ok {
		return 0, false
	}
next:
	for _, m := range f.Metric {
		got := map[string]string{}
		for _, l := range m.Label {
			got[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if got[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Untyped != nil:
			return m.Untyped.GetValue(), true
		}
	}
	return 0, false
}

func TestRecorderValues(t *testing.T) {
	m := New(nil)
	m.EventsProcessed(10)
	m.EventsProcessed(5)
	m.RulesLoaded(42)
	m.Alert("Terminal shell in container", "Notice")
	m.Alert("Terminal shell in container", "Notice")
	m.Alert("Write below etc", "Error")
	m.AlertsSuppressed("Terminal shell in container", 7)
	m.OutputSent("http", 1)
	m.OutputDropped("http", 3)
	m.OutputError("http")
	m.KernelEventDrops(100)
	m.KernelEventDrops(50) // a smaller total is ignored
	m.Deviation("default/web", "ptrace")
	m.WorkloadsTracked(3)
	fams := scrape(t, m.Handler())

	cases := []struct {
		name   string
		metric string
		labels map[string]string
		want   float64
	}{
		{"events add up", EventsProcessedTotal, nil, 15},
		{"rules gauge", RulesLoaded, nil, 42},
		{"alerts by rule and priority", AlertsTotal, map[string]string{"rule": "Terminal shell in container", "priority": "Notice"}, 2},
		{"other rule", AlertsTotal, map[string]string{"rule": "Write below etc", "priority": "Error"}, 1},
		{"suppressed", AlertsSuppressedTotal, map[string]string{"rule": "Terminal shell in container"}, 7},
		{"sent", OutputSentTotal, map[string]string{"output": "http"}, 1},
		{"drops", OutputDropsTotal, map[string]string{"output": "http"}, 3},
		{"errors", OutputErrorsTotal, map[string]string{"output": "http"}, 1},
		{"kernel drops keep the max total", KernelEventDropsTotal, nil, 100},
		{"deviations", DeviationsTotal, map[string]string{"workload": "default/web", "syscall": "ptrace"}, 1},
		{"workloads", WorkloadsTracked, nil, 3},
		{"build info", BuildInfo, nil, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, ok := value(fams, c.metric, c.labels)
			if !ok || got != c.want {
				t.Errorf("%s%v = %v (present %v), want %v", c.metric, c.labels, got, ok, c.want)
			}
		})
	}
}

func TestNamesAreRegistered(t *testing.T) {
	m := New(&Options{NoRuntimeCollectors: true})
	fams, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range fams {
		got = append(got, f.GetName())
	}
	// Vec families appear once a series exists; the capped vecs pre-create
	// their _other series, so every name is gathered from the start.
	want := slices.Sorted(slices.Values(Names()))
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("gathered %v\nNames() %v", got, want)
	}
	for _, n := range Names() {
		if !model.IsValidLegacyMetricName(n) || !strings.HasPrefix(n, "sysward_") {
			t.Errorf("bad metric name %q", n)
		}
	}
}

func TestCardinalityCap(t *testing.T) {
	m := New(&Options{MaxDeviationSeries: 3, NoRuntimeCollectors: true})
	for i := range 10 {
		m.Deviation("w"+string(rune('a'+i)), "ptrace")
	}
	m.Deviation("wa", "ptrace") // known: still its own series
	m.Deviation("bad\xff", "x") // invalid UTF-8 must not panic
	fams := scrape(t, m.Handler())
	if n := len(fams[DeviationsTotal].Metric); n != 4 { // 3 kept + _other
		t.Errorf("%d series, want 4", n)
	}
	if v, _ := value(fams, DeviationsTotal, map[string]string{"workload": OtherLabel}); v != 8 {
		t.Errorf("_other = %v, want 8", v)
	}
	if v, _ := value(fams, DeviationsTotal, map[string]string{"workload": "wa"}); v != 2 {
		t.Errorf("wa = %v, want 2", v)
	}
}

func TestHealthz(t *testing.T) {
	m := New(nil)
	get := func() (int, string) {
		rec := httptest.NewRecorder()
		m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/healthz", nil))
		return rec.Code, rec.Body.String()
	}
	if code, body := get(); code != 200 || body != "ok\n" {
		t.Errorf("default: %d %q", code, body)
	}
	m.SetHealth(func() error { return io.ErrUnexpectedEOF })
	if code, body := get(); code != 503 || !strings.Contains(body, "unexpected EOF") {
		t.Errorf("failing: %d %q", code, body)
	}
	m.SetHealth(nil)
	if code, _ := get(); code != 200 {
		t.Errorf("reset: %d", code)
	}
}

func TestServeShutsDownOnCancel(t *testing.T) {
	m := New(nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.ServeListener(ctx, ln) }()
	resp, err := http.Get("http://" + ln.Addr().String() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve returned %v after cancel", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after cancel")
	}
	if err := m.Serve(context.Background(), "256.0.0.1:1"); err == nil {
		t.Error("Serve on a bad address succeeded")
	}
}

func TestNopRecorder(t *testing.T) {
	var r Recorder = Nop
	r.EventsProcessed(1)
	r.Alert("x", "Warning")
	r.KernelEventDrops(1)
}

// The health-only handler answers /healthz like Handler and serves no
// metrics, so a probe port exposes nothing about the node's workloads.
func TestHealthHandlerServesNoMetrics(t *testing.T) {
	m := New(nil)
	m.SetHealth(func() error { return io.ErrUnexpectedEOF })
	for path, want := range map[string]int{"/healthz": 503, "/metrics": 404, "/": 404} {
		rec := httptest.NewRecorder()
		m.HealthHandler().ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		if rec.Code != want {
			t.Errorf("GET %s: %d, want %d", path, rec.Code, want)
		}
	}
}
