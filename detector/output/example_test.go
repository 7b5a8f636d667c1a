package output_test

import (
	"os"
	"time"

	"github.com/sysward/sysward/detector"
	"github.com/sysward/sysward/detector/metrics"
	"github.com/sysward/sysward/detector/output"
)

// A Dispatcher in front of a text writer, collapsing repeats: the first alert
// is written in full, the two repeats become one summary at Close.
func ExampleDispatcher() {
	rec := metrics.New(nil) // or metrics.Nop
	d := output.NewDispatcher(output.DispatcherConfig{
		Recorder: rec,
		Hostname: "node-1",
		Dedup:    output.DedupConfig{Window: output.Duration(time.Minute)},
	}, output.NewWriter(os.Stdout, output.FormatText, &output.Options{Recorder: rec}))

	for i := range 3 {
		d.Send(&detector.Alert{
			Time:         time.Date(2024, 5, 6, 7, 8, 9+i, 0, time.UTC),
			Rule:         "Shell in a watched container",
			Priority:     detector.PriorityWarning,
			Source:       "syscall",
			Output:       "Shell with a terminal in container (proc.name=sh)",
			OutputFields: map[string]any{"proc.name": "sh"},
			Workload:     "default/web",
			Syscall:      "execve",
		})
	}
	if err := d.Close(); err != nil {
		panic(err)
	}
	// Output:
	// 07:08:09.000000000: Warning Shell with a terminal in container (proc.name=sh)
	// 07:08:11.000000000: Warning Shell with a terminal in container (proc.name=sh) (repeated 2 more times within 1m0s)
}

// The outputs file, parsed and built.
func ExampleBuild() {
	cfg, err := output.ParseConfig("outputs.yaml", []byte(`
stdout: {format: json}
dedup: {window: 10s}
`))
	if err != nil {
		panic(err) // names outputs.yaml, the line, column and field
	}
	d, err := output.Build(cfg, metrics.Nop, nil)
	if err != nil {
		panic(err)
	}
	defer d.Close()
	for _, o := range d.Outputs() {
		os.Stdout.WriteString(o.Name() + "\n")
	}
	// Output:
	// stdout
}
