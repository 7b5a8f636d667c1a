package detector

import (
	"bytes"
	"flag"
	"os"
	"reflect"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files")

// loadStable loads Falco's stable rules followed by sysward's own, skipping
// the rules that use fields sysward lacks (TestFalcoRulesConformance lists
// them).
func loadStable(t testing.TB) *Ruleset {
	t.Helper()
	data, err := os.ReadFile(conformanceFile(t, "falco_rules.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	own, err := os.ReadFile("testdata/sysward_rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	rs, err := LoadRulesFilesWith(&LoadOptions{SkipUnknownFields: true},
		RulesFile{Name: "falco_rules.yaml", Data: data}, RulesFile{Name: "testdata/sysward_rules.yaml", Data: own})
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

func TestReplayStableRules(t *testing.T) {
	rs := loadStable(t)
	data, err := os.ReadFile("testdata/events.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	events, err := DecodeEvents("testdata/events.jsonl", data)
	if err != nil {
		t.Fatal(err)
	}
	var alerts []*Alert
	eng, err := NewEngine(rs, &EngineOptions{Matching: MatchAll, Hostname: "testhost", Sink: AlertFunc(func(a *Alert) { alerts = append(alerts, a) })})
	if err != nil {
		t.Fatal(err)
	}
	got := map[uint64][]string{}
	for i := range events {
		before := len(alerts)
		eng.Process(&events[i])
		for _, a := range alerts[before:] {
			got[events[i].Num] = append(got[events[i].Num], a.Rule)
		}
	}
	// evt.num (the event's line among events) -> rules expected to fire;
	// events not listed are benign and must raise nothing.
	want := map[uint64][]string{
		2: {"Terminal shell in container"},
		5: {"Read sensitive file untrusted"},
		6: {"Clear Log Activities"},
		7: {"Execution from /dev/shm"},
		8: {"Syscall outside seccomp profile"},
		9: {"Syscall denied by seccomp"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("alerts by event:\n got %v\nwant %v", got, want)
	}

	var buf bytes.Buffer
	for _, a := range alerts {
		buf.Write(a.AppendText(nil))
		buf.WriteByte('\n')
		buf.Write(a.AppendJSON(nil))
		buf.WriteByte('\n')
	}
	golden := "testdata/replay.golden"
	if *update {
		if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	wantOut, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), wantOut) {
		t.Errorf("alerts differ from %s (run with -update to rewrite):\n%s", golden, buf.String())
	}

	st := eng.Stats()
	if st.Events != uint64(len(events)) || st.Matches != uint64(len(alerts)) {
		t.Errorf("stats: events %d matches %d, want %d %d", st.Events, st.Matches, len(events), len(alerts))
	}
}

func TestMatchingFirstAndPriority(t *testing.T) {
	rs, err := LoadRulesFiles(RulesFile{Name: "t.yaml", Data: []byte(`
- rule: a
  desc: a
  condition: evt.type=open and proc.name=cat
  output: "a %proc.name"
  priority: NOTICE
- rule: b
  desc: b
  condition: evt.type in (open, openat) and proc.name startswith ca
  output: "b %proc.name %fd.name"
  priority: CRITICAL
`)})
	if err != nil {
		t.Fatal(err)
	}
	ev := Event{Type: "open", Proc: ProcInfo{Name: "cat"}}
	ev.Normalize()
	for _, tc := range []struct {
		name string
		opts EngineOptions
		want []string
	}{
		{"first", EngineOptions{}, []string{"a"}},
		{"all", EngineOptions{Matching: MatchAll}, []string{"a", "b"}},
		{"min priority", EngineOptions{Matching: MatchAll, MinPriority: "error"}, []string{"b"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			o := tc.opts
			o.Sink = AlertFunc(func(a *Alert) { got = append(got, a.Rule+":"+a.Output) })
			eng, err := NewEngine(rs, &o)
			if err != nil {
				t.Fatal(err)
			}
			eng.Process(&ev)
			var names []string
			for _, g := range got {
				names = append(names, g[:1])
			}
			if !reflect.DeepEqual(names, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
	if _, err := NewEngine(rs, &EngineOptions{MinPriority: "loud"}); err == nil {
		t.Error("bad MinPriority accepted")
	}
}

// TestDocsEventExample decodes the event shown in docs/rules.md's "Event
// file format", so the documentation cannot drift from the decoder.
func TestDocsEventExample(t *testing.T) {
	readme, err := os.ReadFile("../docs/rules.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(readme)
	i := strings.Index(s, "## Event file format")
	if i < 0 {
		t.Fatal("docs/rules.md has no Event file format section")
	}
	s = s[i:]
	start := strings.Index(s, "```\n{")
	end := strings.Index(s[start+4:], "```")
	if start < 0 || end < 0 {
		t.Fatal("no example block")
	}
	line := strings.ReplaceAll(s[start+4:start+4+end], "\n", "")
	evs, err := DecodeEvents("docs/rules.md", []byte(line))
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 || evs[0].Proc.Ancestors[0].Name != "runc:[1:CHILD]" || evs[0].Workload != "shop/web" || evs[0].Container.ImageTag != "1.25" {
		t.Errorf("decoded %+v", evs)
	}
}

// TestStatsConcurrent reads Stats while Process runs (run with -race).
func TestStatsConcurrent(t *testing.T) {
	rs := loadStable(t)
	eng, err := NewEngine(rs, &EngineOptions{Matching: MatchAll, Sink: AlertFunc(func(*Alert) {})})
	if err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile("testdata/events.jsonl")
	evs, err := DecodeEvents("events.jsonl", data)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 200; i++ {
			for j := range evs {
				eng.Process(&evs[j])
			}
		}
	}()
	var last uint64
	for running := true; running; {
		select {
		case <-done:
			running = false
		default:
		}
		st := eng.Stats()
		if st.Events < last {
			t.Fatalf("events went back from %d to %d", last, st.Events)
		}
		last = st.Events
	}
	st := eng.Stats()
	var sum uint64
	for _, r := range st.Rules {
		sum += r.Matches
	}
	if st.Events != uint64(200*len(evs)) || st.Matches != 200*6 || sum != st.Matches {
		t.Errorf("stats %d events %d matches (rules sum %d)", st.Events, st.Matches, sum)
	}
}
