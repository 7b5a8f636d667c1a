package profiles

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
)

// The path from a learned profile to an enforced one: run the workload
// under the profile in complain mode (`sysward run --mode complain --watch
// --record FILE`, or `sysward watch --record FILE`) under real load; fold
// what it did outside the profile into a new profile (Absorb); keep doing
// that until the records show no new syscall for a window (Promote); then
// enforce.

// Evidence is what one watch record says about a workload: the span it was
// watched and the syscalls it made outside the profile it was watched with.
type Evidence struct {
	// Name labels the record (its path).
	Name string
	// Started and Ended bound the time it was watched.
	Started, Ended time.Time
	// Seen lists each syscall made outside the profile once, with its first
	// occurrence, sorted by name.
	Seen []Observed
}

// Observed is one syscall a record saw outside the profile.
type Observed struct {
	Syscall string    `json:"syscall"`
	First   time.Time `json:"first"`
	// Where is "<record>:<line>" of the first occurrence.
	Where string `json:"where"`
	// Count is how many times the record saw it.
	Count int `json:"count"`
	// Denied is true when the call was refused (an enforce-mode record).
	Denied bool `json:"denied,omitempty"`
}

// AbsorbResult says what Absorb did with each syscall the evidence holds.
type AbsorbResult struct {
	// Added are allowed now, with the source "complain".
	Added []string `json:"added"`
	// Family are siblings of Added allowed with "family:<member>".
	Family []string `json:"family"`
	// Already were allowed by the profile (the records were made with an
	// older profile).
	Already []string `json:"already"`
	// Dangerous were seen but not absorbed: the lint calls them dangerous;
	// allow them by hand if the workload really needs them.
	Dangerous []string `json:"dangerous"`
	// Refused were seen but an entry of the profile refuses them
	// explicitly: absorb never overrides a rule.
	Refused []string `json:"refused"`
}

// Absorb returns a copy of p that also allows the syscalls the evidence
// saw outside the profile, each with the source "complain" and its first
// occurrence as first-seen time, plus (when generalize is set) the other
// members of their families (WidenFamilies); p's provenance gets an entry
// with Target "complain" naming the records. Dangerous syscalls and ones an
// entry of p refuses are not absorbed (see AbsorbResult).
func Absorb(p *Profile, evidence []Evidence, tool string, generalize bool) (*Profile, *AbsorbResult) {
	out := p.Clone()
	r := &AbsorbResult{Added: []string{}, Family: []string{}, Already: []string{}, Dangerous: []string{}, Refused: []string{}}
	first := firstOccurrences(evidence)
	arches := CheckedArches(out)
	named := map[string]bool{}
	for _, n := range out.Names() {
		named[n] = true
	}
	added := map[string]bool{}
	for _, o := range first {
		allowed := false
		for _, a := range arches {
			allowed = allowed || out.Decide(a, o.Syscall).MayAllow(out)
		}
		switch {
		case allowed:
			r.Already = append(r.Already, o.Syscall)
			continue
		case isDangerous(o.Syscall):
			r.Dangerous = append(r.Dangerous, o.Syscall)
			continue
		case named[o.Syscall]:
			r.Refused = append(r.Refused, o.Syscall)
			continue
		}
		if !addWithSource(out, named, added, o.Syscall, SourceComplain) {
			continue // not a syscall on the profile's architectures
		}
		st := out.Sysward.Stats[o.Syscall]
		st.FirstSeen = o.First.UTC()
		out.Sysward.Stats[o.Syscall] = st
		r.Added = append(r.Added, o.Syscall)
	}
	if generalize {
		r.Family = WidenFamilies(out, r.Added)
	}
	if out.Sysward == nil {
		out.Sysward = &Metadata{}
	}
	var names []string
	var start, end time.Time
	for _, e := range evidence {
		names = append(names, e.Name)
		if start.IsZero() || (!e.Started.IsZero() && e.Started.Before(start)) {
			start = e.Started
		}
		if e.Ended.After(end) {
			end = e.Ended
		}
	}
	out.Sysward.Provenance = append(out.Sysward.Provenance, Provenance{
		Tool: tool, Target: "complain",
		Workload: fmt.Sprintf("%s (%d syscalls absorbed, %d family siblings)", strings.Join(names, ", "), len(r.Added), len(r.Family)),
		Started:  start.UTC(), Ended: end.UTC(),
	})
	return out, r
}

// firstOccurrences merges the evidence: each syscall once, with its
// earliest occurrence and the total count, sorted by name.
func firstOccurrences(evidence []Evidence) []Observed {
	m := map[string]Observed{}
	for _, e := range evidence {
		for _, o := range e.Seen {
			cur, ok := m[o.Syscall]
			if !ok || o.First.Before(cur.First) {
				o.Count += cur.Count
				o.Denied = o.Denied || cur.Denied
				m[o.Syscall] = o
				continue
			}
			cur.Count += o.Count
			cur.Denied = cur.Denied || o.Denied
			m[o.Syscall] = cur
		}
	}
	out := make([]Observed, 0, len(m))
	for _, o := range m {
		out = append(out, o)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Syscall < out[j].Syscall })
	return out
}

// ErrNoWindow is returned by Promote for a window that is not positive.
var ErrNoWindow = errors.New("the window must be a positive duration")

