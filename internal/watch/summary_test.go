package watch

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

func TestSummaryGolden(t *testing.T) {
	start := time.Date(2026, 11, 25, 20, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		s    Summary
	}{
		{"clean", Summary{Workload: "sample", Profile: "sample.json", Mode: ModeWatch, Started: start, Ended: start.Add(98 * time.Millisecond),
			Deviations: []Deviation{}, Events: 2, Alerts: map[string]uint64{}}},
		{"deviations_and_drops", Summary{Workload: "storm", Profile: "p.json", Mode: ModeEnforce, Started: start, Ended: start.Add(1500 * time.Millisecond),
			Deviations: []Deviation{{Syscall: "getppid", Events: 4000, Denied: 4000}, {Syscall: "sync"}},
			Events:     4001, Calls: 200001, DeniedCalls: 200001, Drops: 196000, OutputDrops: 3, OutputErrors: 9, Printed: 3,
			DeliveryError: "delivering alerts: closing output http: alerts left undelivered at the close deadline",
			Alerts:        map[string]uint64{"Syscall outside profile denied": 4000, "Shell spawned in workload": 1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := tt.s.WriteText(&b); err != nil {
				t.Fatal(err)
			}
			b.WriteString("---\n")
			if err := tt.s.WriteJSON(&b); err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", "summary_"+tt.name+".golden")
			if *update {
				if err := os.WriteFile(golden, b.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update)", err)
			}
			if !bytes.Equal(b.Bytes(), want) {
				t.Errorf("summary differs from %s:\n%s", golden, b.String())
			}
		})
	}
}
