package profiler

import (
	"fmt"
	"slices"
	"time"

	"github.com/sysward/sysward/profiles"
)

// Coverage says how complete a learning session looks: how long the
// workload ran without making a syscall it had not made before, and where
// the profile's allowed syscalls came from.
type Coverage struct {
	// Session is how long the session lasted.
	Session time.Duration
	// LastNew is when the workload made its last syscall not made before
	// (zero when nothing was traced), and SinceLastNew how long before the
	// end of the session that was.
	LastNew      time.Time
	SinceLastNew time.Duration
	// BySource counts the allowed syscalls by the strongest of their
	// sources (profiles.SourceKinds).
	BySource map[string]int
	// Saturated is false when new syscalls were still appearing near the
	// end of a session that did not end by the command exiting: the
	// workload had not yet done everything it does. Warning then says so.
	Saturated bool
	Warning   string
}

// Saturation thresholds: a session is saturated when the last new syscall
// came at least MinQuiet and at least a quarter of the session before its
// end. A command that exited by itself ran its whole course: saturated.
const (
	MinQuiet      = 30 * time.Second
	quietFraction = 4
)

// generalize widens the learned profile (after the runtime base: its calls
// are not the workload's and widen nothing) by the families of the traced
// calls and the self-query baseline, as opts say, and fills res.Coverage.
func generalize(res *Result, opts *LearnOptions, prov profiles.Provenance) {
	var traced []string
	for _, a := range res.Seen.Arches() {
		for _, nr := range res.Seen.Numbers(a) {
			if name, ok := profiles.SyscallName(a, nr); ok {
				traced = append(traced, name)
			}
		}
	}
	// When static hints read the workload's binaries and each makes its
	// calls through glibc or Go, the form of a call (legacy open or modern
	// openat) is its libc function's, and the other form's function is
	// among the imports static hints read: widen within a generation.
	wo := &profiles.WidenOptions{Generations: res.Static != nil && len(res.Static.Binaries) > 0 && !res.Static.LegacyLibc}
	if opts.Generalize != profiles.GeneralizeNone {
		fo := *wo
		fo.Member = explainedRule(res.Static, wo)
		res.FamilyAdded = profiles.WidenFamiliesWith(res.Profile, traced, &fo)
	}
	if opts.Baseline != profiles.BaselineNone {
		res.BaselineAdded = profiles.AddBaselineWith(res.Profile, wo)
	}
	res.Coverage = coverage(res, prov)
}

// explainedRule is how families widen a traced call when static hints
// read every binary and each goes through glibc or Go (nil otherwise:
// every member). A call no import explains (StaticReport.Explained) comes
// from code static hints cannot see (the dynamic loader, a raw syscall(),
// a dlopen'd module) and widens to every member of its generation. A call
// an import explains was made through a libc function: every call that
// function can make is in its row, and a sibling made by another function
// the binary imports is already a static hint; only a library the program
// links but static hints do not read (libssl, libsystemd ...) may make the
// sibling through a function the binary does not import, so the sibling is
// added only when such a library can reach it (StaticReport.LibraryReach).
func explainedRule(st *StaticReport, wo *profiles.WidenOptions) func(seed, member string) bool {
	if st == nil || !wo.Generations {
		return nil
	}
	return func(seed, member string) bool {
		if _, ok := slices.BinarySearch(st.Explained, seed); !ok {
			return true
		}
		_, ok := slices.BinarySearch(st.LibraryReach, member)
		return ok
	}
}

// coverage fills Result.Coverage from the finished session.
func coverage(res *Result, prov profiles.Provenance) Coverage {
	c := Coverage{Session: prov.Ended.Sub(prov.Started), BySource: map[string]int{}}
	if res.Profile.Sysward != nil {
		for _, st := range res.Profile.Sysward.Stats {
			if profiles.PrimarySource(st.Sources) == profiles.KindTraced && st.FirstSeen.After(c.LastNew) {
				c.LastNew = st.FirstSeen
			}
		}
	}
	for k, names := range profiles.SourcesByKind(res.Profile) {
		c.BySource[k] = len(names)
	}
	if !c.LastNew.IsZero() {
		c.SinceLastNew = prov.Ended.Sub(c.LastNew)
		if c.SinceLastNew < 0 {
			c.SinceLastNew = 0
		}
	}
	need := max(MinQuiet, c.Session/quietFraction)
	switch {
	case res.Stop == StopCommandExited:
		c.Saturated = true
	case c.LastNew.IsZero():
		c.Warning = "the workload made no syscall during the session: the profile only allows what was added to it"
	case c.SinceLastNew < need:
		c.Warning = fmt.Sprintf("the last new syscall came %s before the end of a %s session (want at least %s): the workload was still doing new things; learn longer (--until-stable %s) or run the profile in complain mode first",
			c.SinceLastNew.Round(time.Second), c.Session.Round(time.Second), need.Round(time.Second), need.Round(time.Second))
	default:
		c.Saturated = true
	}
	return c
}
