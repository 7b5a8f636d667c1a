package profiles

import (
	"fmt"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"io"
	"sort"
	"strings"
)

// DiffResult is what changed from one profile to another.
type DiffResult struct {
	From string `json:"from"`
	To   string `json:"to"`
	// DefaultAction is set when the default action (or its errnoRet) changed.
	DefaultAction *Change    `json:"defaultAction,omitempty"`
	ArchesAdded   []Arch     `json:"archesAdded"`
	ArchesRemoved []Arch     `json:"archesRemoved"`
	Arches        []ArchDiff `json:"arches"`
}

// Change is an old and a new rendering of a rule.
type Change struct {
	From string `json:"from"`
	To   string `json:"to"`
}

// ArchDiff lists per-architecture changes, each slice sorted by syscall.
type ArchDiff struct {
	Arch Arch `json:"arch"`
	// Added are syscalls allowed (for some arguments) in To but not From.
	Added []SyscallChange `json:"added"`
	// Removed are syscalls allowed in From but not To.
	Removed []SyscallChange `json:"removed"`
	// Changed are syscalls whose rules changed without changing whether
	// they may run (e.g. ERRNO → KILL, argument conditions added).
	Changed []SyscallChange `json:"changed"`
}

// SyscallChange is one syscall's rule before and after.
type SyscallChange struct {
	Syscall string `json:"syscall"`
	From    string `json:"from"`
	To      string `json:"to"`
	// Sources are why the profile allows it (SyscallStats.Sources): To's
	// for an added or changed syscall, From's for a removed one.
	Sources []string `json:"sources,omitempty"`
}

// Empty reports whether the profiles behave the same.
func (d *DiffResult) Empty() bool {
	if d.DefaultAction != nil || len(d.ArchesAdded) > 0 || len(d.ArchesRemoved) > 0 {
		return false
	}
	for _, a := range d.Arches {
		if len(a.Added)+len(a.Removed)+len(a.Changed) > 0 {
			return false
		}
	}
	return true
}

// ruleText renders what p does with name on arch: the action (with errno),
// plus each argument-conditioned entry.
func ruleText(p *Profile, d Decision) string {
	s := actionText(d.Action, d.ErrnoRet)
	if d.Entry < 0 {
		s += " (default)"
	}
	for _, i := range d.Conditional {
		e := p.Syscalls[i]
		s += fmt.Sprintf("; %s if %s", actionText(e.Action, e.ErrnoRet), argsText(e.Args))
	}
	return s
}

func actionText(a Action, errno *uint) string {
	if errno != nil {
		return fmt.Sprintf("%s(%d)", a, *errno)
	}
	return string(a)
}

// ConditionText renders argument conditions as "arg0 == 0x1 && arg1 & 0x8 == 0x0",
// or joined by "||" when two test the same argument (runc then adds one rule
// per condition, so any of them matching is enough; see Evaluate).
func ConditionText(args []specs.LinuxSeccompArg) string { return argsText(args) }

func argsText(args []specs.LinuxSeccompArg) string {
	var parts []string
	for _, a := range sortedArgs(args) {
		op := map[string]string{"SCMP_CMP_NE": "!=", "SCMP_CMP_LT": "<", "SCMP_CMP_LE": "<=", "SCMP_CMP_EQ": "==",
			"SCMP_CMP_GE": ">=", "SCMP_CMP_GT": ">"}[string(a.Op)]
		if a.Op == "SCMP_CMP_MASKED_EQ" {
			parts = append(parts, fmt.Sprintf("arg%d & %#x == %#x", a.Index, a.Value, a.ValueTwo))
		} else {
			parts = append(parts, fmt.Sprintf("arg%d %s %#x", a.Index, op, a.Value))
		}
	}
	if splitConds(args) {
		return strings.Join(parts, " || ")
	}
	return strings.Join(parts, " && ")
}

const notCovered = "refused (architecture not in the profile)"

// Covers reports whether p's filter admits syscalls of arch at all: arch is
// listed, or none is listed and arch is the native one. Syscalls of other
// architectures hit the filter's bad-architecture action.
func Covers(p *Profile, arch Arch) bool {
	if len(p.Architectures) == 0 {
		return arch == NativeArch()
	}
	for _, a := range p.Architectures {
		if Arch(a) == arch {
			return true
		}
	}
	return false
}

