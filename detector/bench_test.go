package detector

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"text/tabwriter"
	"time"
)

// benchStream is the mixed event stream of the benchmark: the benign mix
// repeated, plus the recorded attack events (about 1 in 10 events raises an
// alert) — or only the benign mix when matching is false.
func benchStream(tb testing.TB, matching bool) []Event {
	var out []Event
	for i := 0; i < 8; i++ {
		out = append(out, benignEvents()...)
	}
	if matching {
		data, err := os.ReadFile("testdata/events.jsonl")
		if err != nil {
			tb.Fatal(err)
		}
		evs, err := DecodeEvents("events.jsonl", data)
		if err != nil {
			tb.Fatal(err)
		}
		var mixed []Event
		for i, ev := range evs { // spread the recorded events through the stream
			mixed = append(mixed, out[i*5:i*5+5]...)
			mixed = append(mixed, ev)
		}
		out = append(mixed, out[len(evs)*5:]...)
	}
	return out
}

func loadBenchRules(tb testing.TB, empty bool) *Ruleset {
	if empty {
		rs, err := LoadRulesFiles()
		if err != nil {
			tb.Fatal(err)
		}
		return rs
	}
	return loadStable(tb)
}

type benchRow struct {
	name    string
	run     func(*testing.B)
	events  int
	alerts  int
	n       int
	elapsed time.Duration
	mallocs uint64
}

func (r *benchRow) nsPerEvent() float64 {
	return float64(r.elapsed.Nanoseconds()) / float64(r.n*r.events)
}

func (r *benchRow) allocsPerEvent() float64 {
	return float64(r.mallocs) / float64(r.n*r.events)
}

// measure runs row.run as a sub-benchmark and keeps its last (largest) run.
func (r *benchRow) measure(b *testing.B) {
	b.Run(r.name, func(b *testing.B) {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		b.ResetTimer()
		r.run(b)
		b.StopTimer()
		runtime.ReadMemStats(&after)
		r.n, r.elapsed, r.mallocs = b.N, b.Elapsed(), after.Mallocs-before.Mallocs
		b.ReportMetric(r.nsPerEvent(), "ns/event")
		b.ReportMetric(r.allocsPerEvent(), "allocs/event")
	})
}

// BenchmarkEngine measures events/s on one core for Falco's stable ruleset
// plus sysward's rules, against baselines measured in the same run, and
// prints a table. Each op is one pass over the whole stream.
func BenchmarkEngine(b *testing.B) {
	stable := loadBenchRules(b, false)
	empty := loadBenchRules(b, true)
	mixed := benchStream(b, true)
	benign := benchStream(b, false)
	sink := AlertFunc(func(*Alert) {})

	engineRun := func(rs *Ruleset, evs []Event, m Matching) func(*testing.B) {
		return func(b *testing.B) {
			eng, err := NewEngine(rs, &EngineOptions{Matching: m, Hostname: "h", Sink: sink})
			if err != nil {
				b.Fatal(err)
			}
			for i := 0; i < b.N; i++ {
				for j := range evs {
					eng.Process(&evs[j])
				}
			}
		}
	}
	// Without the evt.type index: every compiled rule runs for every event.
	unindexed := func(rs *Ruleset, evs []Event) func(*testing.B) {
		return func(b *testing.B) {
			eng, _ := NewEngine(rs, &EngineOptions{Matching: MatchAll, Hostname: "h", Sink: sink})
			for i := 0; i < b.N; i++ {
				for j := range evs {
					for _, r := range eng.active {
						if r.compiled.source == srcSyscall && r.compiled.eval(&evs[j]) {
							sink.Send(eng.alert(r, &evs[j]))
						}
					}
				}
			}
		}
	}
	naive := func(rs *Ruleset, evs []Event) func(*testing.B) {
		return func(b *testing.B) {
			in := newNaive(b, rs)
			for i := 0; i < b.N; i++ {
				for j := range evs {
					in.process(&evs[j])
				}
			}
		}
	}
	count := func(rs *Ruleset, evs []Event) int {
		n := 0
		eng, _ := NewEngine(rs, &EngineOptions{Matching: MatchAll, Sink: sink})
		for j := range evs {
			n += eng.Process(&evs[j])
		}
		return n
	}

	rows := []*benchRow{
		{name: "empty ruleset (dispatch only)", run: engineRun(empty, mixed, MatchFirst), events: len(mixed)},
		{name: "engine, non-matching stream", run: engineRun(stable, benign, MatchFirst), events: len(benign), alerts: count(stable, benign)},
		{name: "engine, mixed stream, rule_matching=first", run: engineRun(stable, mixed, MatchFirst), events: len(mixed), alerts: count(stable, mixed)},
		{name: "engine, mixed stream, rule_matching=all", run: engineRun(stable, mixed, MatchAll), events: len(mixed), alerts: count(stable, mixed)},
		{name: "compiled, no evt.type index", run: unindexed(stable, mixed), events: len(mixed), alerts: count(stable, mixed)},
		{name: "naive AST interpreter, fields by name", run: naive(stable, mixed), events: len(mixed), alerts: count(stable, mixed)},
	}
	for _, r := range rows {
		r.measure(b)
	}
	ref := rows[3].nsPerEvent()
	compiled, _, _ := stable.Stats()
	var sb strings.Builder
	fmt.Fprintf(&sb, "\nEngine throughput, one core: Falco stable rules + sysward rules (%d rules evaluated), stream of %d events (%d alerts)\n", compiled, len(mixed), rows[3].alerts)
	tw := tabwriter.NewWriter(&sb, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "measurement\tns/event\tM events/s/core\tallocs/event\tvs engine (mixed, all)\t")
	for _, r := range rows {
		ns := r.nsPerEvent()
		fmt.Fprintf(tw, "%s\t%.1f\t%.2f\t%.3f\t%.2fx\t\n", r.name, ns, 1e3/ns, r.allocsPerEvent(), ns/ref)
	}
	tw.Flush()
	fmt.Print(sb.String())
}

