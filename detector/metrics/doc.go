// Package metrics exposes sysward's Prometheus metrics and its /metrics and
// /healthz endpoints.
//
// Callers record through the Recorder interface and never touch Prometheus
// types: the engine records events processed and rules loaded, the output
// Dispatcher records alerts, suppressed repeats, and per-output sends, drops
// and errors, and the watch code records kernel drops, deviations and tracked
// workloads. Nop is a Recorder that records nothing.
//
// Metrics (New) owns its own prometheus.Registry, never the global one, so
// several can live in one process (tests) and nothing registers behind our
// back. Every metric name is an exported constant and Names lists them; the
// manifests under deploy/ (PrometheusRule, Grafana dashboard) are tested to
// use only these names.
//
// Label cardinality is bounded: each labelled family keeps at most a fixed
// number of distinct label sets (Options); further ones are counted under the
// label value "_other", so a flood of new workloads or rule names cannot grow
// the scrape without bound.
//
// Threading: every Recorder method is safe for concurrent use and does not
// block on I/O. Lifetime: Serve runs until its context is cancelled, then
// shuts the server down gracefully (bounded by ShutdownTimeout) and returns
// nil; it returns an error only if it cannot listen or serve.
package metrics