// Readiness is Promote's verdict.
type Readiness struct {
	Ready  bool   `json:"ready"`
	Reason string `json:"reason"`
	// Window is the quiet time asked for; Quiet how long the records
	// watched the workload after its last new syscall (only time inside a
	// record counts, not gaps between records).
	Window time.Duration `json:"window"`
	Quiet  time.Duration `json:"quiet"`
	// Watched is the total time the records cover.
	Watched time.Duration `json:"watched"`
	// Started and Ended bound the records.
	Started time.Time `json:"started"`
	Ended   time.Time `json:"ended"`
	// LastNew is the syscall that appeared last (nil when none did).
	LastNew *Observed `json:"lastNew,omitempty"`
	// Uncovered were seen outside the profile and the profile neither
	// allows them nor names them in an entry: absorb them (or refuse them
	// explicitly) first.
	Uncovered []Observed `json:"uncovered"`
	Records   int        `json:"records"`
}

// Promote says whether p is ready to enforce on the evidence: every syscall
// the records saw outside the profiles they were watched with is allowed by
// p or decided by an entry naming it (a refusal written on purpose, e.g. for
// a dangerous call absorb leaves out), and the records watched the workload
// for at least window after the last time a syscall appeared that it had
// not made before.
func Promote(p *Profile, evidence []Evidence, window time.Duration) (*Readiness, error) {
	if window <= 0 {
		return nil, ErrNoWindow
	}
	if len(evidence) == 0 {
		return nil, errors.New("no records: promotion needs evidence")
	}
	r := &Readiness{Window: window, Uncovered: []Observed{}, Records: len(evidence)}
	type span struct{ a, b time.Time }
	var spans []span
	for _, e := range evidence {
		if e.Ended.Before(e.Started) {
			return nil, fmt.Errorf("%s: ends (%s) before it starts (%s)", e.Name, e.Ended.Format(time.RFC3339), e.Started.Format(time.RFC3339))
		}
		spans = append(spans, span{e.Started, e.Ended})
		if r.Started.IsZero() || e.Started.Before(r.Started) {
			r.Started = e.Started
		}
		if e.Ended.After(r.Ended) {
			r.Ended = e.Ended
		}
	}
	first := firstOccurrences(evidence)
	arches := CheckedArches(p)
	named := map[string]bool{}
	for _, n := range p.Names() {
		named[n] = true
	}
	for i, o := range first {
		allowed := false
		for _, a := range arches {
			allowed = allowed || p.Decide(a, o.Syscall).MayAllow(p)
		}
		if !allowed && !named[o.Syscall] {
			r.Uncovered = append(r.Uncovered, o)
		}
		if r.LastNew == nil || o.First.After(r.LastNew.First) {
			r.LastNew = &first[i]
		}
	}
	quietFrom := r.Started
	if r.LastNew != nil && r.LastNew.First.After(quietFrom) {
		quietFrom = r.LastNew.First
	}
	// Sum the union of the spans, all of it and after quietFrom.
	sort.Slice(spans, func(i, j int) bool { return spans[i].a.Before(spans[j].a) })
	var cur span
	flush := func() {
		if cur.b.After(cur.a) {
			r.Watched += cur.b.Sub(cur.a)
			a := cur.a
			if quietFrom.After(a) {
				a = quietFrom
			}
			if cur.b.After(a) {
				r.Quiet += cur.b.Sub(a)
			}
		}
	}
	for i, s := range spans {
		if i > 0 && !s.a.After(cur.b) {
			if s.b.After(cur.b) {
				cur.b = s.b
			}
			continue
		}
		if i > 0 {
			flush()
		}
		cur = s
	}
	flush()

	switch {
	case len(r.Uncovered) > 0:
		var l []string
		for _, o := range r.Uncovered {
			l = append(l, fmt.Sprintf("%s (%d call(s), first at %s)", o.Syscall, o.Count, o.Where))
		}
		r.Reason = fmt.Sprintf("not ready: the workload made %d syscalls the profile does not allow: %s; absorb them (sysward profile absorb), or, if the workload must not have them, refuse them with an entry of their own", len(l), strings.Join(l, ", "))
	case r.Quiet < window && r.LastNew != nil:
		r.Reason = fmt.Sprintf("not ready: the last new syscall, %s, came at %s (%s); the records watched the workload %s after it, want %s with no new syscall",
			r.LastNew.Syscall, r.LastNew.First.UTC().Format(time.RFC3339), r.LastNew.Where, roundDuration(r.Quiet), window)
	case r.Quiet < window:
		r.Reason = fmt.Sprintf("not ready: no syscall outside the profile, but the records watched the workload for only %s, want %s", roundDuration(r.Quiet), window)
	default:
		r.Ready = true
		r.Reason = fmt.Sprintf("ready: no new syscall for %s (window %s) in %d record(s), %s – %s", roundDuration(r.Quiet), window, len(evidence),
			r.Started.UTC().Format(time.RFC3339), r.Ended.UTC().Format(time.RFC3339))
	}
	return r, nil
}

func isDangerous(name string) bool {
	_, ok := DangerousSyscalls[name]
	return ok
}

// roundDuration rounds d for people: to the millisecond under a second,
// else to the second.
func roundDuration(d time.Duration) time.Duration {
	if d < time.Second {
		return d.Round(time.Millisecond)
	}
	return d.Round(time.Second)
}