// naiveInterp is the baseline: it walks each rule's AST for every event,
// resolving macros, lists and fields by name (map lookups) and building each
// comparison anew, with no evt.type index — what a straightforward
// interpreter does.
type naiveInterp struct {
	c     *compiler
	rules []naiveRule
	sink  AlertSink
}

type naiveRule struct {
	r   *Rule
	ast Expr
}

func newNaive(tb testing.TB, rs *Ruleset) *naiveInterp {
	macros := map[string]*macroDef{}
	for _, m := range rs.Macros {
		e, err := ParseCondition(m.Condition)
		if err != nil {
			tb.Fatal(err)
		}
		macros[m.Name] = &macroDef{name: m.Name, ast: e}
	}
	lists := map[string][]string{}
	for _, l := range rs.Lists {
		lists[l.Name] = l.Items
	}
	in := &naiveInterp{c: &compiler{reg: registries[srcSyscall], macros: macros, lists: lists}, sink: AlertFunc(func(*Alert) {})}
	for _, r := range rs.Rules {
		if !r.Compiled() || !r.Enabled || r.Source != SourceSyscall {
			continue
		}
		e, err := ParseCondition(r.Condition)
		if err != nil {
			tb.Fatal(err)
		}
		in.rules = append(in.rules, naiveRule{r: r, ast: e})
	}
	return in
}

func (in *naiveInterp) process(ev *Event) {
	for _, nr := range in.rules {
		if in.eval(nr.ast, ev) {
			out, fields := nr.r.compiled.output.render(ev)
			in.sink.Send(&Alert{Rule: nr.r.Name, Output: out, OutputFields: fields})
		}
	}
}

func (in *naiveInterp) eval(e Expr, ev *Event) bool {
	switch e := e.(type) {
	case *AndExpr:
		for _, c := range e.Children {
			if !in.eval(c, ev) {
				return false
			}
		}
		return true
	case *OrExpr:
		for _, c := range e.Children {
			if in.eval(c, ev) {
				return true
			}
		}
		return false
	case *NotExpr:
		return !in.eval(e.Child, ev)
	case *IdentExpr:
		return in.eval(in.c.macros[e.Name].ast, ev)
	default:
		f, err := in.c.compile(e) // resolve the field by name, build the check
		return err == nil && f(ev)
	}
}
