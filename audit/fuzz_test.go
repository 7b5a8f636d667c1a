package audit

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sysward/sysward/detector"
)

// fuzzEngine runs every rule of Falco's file and renders every alert: the
// fields must not panic on any record the decoder accepts.
func fuzzEngine(f *testing.F) *detector.Engine {
	rs, err := detector.LoadRules(falcoRules)
	if err != nil {
		f.Fatal(err)
	}
	eng, err := detector.NewEngine(rs, &detector.EngineOptions{Matching: detector.MatchAll, Sink: detector.AlertFunc(func(a *detector.Alert) { a.AppendJSON(nil) })})
	if err != nil {
		f.Fatal(err)
	}
	return eng
}

func replaySeeds(tb testing.TB) [][]byte {
	var out [][]byte
	files, _ := filepath.Glob("testdata/replay/*.jsonl")
	for _, p := range files {
		data, err := os.ReadFile(p)
		if err != nil {
			panic(err)
		}
		for _, l := range bytes.Split(data, []byte("\n")) {
			if len(l) > 0 {
				out = append(out, l)
			}
		}
	}
	return out
}

func FuzzDecodeEvent(f *testing.F) {
	for _, s := range replaySeeds(f) {
		f.Add(s)
	}
	f.Add([]byte(`{"kind":"Event","apiVersion":"audit.k8s.io/v1","auditID":"a","stage":"ResponseComplete","stageTimestamp":"2026-01-01T00:00:00Z","requestObject":{"spec":{"containers":[{"securityContext":null},7,[]],"volumes":"x"}},"responseObject":[]}`))
	f.Add([]byte(`{"kind":"Event","apiVersion":"audit.k8s.io/v1","auditID":"a","stage":"ResponseStarted","stageTimestamp":"2026-01-01T00:00:00Z","requestURI":"/x?%zz&command=a","objectRef":{"resource":"pods","subresource":"exec"}}`))
	eng := fuzzEngine(f)
	// The correlator takes every record too, and a call outside the
	// profile in the record's pod, after and before it.
	alerts := 0
	c := &Correlator{MaxPods: 4, Sink: detector.AlertFunc(func(a *detector.Alert) { a.AppendJSON(nil); alerts++ })}
	f.Fuzz(func(t *testing.T, line []byte) {
		ev, err := DecodeEvent(bytes.Clone(line))
		if err != nil {
			return
		}
		eng.Process(&ev)
		alerts = 0
		sys := &detector.Event{Type: "ptrace", Time: ev.Time.Add(time.Millisecond)}
		if r := ev.Audit.Event; r.ObjectRef != nil {
			sys.K8s.Namespace, sys.K8s.Pod = r.ObjectRef.Namespace, r.ObjectRef.Name
		}
		c.Syscall(sys)
		c.Audit(&ev)
		sys.Type = "mount"
		c.Syscall(sys)
		if alerts > 2 || len(c.pods) > 4 {
			t.Fatalf("%d alerts, %d pods kept", alerts, len(c.pods))
		}
	})
}

func FuzzDecodeEventList(f *testing.F) {
	for _, s := range replaySeeds(f) {
		f.Add([]byte(`{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[` + string(s) + `]}`))
	}
	f.Add([]byte(`{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[]}`))
	f.Add([]byte(`{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":null}`))
	eng := fuzzEngine(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		evs, err := DecodeEventList(body, 100)
		if err != nil {
			return
		}
		if len(evs) > 100 {
			t.Fatalf("%d events over the limit", len(evs))
		}
		for i := range evs {
			eng.Process(&evs[i])
		}
	})
}
