package store

import (
	"encoding/json"
	"math/rand/v2"
	"testing"
	"time"

	v1 "github.com/sysward/sysward/api/v1alpha1"
	"github.com/sysward/sysward/profiles"
)

// BenchmarkApply: one delta of 4 syscalls (with earlier first-seen times)
// into an object holding every native syscall, decoded from JSON as the
// client receives it; against decoding alone (the baseline).
func BenchmarkApply(b *testing.B) {
	wp := New(key, t0)
	full := &Delta{Key: key, Image: "busy:1", Pod: "fill", Node: "n", Traced: map[string]Seen{}}
	for _, n := range profiles.Syscalls(profiles.NativeArch()) {
		full.Traced[n] = Seen{First: t0.Add(time.Hour)}
	}
	if _, err := Apply(wp, full, t0.Add(2*time.Hour)); err != nil {
		b.Fatal(err)
	}
	data, _ := json.Marshal(wp)
	rng := rand.New(rand.NewPCG(1, 1))
	var decode float64
	b.Run("decode", func(b *testing.B) {
		for b.Loop() {
			var o v1.WorkloadProfile
			if err := json.Unmarshal(data, &o); err != nil {
				b.Fatal(err)
			}
		}
		decode = float64(b.Elapsed().Nanoseconds()) / float64(b.N)
	})
	b.Run("decode+apply+encode", func(b *testing.B) {
		i := 0
		for b.Loop() {
			var o v1.WorkloadProfile
			json.Unmarshal(data, &o)
			d := benchDelta(key, rng, int64(1000+i), "p")
			i++
			if _, err := Apply(&o, d, time.Now()); err != nil {
				b.Fatal(err)
			}
			json.Marshal(&o)
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/decode, "x-decode")
	})
	b.Logf("object %d bytes", len(data))
}
