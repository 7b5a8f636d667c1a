package metrics_test

import (
	"bufio"
	"fmt"
	"net/http/httptest"
	"strings"

	"github.com/sysward/sysward/detector/metrics"
)

// Code records through the Recorder interface; Metrics serves the result.
func ExampleMetrics() {
	m := metrics.New(&metrics.Options{NoRuntimeCollectors: true})
	var rec metrics.Recorder = m // what the engine, outputs and watch code hold
	rec.EventsProcessed(1000)
	rec.Alert("Shell in a watched container", "Warning")
	rec.OutputDropped("http", 2)

	// In the agent: go m.Serve(ctx, ":9376")
	w := httptest.NewRecorder()
	m.Handler().ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
	sc := bufio.NewScanner(w.Body)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, metrics.AlertsTotal+"{priority=\"Warning") ||
			strings.HasPrefix(line, metrics.EventsProcessedTotal+" ") ||
			strings.HasPrefix(line, metrics.OutputDropsTotal+"{output=\"http") {
			fmt.Println(line)
		}
	}
	// Output:
	// sysward_alerts_total{priority="Warning",rule="Shell in a watched container"} 1
	// sysward_events_processed_total 1000
	// sysward_output_drops_total{output="http"} 2
}