// Diff compares from and to on the union of the architectures they cover
// (see CheckedArches); fromName and toName label them.
func Diff(from, to *Profile, fromName, toName string) *DiffResult {
	r := &DiffResult{From: fromName, To: toName, ArchesAdded: []Arch{}, ArchesRemoved: []Arch{}, Arches: []ArchDiff{}}
	if from.DefaultAction != to.DefaultAction || !eqUintPtr(from.DefaultErrnoRet, to.DefaultErrnoRet) {
		r.DefaultAction = &Change{actionText(from.DefaultAction, from.DefaultErrnoRet), actionText(to.DefaultAction, to.DefaultErrnoRet)}
	}
	fa, ta := map[Arch]bool{}, map[Arch]bool{}
	for _, a := range from.Architectures {
		fa[Arch(a)] = true
	}
	for _, a := range to.Architectures {
		ta[Arch(a)] = true
	}
	for a := range ta {
		if !fa[a] {
			r.ArchesAdded = append(r.ArchesAdded, a)
		}
	}
	for a := range fa {
		if !ta[a] {
			r.ArchesRemoved = append(r.ArchesRemoved, a)
		}
	}
	sort.Slice(r.ArchesAdded, func(i, j int) bool { return r.ArchesAdded[i] < r.ArchesAdded[j] })
	sort.Slice(r.ArchesRemoved, func(i, j int) bool { return r.ArchesRemoved[i] < r.ArchesRemoved[j] })
	archSet := map[Arch]bool{}
	for _, a := range append(CheckedArches(from), CheckedArches(to)...) {
		archSet[a] = true
	}
	var arches []Arch
	for a := range archSet {
		arches = append(arches, a)
	}
	sort.Slice(arches, func(i, j int) bool { return arches[i] < arches[j] })
	for _, a := range arches {
		ad := ArchDiff{Arch: a, Added: []SyscallChange{}, Removed: []SyscallChange{}, Changed: []SyscallChange{}}
		fdc, tdc := from.decider(), to.decider()
		fCov, tCov := Covers(from, a), Covers(to, a)
		for _, name := range Syscalls(a) {
			fd, td := fdc.decide(a, name), tdc.decide(a, name)
			fAllow, tAllow := fCov && fd.MayAllow(from), tCov && td.MayAllow(to)
			fr, tr := ruleText(from, fd), ruleText(to, td)
			if !fCov {
				fr = notCovered
			}
			if !tCov {
				tr = notCovered
			}
			c := SyscallChange{Syscall: name, From: fr, To: tr}
			switch {
			case tAllow && !fAllow:
				c.Sources = statSources(to, name)
				ad.Added = append(ad.Added, c)
			case fAllow && !tAllow:
				c.Sources = statSources(from, name)
				ad.Removed = append(ad.Removed, c)
			case strings.TrimSuffix(fr, " (default)") != strings.TrimSuffix(tr, " (default)"):
				c.Sources = statSources(to, name)
				ad.Changed = append(ad.Changed, c)
			}
		}
		r.Arches = append(r.Arches, ad)
	}
	return r
}

// WriteText writes the diff for people: "+ name" allowed now, "- name" no
// longer allowed, "~ name: from → to" rule changed.
func (d *DiffResult) WriteText(w io.Writer) {
	fmt.Fprintf(w, "--- %s\n+++ %s\n", d.From, d.To)
	if d.DefaultAction != nil {
		fmt.Fprintf(w, "~ defaultAction: %s → %s\n", d.DefaultAction.From, d.DefaultAction.To)
	}
	for _, a := range d.ArchesAdded {
		fmt.Fprintf(w, "+ architecture %s\n", a)
	}
	for _, a := range d.ArchesRemoved {
		fmt.Fprintf(w, "- architecture %s\n", a)
	}
	for _, a := range d.Arches {
		if len(a.Added)+len(a.Removed)+len(a.Changed) == 0 {
			continue
		}
		fmt.Fprintf(w, "%s: %d added, %d removed, %d changed\n", a.Arch, len(a.Added), len(a.Removed), len(a.Changed))
		for _, c := range a.Added {
			fmt.Fprintf(w, "+ %s: %s%s\n", c.Syscall, c.To, sourcesSuffix(c.Sources))
		}
		for _, c := range a.Removed {
			fmt.Fprintf(w, "- %s: %s%s\n", c.Syscall, c.To, sourcesSuffix(c.Sources))
		}
		for _, c := range a.Changed {
			fmt.Fprintf(w, "~ %s: %s → %s%s\n", c.Syscall, c.From, c.To, sourcesSuffix(c.Sources))
		}
	}
	if d.Empty() {
		fmt.Fprintln(w, "no differences")
	}
}

// statSources returns p's recorded sources for name (nil if none).
func statSources(p *Profile, name string) []string {
	if p.Sysward == nil {
		return nil
	}
	return append([]string(nil), p.Sysward.Stats[name].Sources...)
}

func sourcesSuffix(src []string) string {
	if len(src) == 0 {
		return ""
	}
	return " [" + strings.Join(src, ", ") + "]"
}
