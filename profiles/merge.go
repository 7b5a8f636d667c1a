package profiles

import (
	"fmt"
	"sort"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Merge returns the union of profiles (none is modified), in canonical form:
// a syscall any input allows is allowed. Architectures and flags are united;
// where inputs give one syscall (with the same argument conditions)
// different actions, the most permissive wins (ALLOW > LOG > NOTIFY > TRACE >
// ERRNO > TRAP > KILL_THREAD > KILL > KILL_PROCESS; the lower errnoRet on a
// tie). Provenance is united and deduplicated; per-syscall stats keep the
// earliest FirstSeen and the union of Arches, and Sessions counts distinct
// sessions: summed when the inputs' provenance sets are disjoint, the larger
// count when one set contains the other (the same sessions merged again).
//
// An unconditional denial from one input does not cancel argument
// conditions under which another input allows the syscall (libseccomp would
// let the unconditional entry win): it is dropped and the default action
// denies the other arguments.
//
// Merge is commutative and idempotent (Merge(a, a) equals Canonical(a)).
// The inputs must share defaultAction, defaultErrnoRet and listenerPath
// (ErrIncompatible otherwise): a union of allow-lists under different
// defaults has no meaning.
func Merge(ps ...*Profile) (*Profile, error) {
	if len(ps) == 0 {
		return nil, fmt.Errorf("merging: no profiles: %w", ErrIncompatible)
	}
	out := Canonical(ps[0])
	for _, p := range ps[1:] {
		var err error
		if out, err = merge2(out, p); err != nil {
			return nil, err
		}
	}
	return out, nil
}

type ruleKey struct{ name, args string }

type ruleVal struct {
	action Action
	errno  *uint
	args   []specs.LinuxSeccompArg
}

func better(a, b ruleVal) bool { // a strictly preferred over b
	if pa, pb := permissiveness(a.action), permissiveness(b.action); pa != pb {
		return pa > pb
	}
	if a.action != b.action {
		return a.action < b.action
	}
	if (a.errno == nil) != (b.errno == nil) {
		return a.errno == nil
	}
	return a.errno != nil && *a.errno < *b.errno
}

func merge2(a, b *Profile) (*Profile, error) {
	if a.DefaultAction != b.DefaultAction || !eqUintPtr(a.DefaultErrnoRet, b.DefaultErrnoRet) {
		return nil, fmt.Errorf("merging: default action %s%s vs %s%s: %w",
			a.DefaultAction, errnoText(a.DefaultErrnoRet), b.DefaultAction, errnoText(b.DefaultErrnoRet), ErrIncompatible)
	}
	if a.ListenerPath != b.ListenerPath || a.ListenerMetadata != b.ListenerMetadata {
		return nil, fmt.Errorf("merging: listenerPath %q vs %q: %w", a.ListenerPath, b.ListenerPath, ErrIncompatible)
	}
	out := &Profile{}
	out.DefaultAction = a.DefaultAction
	out.DefaultErrnoRet = copyUintPtr(a.DefaultErrnoRet)
	out.ListenerPath, out.ListenerMetadata = a.ListenerPath, a.ListenerMetadata
	out.Architectures = append(append([]specs.Arch(nil), a.Architectures...), b.Architectures...)
	out.Flags = append(append([]specs.LinuxSeccompFlag(nil), a.Flags...), b.Flags...)
	rules := map[ruleKey]ruleVal{}
	for _, p := range []*Profile{a, b} {
		for _, s := range p.Syscalls {
			ak := argsKey(s.Args)
			v := ruleVal{s.Action, s.ErrnoRet, s.Args}
			for _, n := range s.Names {
				k := ruleKey{n, ak}
				if old, ok := rules[k]; !ok || better(v, old) {
					rules[k] = v
				}
			}
		}
	}
	// An unconditional entry overrides a syscall's argument-conditioned ones
	// (see Decision). Where an input lets a syscall run under conditions
	// that take effect in that input, an unconditional denial from the
	// other input would cancel them; drop it so the union still allows
	// what each input allows (the default action, also a denial, covers
	// the other arguments).
	for _, p := range []*Profile{a, b} {
		dc := p.decider()
		for name, idx := range dc.entries {
			d := p.resolve(idx)
			if !d.MayAllow(p) || d.Allowed() {
				continue
			}
			k := ruleKey{name, argsKey(nil)}
			if v, ok := rules[k]; ok && !Allows(v.action) && !SameVerdict(v.action, v.errno, out.DefaultAction, out.DefaultErrnoRet) {
				delete(rules, k)
			}
		}
	}
	keys := make([]ruleKey, 0, len(rules))
	for k := range rules {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].name != keys[j].name {
			return keys[i].name < keys[j].name
		}
		return keys[i].args < keys[j].args
	})
	for _, k := range keys {
		v := rules[k]
		out.Syscalls = append(out.Syscalls, specs.LinuxSyscall{Names: []string{k.name}, Action: v.action, ErrnoRet: copyUintPtr(v.errno), Args: v.args})
	}
	out.Sysward = mergeMeta(a.Sysward, b.Sysward)
	return Canonical(out), nil
}

