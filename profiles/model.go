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

// KnownActions lists every action Parse accepts, from most to least permissive.
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

// Decision is what a profile does for one syscall on one architecture,
// resolved the way runc (1.1) builds the filter with libseccomp (2.5.4),
// which is what the kernel then enforces for runc, ctr, podman, the kubelet
// and `sysward run` alike:
//
//   - an entry whose verdict equals the default action's is skipped (runc
//     drops it: libseccomp refuses a rule equal to the default);
//   - an unconditional entry beats every argument-conditioned entry for the
//     same syscall, whatever their order (libseccomp drops a syscall's
//     conditions once it has an unconditional rule, and ignores
//     conditional rules added after one);
//   - of several unconditional entries the first decides (libseccomp keeps
//     the first rule; Parse refuses such profiles anyway);
//   - otherwise argument-conditioned entries decide when they match (see
//     Evaluate), else the default action.
type Decision struct {
	// Action is taken when no argument condition decides otherwise: the
	// action of the unconditional entry naming the syscall, else the
	// profile's default action.
	Action   Action
	ErrnoRet *uint
	// Entry is the index in Syscalls of the unconditional entry that
	// decided, or -1 when the default action applies.
	Entry int
	// Conditional lists the indexes of the argument-conditioned entries
	// that take effect: when one matches, its action is taken. It is empty
	// when an unconditional entry decides.
	Conditional []int
	// Ignored lists the indexes of entries naming the syscall that have no
	// effect: argument-conditioned entries overridden by the unconditional
	// Entry, and entries whose verdict equals the default action's.
	Ignored []int
	// Demuxed lists, for socketcall and ipc on x86 only, the rules they get
	// from entries naming the calls they multiplex (see Demuxed). Like
	// Conditional entries, a matching one decides.
	Demuxed []Demuxed
}

// Allowed reports whether the syscall runs when no argument-conditioned
// entry matches (the action of Entry or the default); see Conditional.
func (d Decision) Allowed() bool { return Allows(d.Action) }

// MayAllow reports whether some arguments let the syscall run: it is allowed
// unconditionally or an argument-conditioned entry allows it.
func (d Decision) MayAllow(p *Profile) bool {
	if Allows(d.Action) {
		return true
	}
	for _, i := range d.Conditional {
		if Allows(p.Syscalls[i].Action) {
			return true
		}
	}
	for _, m := range d.Demuxed {
		if Allows(p.Syscalls[m.Entry].Action) {
			return true
		}
	}
	return false
}

// Ambiguous reports whether two argument-conditioned rules that take
// effect give the syscall different verdicts (conservatively: whether
// their conditions can hold together is not analysed, except that rules
// for different multiplexed calls never overlap) and so may match the same
// arguments. libseccomp then decides by its rule tree (in the cases probed,
// the rule on the higher argument index is tested first; for one argument
// by operator and value; some combinations are refused with EEXIST,
// depending on the order the rules were added), not by entry order.
// Evaluate does not model that (it returns the first match) and the
// enforcer refuses such profiles (enforcer.ErrAmbiguous). Conflict names
// the two entries.
func (d Decision) Ambiguous(p *Profile) bool {
	_, _, ok := d.Conflict(p)
	return ok
}

// Conflict returns two entries behind Ambiguous: conditional entries with
// different verdicts, a conditional entry of a multiplexer and a rule it
// gets from a multiplexed call with a different verdict, or two entries for
// one multiplexed call with different verdicts (socketcall and ipc on x86:
// rules for different calls never overlap, argument 0 tells them apart).
func (d Decision) Conflict(p *Profile) (a, b int, ok bool) {
	differ := func(i, j int) bool {
		x, y := p.Syscalls[i], p.Syscalls[j]
		return !SameVerdict(x.Action, x.ErrnoRet, y.Action, y.ErrnoRet)
	}
	for _, i := range d.Conditional {
		for _, j := range d.Conditional {
			if differ(i, j) {
				return min(i, j), max(i, j), true
			}
		}
		for _, m := range d.Demuxed {
			if differ(i, m.Entry) {
				return min(i, m.Entry), max(i, m.Entry), true
			}
		}
	}
	for _, m := range d.Demuxed {
		for _, n := range d.Demuxed {
			if m.Call == n.Call && differ(m.Entry, n.Entry) {
				return min(m.Entry, n.Entry), max(m.Entry, n.Entry), true
			}
		}
	}
	return 0, 0, false
}

