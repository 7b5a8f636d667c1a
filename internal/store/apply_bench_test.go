package store

import (
	"encoding/json"
	"math/rand/v2"
	"testing"
	"time"

	v1 "github.com/sysward/sysward/api/v1alpha1"
	"github.com/sysward/sysward/profiles"
)

// BenchmarkApply: the client's side of one merge — decode an object
// holding every native syscall, apply a delta of 4 of them with earlier
// first-seen times (so the profile is rebuilt), encode — against decoding
// alone (the baseline).
func BenchmarkApply(b *testing.B) {
	wp := New(key, t0)
	full := &Delta{Key: key, Image: "busy:1", Pod: "fill", Node: "n", Traced: map[string]Seen{}}
	for _, n := range profiles.Syscalls(profiles.NativeArch()) {
		full.Traced[n] = Seen{First: time.Now()}
	}
	if _, err := Apply(wp, full, time.Now()); err != nil {
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
			d := benchDelta(key, rng, int64(1000+i), "p", 0, 1) // earlier than the fill
			i++
			if r, err := Apply(&o, d, time.Now()); err != nil || !r.Changed {
				b.Fatal(r, err)
			}
			json.Marshal(&o)
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/decode, "x-decode")
	})
	b.Logf("object %d bytes", len(data))
}
