package profiles

import (
	"fmt"
	"io"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Explanation says why a profile does what it does with one syscall.
type Explanation struct {
	Syscall string `json:"syscall"`
	Arch    Arch   `json:"arch"`
	// Known is false when the name is not a syscall on Arch.
	Known  bool `json:"known"`
	Number int  `json:"number"`
	// Allowed: the syscall runs for any arguments; MayAllow: for some.
	Allowed  bool   `json:"allowed"`
	MayAllow bool   `json:"mayAllow"`
	Action   Action `json:"action"`
	ErrnoRet *uint  `json:"errnoRet,omitempty"`
	// Entry is the JSON path of the deciding entry, "defaultAction" if none.
	Entry       string             `json:"entry"`
	EntryNames  int                `json:"entryNames,omitempty"` // how many names that entry lists
	Conditional []ConditionalEntry `json:"conditional,omitempty"`
	// Ignored lists entries naming the syscall that have no effect (see
	// Decision.Ignored), with the reason.
	Ignored []IgnoredEntry `json:"ignored,omitempty"`
	// Ambiguous: matching conditional entries disagree (Decision.Ambiguous);
	// sysward's enforcer refuses the profile.
	Ambiguous  bool          `json:"ambiguous,omitempty"`
	Stats      *SyscallStats `json:"stats,omitempty"`
	Provenance []Provenance  `json:"provenance,omitempty"`
	Dangerous  *Dangerous    `json:"dangerous,omitempty"`
	// DockerAllows says whether Docker's default profile lets it run.
	DockerAllows bool `json:"dockerAllows"`
}

// ConditionalEntry is an entry naming the syscall with argument conditions.
type ConditionalEntry struct {
	Entry     string `json:"entry"`
	Action    Action `json:"action"`
	ErrnoRet  *uint  `json:"errnoRet,omitempty"`
	Condition string `json:"condition"`
}

// IgnoredEntry is an entry naming the syscall that has no effect.
type IgnoredEntry struct {
	Entry  string `json:"entry"`
	Action Action `json:"action"`
	Reason string `json:"reason"`
}

// Explain says why p allows (or not) syscall name on arch ("" means the
// first architecture p covers, see CheckedArches).
func Explain(p *Profile, name string, arch Arch) *Explanation {
	if arch == "" {
		if as := CheckedArches(p); len(as) > 0 {
			arch = as[len(as)-1] // x86_64 sorts last among x86 flavours
			for _, a := range as {
				if a == NativeArch() {
					arch = a
				}
			}
		}
	}
	e := &Explanation{Syscall: name, Arch: arch}
	e.Number, e.Known = SyscallNumber(arch, name)
	d := p.Decide(arch, name)
	e.Action, e.ErrnoRet = d.Action, d.ErrnoRet
	e.Allowed, e.MayAllow = d.Allowed(), d.MayAllow(p)
	e.Entry = "defaultAction"
	if d.Entry >= 0 {
		e.Entry = fmt.Sprintf("syscalls[%d]", d.Entry)
		e.EntryNames = len(p.Syscalls[d.Entry].Names)
	}
	for _, i := range d.Conditional {
		s := p.Syscalls[i]
		e.Conditional = append(e.Conditional, ConditionalEntry{Entry: fmt.Sprintf("syscalls[%d]", i), Action: s.Action, ErrnoRet: s.ErrnoRet, Condition: argsText(s.Args)})
	}
	for _, m := range d.Demuxed {
		s := p.Syscalls[m.Entry]
		cond := fmt.Sprintf("arg0 == %d (%s)", m.Call, m.Name)
		var rest []specs.LinuxSeccompArg
		onArg0 := false
		for _, a := range s.Args {
			if a.Index != 0 {
				rest = append(rest, a)
			}
			onArg0 = onArg0 || a.Index == 0
		}
		switch {
		case len(rest) == 0, splitConds(s.Args) && onArg0:
			// arg0 == call alone (libseccomp replaces conditions on arg0)
		case splitConds(s.Args):
			cond += " && (" + strings.Join(strings.Split(argsText(rest), " && "), " || ") + ")"
		default:
			cond += " && " + argsText(rest)
		}
		e.Conditional = append(e.Conditional, ConditionalEntry{Entry: fmt.Sprintf("syscalls[%d]", m.Entry), Action: s.Action, ErrnoRet: s.ErrnoRet, Condition: cond})
	}
	for _, i := range d.Ignored {
		s := p.Syscalls[i]
		why := "same action as the default (runc skips it)"
		if len(s.Args) > 0 && d.Entry >= 0 && !SameVerdict(s.Action, s.ErrnoRet, p.DefaultAction, p.DefaultErrnoRet) {
			why = fmt.Sprintf("argument conditions overridden by the unconditional syscalls[%d] (libseccomp drops a syscall's conditions once it has an unconditional rule)", d.Entry)
		} else if len(s.Args) == 0 && !SameVerdict(s.Action, s.ErrnoRet, p.DefaultAction, p.DefaultErrnoRet) {
			why = fmt.Sprintf("a second unconditional entry; syscalls[%d] comes first and decides", d.Entry)
		}
		e.Ignored = append(e.Ignored, IgnoredEntry{Entry: fmt.Sprintf("syscalls[%d]", i), Action: s.Action, Reason: why})
	}
	e.Ambiguous = d.Ambiguous(p)
	if p.Sysward != nil {
		if st, ok := p.Sysward.Stats[name]; ok {
			e.Stats = &st
		}
		e.Provenance = p.Sysward.Provenance
	}
	if dg, ok := DangerousSyscalls[name]; ok {
		e.Dangerous = &dg
	}
	if dd, _, err := DockerDefault(arch, nil); err == nil {
		e.DockerAllows = dd.Decide(arch, name).MayAllow(dd)
	}
	return e
}

// WriteText writes the explanation for people.
func (e *Explanation) WriteText(w io.Writer) {
	if !e.Known {
		fmt.Fprintf(w, "%s is not a syscall on %s\n", e.Syscall, e.Arch)
		return
	}
	verdict := "denied"
	switch {
	case e.Allowed:
		verdict = "allowed"
	case e.MayAllow:
		verdict = "allowed for some arguments"
	}
	fmt.Fprintf(w, "%s (nr %d on %s) is %s: %s", e.Syscall, e.Number, e.Arch, verdict, actionText(e.Action, e.ErrnoRet))
	if e.Entry == "defaultAction" {
		fmt.Fprintf(w, " by the default action\n")
	} else {
		fmt.Fprintf(w, " by %s (an entry of %d names)\n", e.Entry, e.EntryNames)
	}
	for _, c := range e.Conditional {
		fmt.Fprintf(w, "  %s: %s if %s\n", c.Entry, actionText(c.Action, c.ErrnoRet), c.Condition)
	}
	if len(e.Conditional) > 0 {
		fmt.Fprintf(w, "  (a matching argument-conditioned entry decides; conditions on one argument repeated in an entry are alternatives)\n")
	}
	if e.Ambiguous {
		fmt.Fprintf(w, "  ambiguous: argument-conditioned entries with different actions can match together; libseccomp orders them by argument, not by entry, and `sysward run` refuses the profile\n")
	}
	for _, ig := range e.Ignored {
		fmt.Fprintf(w, "  %s (%s) has no effect: %s\n", ig.Entry, ig.Action, ig.Reason)
	}
	if e.Stats != nil {
		var arches []string
		for _, a := range e.Stats.Arches {
			arches = append(arches, string(a))
		}
		if e.Stats.FirstSeen.IsZero() && e.Stats.Sessions == 0 {
			fmt.Fprintf(w, "  not seen while learning; on %s\n", strings.Join(arches, ", "))
		} else {
			fmt.Fprintf(w, "  learned: first seen %s, in %d session(s), on %s\n",
				e.Stats.FirstSeen.UTC().Format("2006-01-02T15:04:05Z"), e.Stats.Sessions, strings.Join(arches, ", "))
		}
		for _, src := range e.Stats.Sources {
			fmt.Fprintf(w, "  source %s: %s\n", src, SourceText(e.Syscall, src))
		}
	} else if e.Allowed || e.MayAllow {
		fmt.Fprintf(w, "  no learning statistics: written by hand or by another tool\n")
	}
	for _, pv := range e.Provenance {
		fmt.Fprintf(w, "  from session: %s %s on %s (kernel %s) by %s, %s – %s\n", pv.Target, pv.Workload, pv.Host, pv.Kernel, pv.Tool,
			pv.Started.UTC().Format("2006-01-02T15:04:05Z"), pv.Ended.UTC().Format("2006-01-02T15:04:05Z"))
	}
	if e.Dangerous != nil {
		fmt.Fprintf(w, "  dangerous (%s): %s\n", e.Dangerous.Severity, e.Dangerous.Reason)
	}
	if e.DockerAllows {
		fmt.Fprintf(w, "  Docker's default profile allows it too\n")
	} else {
		fmt.Fprintf(w, "  Docker's default profile blocks it\n")
	}
}

// SourceText says in words what source means for syscall name.
func SourceText(name, src string) string {
	switch k := SourceKind(src); k {
	case KindTraced:
		return "made by the workload while it was learned"
	case KindComplain:
		return "made by the workload under a complain-mode profile (sysward profile absorb)"
	case KindBaseline:
		why := "a harmless query of the process's own state"
		for _, b := range baseline {
			if b.Name == name {
				why = b.Why
			}
		}
		return "self-query baseline: " + why + " (learn --baseline none leaves the baseline out)"
	case KindRuntimeBase:
		return "the container runtime's own calls between installing the filter and exec'ing the entrypoint (learn --runtime-base)"
	case KindFamily:
		seed := strings.TrimPrefix(src, SourceFamilyPrefix)
		if f, ok := FamilyOf(seed); ok {
			return fmt.Sprintf("a sibling of %s in the %s family: %s (learn --generalize none leaves it out)", seed, f.Name, f.Why)
		}
		return "a sibling of " + seed
	case KindStatic:
		return "reachable from the binary's imports (" + strings.TrimPrefix(src, SourceStaticPrefix) + "), not seen while learning"
	}
	return "unknown source"
}