// SameVerdict reports whether two actions make the kernel do the same: KILL
// is KILL_THREAD, ERRNO and TRACE without errnoRet carry EPERM (runc's
// default) and only the low 16 bits of errnoRet reach the kernel, other
// actions carry no data.
func SameVerdict(a Action, aErrno *uint, b Action, bErrno *uint) bool {
	ka, da := verdictKey(a, aErrno)
	kb, db := verdictKey(b, bErrno)
	return ka == kb && da == db
}

func verdictKey(a Action, errno *uint) (Action, uint) {
	switch a {
	case ActKill:
		return ActKillThread, 0
	case ActErrno, ActTrace:
		if errno == nil {
			return a, 1 // EPERM
		}
		return a, *errno & 0xffff
	}
	return a, 0
}

// Decide returns what p does for syscall name on arch, ignoring argument
// values (see Decision and Evaluate). A name that does not exist on arch
// gets the default action (libseccomp skips such names).
func (p *Profile) Decide(arch Arch, name string) Decision {
	if _, ok := SyscallNumber(arch, name); !ok && tables[arch] != nil {
		return Decision{Action: p.DefaultAction, ErrnoRet: p.DefaultErrnoRet, Entry: -1}
	}
	var idx []int
	for i, s := range p.Syscalls {
		if containsString(s.Names, name) {
			idx = append(idx, i)
		}
	}
	d := p.resolve(idx)
	p.addDemuxed(&d, muxCalls(arch, name))
	return d
}

