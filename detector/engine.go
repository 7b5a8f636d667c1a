package detector

import (
	"fmt"
	"os"
	"strings"
	"sync/atomic"
)

// AlertSink receives every alert the engine raises. Send is called on the
// goroutine that called Process; an implementation that does I/O should
// queue and return (detector/output's sinks do).
type AlertSink interface {
	Send(*Alert)
}

// AlertFunc adapts a function to an AlertSink.
type AlertFunc func(*Alert)

// Send calls f(a).
func (f AlertFunc) Send(a *Alert) { f(a) }

// Matching is Falco's rule_matching option.
type Matching int

const (
	// MatchFirst stops at the first rule (in file order) that matches an
	// event: Falco's default.
	MatchFirst Matching = iota
	// MatchAll raises an alert for every rule that matches.
	MatchAll
)

// ParseMatching accepts "first" and "all".
func ParseMatching(s string) (Matching, error) {
	switch s {
	case "", "first":
		return MatchFirst, nil
	case "all":
		return MatchAll, nil
	}
	return 0, fmt.Errorf("%w: rule_matching %q (want first or all)", ErrBadOption, s)
}

func (m Matching) String() string {
	if m == MatchAll {
		return "all"
	}
	return "first"
}

// EngineOptions configures an Engine. A nil *EngineOptions means defaults.
type EngineOptions struct {
	// MinPriority drops rules less severe than this (Falco's "priority"
	// option). "" means debug: every rule.
	MinPriority string
	// Matching is first (default) or all.
	Matching Matching
	// Hostname goes into every alert; "" means os.Hostname().
	Hostname string
	// Sink receives alerts; nil drops them (Stats still counts matches).
	Sink AlertSink
	// ExtraFields are syscall-source fields added to the output_fields of
	// every syscall alert whose event has them, the output text unchanged
	// (Falco's append_output extra_fields): the node agent adds the
	// Kubernetes fields it knows this way. An unknown name is an error.
	ExtraFields []string
}

// Engine evaluates events against a compiled Ruleset.
//
// Process must be called from one goroutine at a time; Stats may be called
// from any goroutine concurrently with Process. An Engine holds no OS
// resources and needs no Close.
type Engine struct {
	rs       *Ruleset
	opts     EngineOptions
	minPrio  Priority
	hostname string
	sources  [numSources]*sourceIndex
	extra    *outputFormat // ExtraFields, syscall source
	active   []*Rule       // enabled, compiled, priority-passing rules, in load order

	events  atomic.Uint64
	matches atomic.Uint64
	counts  []atomic.Uint64 // per active rule, same index as active
}

// sourceIndex buckets the rules of one source by event type.
type sourceIndex struct {
	byType map[string][]int // evt.type -> indexes into Engine.active, ascending
	other  []int            // rules for event types no rule names
}

// NewEngine builds an engine over the rules of rs that are enabled, compiled
// and at least as severe as opts.MinPriority.
func NewEngine(rs *Ruleset, opts *EngineOptions) (*Engine, error) {
	e := &Engine{rs: rs, minPrio: PriorityDebug}
	if opts != nil {
		e.opts = *opts
	}
	if e.opts.MinPriority != "" {
		p, err := ParsePriority(e.opts.MinPriority)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrBadOption, err)
		}
		e.minPrio = p
	}
	e.hostname = e.opts.Hostname
	if e.hostname == "" {
		e.hostname, _ = os.Hostname()
	}
	if len(e.opts.ExtraFields) > 0 {
		e.extra = compileOutput(registries[srcSyscall], "%"+strings.Join(e.opts.ExtraFields, " %"))
		if len(e.extra.unknown) > 0 {
			return nil, fmt.Errorf("%w: extra output fields: unknown %s", ErrBadOption, strings.Join(e.extra.unknown, ", "))
		}
	}
	for _, r := range rs.Rules {
		if !r.Enabled || r.Skipped != "" || r.Priority > e.minPrio || r.compiled == nil {
			continue
		}
		e.active = append(e.active, r)
	}
	e.counts = make([]atomic.Uint64, len(e.active))
	for s := range e.sources {
		e.sources[s] = e.buildIndex(sourceID(s))
	}
	return e, nil
}

