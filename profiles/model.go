package profiles

import (
	"sort"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Action is a seccomp action as spelled in OCI/Docker profiles ("SCMP_ACT_ALLOW").
type Action = specs.LinuxSeccompAction

// Actions, re-exported from the runtime-spec so callers need one import.
const (
	ActKill        Action = specs.ActKill // kills the thread (libseccomp SCMP_ACT_KILL)
	ActKillProcess Action = specs.ActKillProcess
	ActKillThread  Action = specs.ActKillThread
	ActTrap        Action = specs.ActTrap
	ActErrno       Action = specs.ActErrno
	ActTrace       Action = specs.ActTrace
	ActAllow       Action = specs.ActAllow
	ActLog         Action = specs.ActLog
	ActNotify      Action = specs.ActNotify
)

// KnownActions lists every action Load accepts, from most to least permissive.
func KnownActions() []Action {
	return []Action{ActAllow, ActLog, ActNotify, ActTrace, ActErrno, ActTrap, ActKillThread, ActKill, ActKillProcess}
}

// permissiveness ranks actions: higher lets the syscall run "more".
func permissiveness(a Action) int {
	for i, k := range KnownActions() {
		if k == a {
			return len(KnownActions()) - i
		}
	}
	return 0
}

// Allows reports whether action a lets the syscall run (ALLOW or LOG).
func Allows(a Action) bool { return a == ActAllow || a == ActLog }

// New returns a profile with defaultAction and the given architectures. A
// profile learned by sysward is New(ActErrno, arches...) with DefaultErrnoRet
// EPERM (1) plus Allow(names...).
func New(defaultAction Action, arches ...Arch) *Profile {
	p := &Profile{}
	p.DefaultAction = defaultAction
	if defaultAction == ActErrno {
		eperm := uint(1)
		p.DefaultErrnoRet = &eperm
	}
	for _, a := range arches {
		p.AddArch(a)
	}
	return p
}

// AddArch adds arch to Architectures (once, kept sorted).
func (p *Profile) AddArch(arch Arch) {
	for _, a := range p.Architectures {
		if Arch(a) == arch {
			return
		}
	}
	p.Architectures = append(p.Architectures, specs.Arch(arch))
	sort.Slice(p.Architectures, func(i, j int) bool { return p.Architectures[i] < p.Architectures[j] })
}

// Arches returns the profile's architectures as Arch values. An empty result
// means "the native architecture only" (what runc does then).
func (p *Profile) Arches() []Arch {
	out := make([]Arch, 0, len(p.Architectures))
	for _, a := range p.Architectures {
		out = append(out, Arch(a))
	}
	return out
}

// Allow adds names to the profile's unconditional SCMP_ACT_ALLOW entry
// (creating it), deduplicated and sorted. It does not check the names:
// Validate does.
func (p *Profile) Allow(names ...string) { p.AddRule(ActAllow, nil, names...) }

// AddRule adds names to the entry with exactly this action, errnoRet and no
// argument conditions, creating it if needed.
func (p *Profile) AddRule(action Action, errnoRet *uint, names ...string) {
	if len(names) == 0 {
		return
	}
	idx := -1
	for i, s := range p.Syscalls {
		if s.Action == action && len(s.Args) == 0 && eqUintPtr(s.ErrnoRet, errnoRet) {
			idx = i
			break
		}
	}
	if idx < 0 {
		p.Syscalls = append(p.Syscalls, specs.LinuxSyscall{Action: action, ErrnoRet: copyUintPtr(errnoRet)})
		idx = len(p.Syscalls) - 1
	}
	p.Syscalls[idx].Names = sortedUnique(append(p.Syscalls[idx].Names, names...))
}

// Decision is what a profile does for one syscall on one architecture.
type Decision struct {
	// Action is taken when no argument condition decides otherwise: the
	// action of the unconditional entry naming the syscall, else the
	// profile's default action.
	Action   Action
	ErrnoRet *uint
	// Entry is the index in Syscalls of the unconditional entry that decided,
	// or -1 when the default action applies.
	Entry int
	// Conditional lists the indexes of entries naming the syscall with
	// argument conditions; when any matches, its action wins (libseccomp).
	Conditional []int
}

// Allowed reports whether the syscall runs, ignoring argument conditions.
func (d Decision) Allowed() bool { return Allows(d.Action) }

// MayAllow reports whether some arguments let the syscall run: it is allowed
// unconditionally or an argument-conditioned entry allows it.
func (d Decision) MayAllow(p *Profile) bool {
	if d.Allowed() {
		return true
	}
	for _, i := range d.Conditional {
		if Allows(p.Syscalls[i].Action) {
			return true
		}
	}
	return false
}

// Decide returns what p does for syscall name on arch, ignoring argument
// conditions (see Decision.Conditional and Evaluate). A name that does not
// exist on arch gets the default action (libseccomp skips such names).
// Entries are assumed valid (no conflicting unconditional duplicates); with
// duplicates the first wins.
func (p *Profile) Decide(arch Arch, name string) Decision {
	d := Decision{Action: p.DefaultAction, ErrnoRet: p.DefaultErrnoRet, Entry: -1}
	if _, ok := SyscallNumber(arch, name); !ok && tables[arch] != nil {
		return d
	}
	for i, s := range p.Syscalls {
		if containsString(s.Names, name) {
			d.add(p, i)
		}
	}
	return d
}

func (d *Decision) add(p *Profile, i int) {
	s := p.Syscalls[i]
	if len(s.Args) > 0 {
		d.Conditional = append(d.Conditional, i)
		return
	}
	if d.Entry < 0 {
		d.Action, d.ErrnoRet, d.Entry = s.Action, s.ErrnoRet, i
	}
}

// decider answers Decide for many names with one pass over the entries.
type decider struct {
	p       *Profile
	entries map[string][]int // name → entry indexes, in order
}

func (p *Profile) decider() *decider {
	d := &decider{p: p, entries: map[string][]int{}}
	for i, s := range p.Syscalls {
		for _, n := range s.Names {
			if l := d.entries[n]; len(l) == 0 || l[len(l)-1] != i {
				d.entries[n] = append(l, i)
			}
		}
	}
	return d
}

func (d *decider) decide(arch Arch, name string) Decision {
	r := Decision{Action: d.p.DefaultAction, ErrnoRet: d.p.DefaultErrnoRet, Entry: -1}
	if _, ok := SyscallNumber(arch, name); !ok && tables[arch] != nil {
		return r
	}
	for _, i := range d.entries[name] {
		r.add(d.p, i)
	}
	return r
}

// DecideNr is Decide for syscall number nr on arch; ok is false when nr is
// not a syscall sysward knows on arch (the default action applies then).
func (p *Profile) DecideNr(arch Arch, nr int) (d Decision, name string, ok bool) {
	name, ok = SyscallName(arch, nr)
	if !ok {
		return Decision{Action: p.DefaultAction, ErrnoRet: p.DefaultErrnoRet, Entry: -1}, "", false
	}
	return p.Decide(arch, name), name, true
}

// Evaluate returns the action p takes for syscall name on arch with these
// argument values, the way libseccomp resolves it: an entry whose argument
// conditions all match wins (the first one in entry order), else the
// unconditional entry, else the default action.
func (p *Profile) Evaluate(arch Arch, name string, args [6]uint64) (Action, *uint) {
	d := p.Decide(arch, name)
	for _, i := range d.Conditional {
		s := p.Syscalls[i]
		if argsMatch(s.Args, args) {
			return s.Action, s.ErrnoRet
		}
	}
	return d.Action, d.ErrnoRet
}

// EvaluateNr is Evaluate for syscall number nr on arch; a number sysward
// does not know on arch gets the default action.
func (p *Profile) EvaluateNr(arch Arch, nr int, args [6]uint64) (Action, *uint) {
	name, ok := SyscallName(arch, nr)
	if !ok {
		return p.DefaultAction, p.DefaultErrnoRet
	}
	return p.Evaluate(arch, name, args)
}

func argsMatch(conds []specs.LinuxSeccompArg, args [6]uint64) bool {
	for _, c := range conds {
		if c.Index >= 6 {
			return false
		}
		v := args[c.Index]
		var ok bool
		switch c.Op {
		case specs.OpEqualTo:
			ok = v == c.Value
		case specs.OpNotEqual:
			ok = v != c.Value
		case specs.OpLessThan:
			ok = v < c.Value
		case specs.OpLessEqual:
			ok = v <= c.Value
		case specs.OpGreaterThan:
			ok = v > c.Value
		case specs.OpGreaterEqual:
			ok = v >= c.Value
		case specs.OpMaskedEqual:
			ok = v&c.Value == c.ValueTwo
		}
		if !ok {
			return false
		}
	}
	return true
}

// AllowedSyscalls returns the sorted names of the syscalls on arch that p
// lets run for at least some arguments (ALLOW or LOG, unconditionally or
// through an argument-conditioned entry). With an allowing default action
// that is every syscall of arch except those an unconditional entry denies.
func (p *Profile) AllowedSyscalls(arch Arch) []string {
	var out []string
	dc := p.decider()
	for _, name := range Syscalls(arch) {
		if dc.decide(arch, name).MayAllow(p) {
			out = append(out, name)
		}
	}
	return out
}

// AllowedNumbers is AllowedSyscalls as syscall numbers, sorted.
func (p *Profile) AllowedNumbers(arch Arch) []int {
	var out []int
	for _, name := range p.AllowedSyscalls(arch) {
		nr, _ := SyscallNumber(arch, name)
		out = append(out, nr)
	}
	sort.Ints(out)
	return out
}

// Names returns every syscall name the profile's entries mention, sorted.
func (p *Profile) Names() []string {
	var all []string
	for _, s := range p.Syscalls {
		all = append(all, s.Names...)
	}
	return sortedUnique(all)
}

// Clone returns a deep copy of p.
func (p *Profile) Clone() *Profile {
	if p == nil {
		return nil
	}
	c := &Profile{}
	c.DefaultAction = p.DefaultAction
	c.DefaultErrnoRet = copyUintPtr(p.DefaultErrnoRet)
	c.Architectures = append([]specs.Arch(nil), p.Architectures...)
	c.Flags = append([]specs.LinuxSeccompFlag(nil), p.Flags...)
	c.ListenerPath = p.ListenerPath
	c.ListenerMetadata = p.ListenerMetadata
	for _, s := range p.Syscalls {
		c.Syscalls = append(c.Syscalls, specs.LinuxSyscall{
			Names:    append([]string(nil), s.Names...),
			Action:   s.Action,
			ErrnoRet: copyUintPtr(s.ErrnoRet),
			Args:     append([]specs.LinuxSeccompArg(nil), s.Args...),
		})
	}
	if p.Sysward != nil {
		m := &Metadata{Provenance: append([]Provenance(nil), p.Sysward.Provenance...)}
		if p.Sysward.Stats != nil {
			m.Stats = make(map[string]SyscallStats, len(p.Sysward.Stats))
			for k, v := range p.Sysward.Stats {
				v.Arches = append([]Arch(nil), v.Arches...)
				m.Stats[k] = v
			}
		}
		c.Sysward = m
	}
	return c
}

func containsString(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func sortedUnique(ss []string) []string {
	sort.Strings(ss)
	out := ss[:0]
	for i, s := range ss {
		if i == 0 || s != ss[i-1] {
			out = append(out, s)
		}
	}
	return out
}

func eqUintPtr(a, b *uint) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

func copyUintPtr(p *uint) *uint {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}