// resolve applies Decision's rules to the entries idx (in entry order)
// that name one syscall.
func (p *Profile) resolve(idx []int) Decision {
	d := Decision{Action: p.DefaultAction, ErrnoRet: p.DefaultErrnoRet, Entry: -1}
	uncond := -1
	for _, i := range idx {
		s := p.Syscalls[i]
		if len(s.Args) == 0 && !SameVerdict(s.Action, s.ErrnoRet, p.DefaultAction, p.DefaultErrnoRet) {
			uncond = i
			break
		}
	}
	for _, i := range idx {
		s := p.Syscalls[i]
		switch {
		case i == uncond:
			d.Action, d.ErrnoRet, d.Entry = s.Action, s.ErrnoRet, i
		case SameVerdict(s.Action, s.ErrnoRet, p.DefaultAction, p.DefaultErrnoRet):
			if len(s.Args) == 0 && d.Entry < 0 && uncond < 0 {
				// Says what the default says: name it as the deciding
				// entry, as the file reads, although runc skips it.
				d.Entry = i
				d.Action, d.ErrnoRet = s.Action, s.ErrnoRet
			} else {
				d.Ignored = append(d.Ignored, i)
			}
		case len(s.Args) == 0:
			d.Ignored = append(d.Ignored, i) // a later conflicting unconditional entry
		case uncond >= 0:
			d.Ignored = append(d.Ignored, i)
		default:
			d.Conditional = append(d.Conditional, i)
		}
	}
	return d
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
	if _, ok := SyscallNumber(arch, name); !ok && tables[arch] != nil {
		return Decision{Action: d.p.DefaultAction, ErrnoRet: d.p.DefaultErrnoRet, Entry: -1}
	}
	r := d.p.resolve(d.entries[name])
	d.p.addDemuxed(&r, muxCalls(arch, name))
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
// argument values: exactly what the kernel does with the filter runc
// (1.1) builds through libseccomp (2.5.4), and what `sysward run` installs.
//
//   - Entries are resolved as Decide says: an unconditional entry (whose
//     action differs from the default) decides for every argument value.
//   - Otherwise an argument-conditioned entry that matches decides. Its
//     conditions must all hold (AND), except when two of them test the same
//     argument index: libseccomp refuses that in one rule, so runc adds one
//     rule per condition and ANY condition of the entry matching is enough
//     (OR of all its conditions, not only the repeated ones).
//   - On 32-bit architectures (x86, arm, x32) only the low 32 bits of the
//     arguments and of the condition values count: libseccomp loads one
//     word per argument there and truncates the values.
//   - On x86, socketcall and ipc also get the rules of the calls they
//     multiplex (Decision.Demuxed): an entry naming socket applies to
//     socketcall when argument 0 is 1, with its conditions on the other
//     arguments.
//   - Else the default action.
//
// When matching conditional entries disagree (Decision.Ambiguous) the
// first in entry order is returned, which libseccomp does not promise; the
// enforcer refuses such profiles.
func (p *Profile) Evaluate(arch Arch, name string, args [6]uint64) (Action, *uint) {
	return p.Decide(arch, name).Evaluate(p, arch, args)
}

// Evaluate is the second half of Profile.Evaluate: the action for these
// argument values, given d = p.Decide(arch, name). A caller that evaluates
// one syscall for many argument vectors (the enforcer's verifier) decides
// once and calls this for each vector.
func (d Decision) Evaluate(p *Profile, arch Arch, args [6]uint64) (Action, *uint) {
	narrow := Is32Bit(arch)
	for _, i := range d.Conditional {
		s := p.Syscalls[i]
		if EntryMatches(s.Args, args, narrow) {
			return s.Action, s.ErrnoRet
		}
	}
	for _, m := range d.Demuxed {
		s := p.Syscalls[m.Entry]
		if demuxMatches(s.Args, m.Call, args, narrow) {
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

// Is32Bit reports whether libseccomp compares 32-bit arguments on arch
// (x86, arm, x32: longs are 32 bits there).
func Is32Bit(arch Arch) bool {
	return arch == ArchX86 || arch == ArchARM || arch == ArchX32
}

// EntryMatches reports whether an entry's argument conditions match args
// the way runc's rules do (see Evaluate): AND, or OR when two conditions
// test one argument index; narrow compares only the low 32 bits. An entry
// without conditions matches everything.
func EntryMatches(conds []specs.LinuxSeccompArg, args [6]uint64, narrow bool) bool {
	if !splitConds(conds) {
		for _, c := range conds {
			if !condHolds(c, args, narrow) {
				return false
			}
		}
		return true
	}
	for _, c := range conds {
		if condHolds(c, args, narrow) {
			return true
		}
	}
	return false
}

func condHolds(c specs.LinuxSeccompArg, args [6]uint64, narrow bool) bool {
	if c.Index >= 6 {
		return false
	}
	v, val, two := args[c.Index], c.Value, c.ValueTwo
	if narrow {
		v, val, two = uint64(uint32(v)), uint64(uint32(val)), uint64(uint32(two))
	}
	switch c.Op {
	case specs.OpEqualTo:
		return v == val
	case specs.OpNotEqual:
		return v != val
	case specs.OpLessThan:
		return v < val
	case specs.OpLessEqual:
		return v <= val
	case specs.OpGreaterThan:
		return v > val
	case specs.OpGreaterEqual:
		return v >= val
	case specs.OpMaskedEqual:
		return v&val == two
	}
	return false
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
				v.Sources = append([]string(nil), v.Sources...)
				m.Stats[k] = v
			}
		}
		if p.Sysward.Reachable != nil {
			m.Reachable = make(map[string][]string, len(p.Sysward.Reachable))
			for k, v := range p.Sysward.Reachable {
				m.Reachable[k] = append([]string(nil), v...)
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
