// Package detector is sysward's Falco-compatible rules engine: it loads rules
// files written in Falco's language (lists, macros, rules, exceptions,
// append/override, several files in order), parses conditions with Falco's
// grammar, compiles each condition once into a tree of closures over field
// accessors, and evaluates events against the rules indexed by event type.
//
// # Loading
//
//	rs, err := detector.LoadRules("falco_rules.yaml", "local.yaml")
//
// LoadRules returns a *Ruleset or an Errors value listing every problem,
// each an *Error with file:line:col (errors.Is works with ErrSyntax,
// ErrUndefinedMacro, ErrBadCheck, ErrInvalidRule, ErrInvalidYAML, ...).
// As in Falco, a field sysward does not know (in a condition or an output)
// and a required plugin it lacks are load errors (ErrUnknownField,
// ErrPluginUnavailable). With LoadOptions.SkipUnknownFields, or for a rule
// with skip-if-unknown-filter: true, such a rule is kept with
// Skipped/MissingField set and a Warning instead, so that Falco's stock rules
// load. Rules whose condition does not restrict evt.type get a warning as in
// Falco (unless warn_evttypes: false).
//
// Loading is bounded in memory and time whatever the input: nesting, list
// and macro expansion past the limits in limits.go fail with ErrLimit.
//
// Loading follows Falco's rule loader exactly (checked against the rules
// files of Falco's own loader tests, testdata/falco_loader_conformance.jsonl):
// lists are substituted into condition text before parsing, a list or macro
// sees only lists or macros defined before it, exceptions are appended as
// "and not (...)", and conditions are parsed with libsinsp's grammar
// (testdata/grammar_conformance.txt). Errors inside a rewritten condition are
// mapped back to the file's line and column.
//
// # Evaluating
//
//	eng, err := detector.NewEngine(rs, &detector.EngineOptions{
//		MinPriority: "warning", Matching: detector.MatchAll, Sink: sink})
//	eng.Process(&ev)
//
// Process evaluates one *Event and calls Sink.Send(*Alert) for each match
// (only the first with MatchFirst, Falco's default). The event is looked up
// by evt.type in a per-source bucket (one map lookup per event); each rule
// in the bucket runs its compiled condition, which reads the event through
// accessors bound at compile time: no reflection, no map lookups, and no
// allocation for an event that matches nothing. Alerts are allocated only
// on a match.
//
// # Events
//
// Event is a plain struct (see event.go): evt.* fields, the process with its
// ancestors, user, group, fd, container, Kubernetes pod, and sysward's own
// verdict (workload, profile, in_profile, denied, action, errno). Producers
// fill it and call Normalize once. Its JSON form, one object per line, is
// the events file that `sysward rules test --events` replays and that
// `sysward watch` can record; DecodeEvents reads it.
//
// # Lifetimes and threading
//
// A Ruleset is immutable after loading and may be shared. An Engine's
// Process must be called from one goroutine at a time (run one engine per
// goroutine to scale: they can share the Ruleset); Stats may be read from
// any goroutine concurrently. The Event passed to Process is not retained;
// the Alert passed to Send is owned by the sink. Nothing here holds OS
// resources, so there is no Close.
package detector