func (e *Engine) buildIndex(src sourceID) *sourceIndex {
	idx := &sourceIndex{byType: map[string][]int{}}
	named := map[string]bool{}
	for _, r := range e.active {
		if r.compiled.source != src {
			continue
		}
		for t := range r.compiled.types.set {
			named[t] = true
		}
	}
	for i, r := range e.active {
		if r.compiled.source != src {
			continue
		}
		ts := r.compiled.types
		for t := range named {
			if ts.has(t) {
				idx.byType[t] = append(idx.byType[t], i)
			}
		}
		if ts.negated { // "all except set" also holds every type no rule names
			idx.other = append(idx.other, i)
		}
	}
	return idx
}

// Process evaluates one event and sends an alert for each matching rule
// (only the first with MatchFirst). It returns the number of alerts. A
// non-matching event costs one bucket lookup plus the compiled conditions
// of the rules in its bucket, and allocates nothing.
func (e *Engine) Process(ev *Event) int {
	e.events.Add(1)
	src := sourceOf(ev.Source)
	if src < 0 {
		return 0
	}
	idx := e.sources[src]
	bucket, ok := idx.byType[ev.Type]
	if !ok {
		bucket = idx.other
	}
	n := 0
	for _, i := range bucket {
		r := e.active[i]
		if !r.compiled.eval(ev) {
			continue
		}
		n++
		e.counts[i].Add(1)
		e.matches.Add(1)
		if e.opts.Sink != nil {
			e.opts.Sink.Send(e.alert(r, ev))
		}
		if e.opts.Matching == MatchFirst {
			break
		}
	}
	return n
}

func (e *Engine) alert(r *Rule, ev *Event) *Alert {
	out, fields := r.compiled.output.render(ev)
	if e.extra != nil && r.compiled.source == srcSyscall {
		_, extra := e.extra.render(ev)
		for k, v := range extra {
			if _, ok := fields[k]; !ok && v != nil {
				fields[k] = v
			}
		}
	}
	return &Alert{
		Time:         ev.Time,
		Rule:         r.Name,
		Priority:     r.Priority,
		Source:       r.Source,
		Hostname:     e.hostname,
		Output:       out,
		OutputFields: fields,
		Tags:         r.Tags,
		Workload:     ev.Workload,
		Syscall:      ev.Type,
		Count:        ev.Count,
	}
}

// Stats is a snapshot of the engine's counters.
type Stats struct {
	Events  uint64      // events passed to Process
	Matches uint64      // rule matches (= alerts raised)
	Rules   []RuleStats // one per loaded rule, in load order
}

// RuleStats counts one loaded rule's matches.
type RuleStats struct {
	Name     string
	Priority Priority
	Source   string
	Tags     []string
	Matches  uint64
}

// Stats returns the counters. Safe to call concurrently with Process.
func (e *Engine) Stats() Stats {
	s := Stats{Events: e.events.Load(), Matches: e.matches.Load(), Rules: make([]RuleStats, len(e.active))}
	for i, r := range e.active {
		s.Rules[i] = RuleStats{Name: r.Name, Priority: r.Priority, Source: r.Source, Tags: r.Tags, Matches: e.counts[i].Load()}
	}
	return s
}

// RulesLoaded is the number of rules the engine evaluates.
func (e *Engine) RulesLoaded() int { return len(e.active) }

// Rules returns the rules the engine evaluates, in load order. The slice and
// the rules must not be modified.
func (e *Engine) Rules() []*Rule { return e.active }

// Hostname is the hostname the engine puts into alerts.
func (e *Engine) Hostname() string { return e.hostname }
