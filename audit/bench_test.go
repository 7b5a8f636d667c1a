package audit

import (
	"bytes"
	"os"
	"testing"

	"github.com/sysward/sysward/detector"
)

// BenchmarkAuditPipeline measures audit records per second on one core
// (run with GOMAXPROCS=1) through decode into the audit.k8s.io/v1 types and
// Falco's 48 k8saudit rules, alerts rendered. Two mixes:
//
//   - attacks: every replay record (real kubectl records, the crafted
//     attacks, the benign ones): nearly all carry a request object the
//     rules parse, and they raise 1.5 alerts each on average (Falco's
//     activity rules are on);
//   - metadata: a Metadata-level read, what most of a cluster's audit
//     stream is under deploy/audit/audit-policy.yaml: decoded, every rule
//     evaluated, no alert.
//
// "decode" alone is the baseline the pipeline is compared with in the same
// run (x_decode).
//
//	GOMAXPROCS=1 go test -run '^$' -bench AuditPipeline ./audit/
func BenchmarkAuditPipeline(b *testing.B) {
	benign, err := os.ReadFile("testdata/replay/benign.jsonl")
	if err != nil {
		b.Fatal(err)
	}
	for _, mix := range []struct {
		name  string
		lines [][]byte
	}{
		{"attacks", replaySeeds(b)},
		{"metadata", bytes.SplitN(benign, []byte("\n"), 2)[:1]},
	} {
		rs, err := detector.LoadRules(falcoRules)
		if err != nil {
			b.Fatal(err)
		}
		eng, err := detector.NewEngine(rs, &detector.EngineOptions{Matching: detector.MatchAll, Sink: detector.AlertFunc(func(*detector.Alert) {})})
		if err != nil {
			b.Fatal(err)
		}
		lines := mix.lines
		var base float64
		b.Run(mix.name+"/decode", func(b *testing.B) {
			for i := 0; b.Loop(); i++ {
				if _, err := DecodeEvent(lines[i%len(lines)]); err != nil {
					b.Fatal(err)
				}
			}
			base = float64(b.Elapsed().Nanoseconds()) / float64(b.N)
			b.ReportMetric(1e9/base, "events/s")
		})
		b.Run(mix.name+"/decode+rules", func(b *testing.B) {
			for i := 0; b.Loop(); i++ {
				ev, err := DecodeEvent(lines[i%len(lines)])
				if err != nil {
					b.Fatal(err)
				}
				eng.Process(&ev)
			}
			ns := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
			b.ReportMetric(1e9/ns, "events/s")
			if base > 0 {
				b.ReportMetric(ns/base, "x_decode")
			}
			b.ReportMetric(float64(eng.Stats().Matches)/float64(eng.Stats().Events), "alerts/event")
		})
	}
}