func provSet(m *Metadata) map[string]bool {
	s := map[string]bool{}
	if m != nil {
		for _, p := range m.Provenance {
			s[provKey(p)] = true
		}
	}
	return s
}

func subset(a, b map[string]bool) bool {
	for k := range a {
		if !b[k] {
			return false
		}
	}
	return true
}

func mergeMeta(a, b *Metadata) *Metadata {
	if a == nil && b == nil {
		return nil
	}
	pa, pb := provSet(a), provSet(b)
	disjoint := true
	for k := range pa {
		if pb[k] {
			disjoint = false
		}
	}
	aInB, bInA := subset(pa, pb), subset(pb, pa)
	out := &Metadata{Stats: map[string]SyscallStats{}}
	for _, m := range []*Metadata{a, b} {
		if m != nil {
			out.Provenance = append(out.Provenance, m.Provenance...)
		}
	}
	get := func(m *Metadata, name string) (SyscallStats, bool) {
		if m == nil || m.Stats == nil {
			return SyscallStats{}, false
		}
		s, ok := m.Stats[name]
		return s, ok
	}
	names := map[string]bool{}
	for _, m := range []*Metadata{a, b} {
		if m != nil {
			for n := range m.Stats {
				names[n] = true
			}
		}
	}
	for n := range names {
		sa, oka := get(a, n)
		sb, okb := get(b, n)
		switch {
		case !okb:
			out.Stats[n] = sa
			continue
		case !oka:
			out.Stats[n] = sb
			continue
		}
		s := SyscallStats{FirstSeen: sa.FirstSeen, Arches: append(append([]Arch(nil), sa.Arches...), sb.Arches...),
			Sources: append(append([]string(nil), sa.Sources...), sb.Sources...)}
		if s.FirstSeen.IsZero() || (!sb.FirstSeen.IsZero() && sb.FirstSeen.Before(s.FirstSeen)) {
			s.FirstSeen = sb.FirstSeen
		}
		switch {
		case aInB && bInA:
			s.Sessions = max(sa.Sessions, sb.Sessions)
		case aInB:
			s.Sessions = sb.Sessions
		case bInA:
			s.Sessions = sa.Sessions
		case disjoint:
			s.Sessions = sa.Sessions + sb.Sessions
		default:
			s.Sessions = max(sa.Sessions, sb.Sessions) // partial overlap: a lower bound
		}
		out.Stats[n] = s
	}
	for _, m := range []*Metadata{a, b} {
		if m == nil {
			continue
		}
		for n, r := range m.Reachable {
			if out.Reachable == nil {
				out.Reachable = map[string][]string{}
			}
			out.Reachable[n] = append(out.Reachable[n], r...)
		}
	}
	return out
}
