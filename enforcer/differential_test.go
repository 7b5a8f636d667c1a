package enforcer

import (
	"errors"
	"math/rand"
	"sort"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/sysward/sysward/profiles"
)

// randomMixedProfile builds a profile whose entries overlap freely: a small
// pool of names shared by entries with random actions and errno values,
// unconditional and argument-conditioned (conditions repeat an argument
// index about a third of the time), entries that repeat the default action,
// and sometimes two unconditional entries for one name. It exercises every
// rule of profiles.Evaluate; Compile refuses the ambiguous ones.
func randomMixedProfile(rng *rand.Rand) *profiles.Profile {
	p := &profiles.Profile{}
	p.DefaultAction = randomActions[rng.Intn(len(randomActions))]
	if (p.DefaultAction == profiles.ActErrno || p.DefaultAction == profiles.ActTrace) && rng.Intn(2) == 0 {
		p.DefaultErrnoRet = ptr(uint(1 + rng.Intn(3)))
	}
	arches := []profiles.Arch{profiles.NativeArch()}
	for _, a := range profiles.KnownArches() {
		if rng.Intn(4) == 0 {
			arches = append(arches, a)
		}
	}
	for _, a := range arches {
		p.AddArch(a)
	}
	set := map[string]bool{}
	for _, a := range arches {
		for _, n := range profiles.Syscalls(a) {
			if !multiplexed[n] {
				set[n] = true
			}
		}
	}
	names := make([]string, 0, len(set))
	for n := range set {
		names = append(names, n)
	}
	sort.Strings(names)
	rng.Shuffle(len(names), func(i, j int) { names[i], names[j] = names[j], names[i] })
	pool := names[:2+rng.Intn(40)]
	uncond := map[string]specs.LinuxSyscall{}
	for e := 1 + rng.Intn(12); e > 0; e-- {
		s := specs.LinuxSyscall{Action: randomActions[rng.Intn(len(randomActions))]}
		if rng.Intn(5) == 0 {
			s.Action, s.ErrnoRet = p.DefaultAction, p.DefaultErrnoRet // repeats the default
		} else if s.Action == profiles.ActErrno || s.Action == profiles.ActTrace {
			// Small errno values so some entries equal the default.
			if rng.Intn(3) > 0 {
				s.ErrnoRet = ptr(uint(1 + rng.Intn(3)))
			}
		}
		seen := map[string]bool{}
		for k := 1 + rng.Intn(8); k > 0; k-- {
			if n := pool[rng.Intn(len(pool))]; !seen[n] {
				seen[n] = true
				s.Names = append(s.Names, n)
			}
		}
		if rng.Intn(2) == 0 {
			s.Args = randomConds(rng)
		} else {
			// Load refuses two unconditional entries giving one syscall
			// different verdicts; keep the names that agree.
			var keep []string
			for _, n := range s.Names {
				if v, ok := uncond[n]; !ok || profiles.SameVerdict(v.Action, v.ErrnoRet, s.Action, s.ErrnoRet) {
					uncond[n] = s
					keep = append(keep, n)
				}
			}
			if s.Names = keep; len(keep) == 0 {
				continue
			}
		}
		p.Syscalls = append(p.Syscalls, s)
	}
	return p
}

// TestEvaluateMatchesFilter is the differential test behind the claim that
// profiles.Evaluate is what the kernel enforces: random profiles (seeded)
// compiled by the enforcer with libseccomp, run in the userspace cBPF VM for
// every syscall of every architecture in the filter, with the boundary
// vectors of every condition plus random argument vectors, must return
// exactly RetValue(p.EvaluateNr(...)). Every profile Compile accepts is
// checked; the refused ones are counted by reason.
func TestEvaluateMatchesFilter(t *testing.T) {
	const randomPerSyscall = 2
	n := 300
	if testing.Short() {
		n = 40
	}
	var accepted, invalid, ambiguous, miscompiled, checks, syscalls int
	var cov coverage
	for seed := int64(1); seed <= int64(n); seed++ {
		rng := rand.New(rand.NewSource(seed))
		var p *profiles.Profile
		if seed%3 == 0 {
			p = randomProfile(rng) // large profiles, one action per syscall
		} else {
			p = randomMixedProfile(rng)
		}
		if p.Validate() != nil {
			// Load refuses it (two unconditional entries giving one
			// syscall different actions); libseccomp may too (EEXIST).
			invalid++
			continue
		}
		f, err := Compile(p, nil)
		switch {
		case errors.Is(err, ErrAmbiguous):
			ambiguous++
			continue
		case errors.Is(err, ErrMiscompiled):
			miscompiled++
			continue
		case err != nil:
			t.Fatalf("seed %d: %v", seed, err)
		}
		accepted++
		covered(p, &cov)
		prog, err := NewProgram(f.Instructions)
		if err != nil {
			t.Fatal(err)
		}
		for _, arch := range f.Arches {
			token, _ := AuditArch(arch)
			narrow := profiles.Is32Bit(arch)
			for _, name := range profiles.Syscalls(arch) {
				nr, _ := profiles.SyscallNumber(arch, name)
				syscalls++
				vecs := argVectors(p, name, narrow, rng, 2, nil)
				for i := 0; i < randomPerSyscall; i++ {
					var a [6]uint64
					for j := range a {
						a[j] = rng.Uint64() >> uint(rng.Intn(64))
						if narrow {
							a[j] = uint64(uint32(a[j]))
						}
					}
					vecs = append(vecs, a)
				}
				for _, args := range vecs {
					got, err := prog.Run(SeccompData{Nr: int32(nr), Arch: token, Args: args})
					if err != nil {
						t.Fatal(err)
					}
					checks++
					if want := RetValue(p.EvaluateNr(arch, nr, args)); got != want {
						data, _ := profiles.Marshal(p)
						t.Fatalf("seed %d: %s %s %#x: Evaluate says %s, the filter returns %s\nprofile:\n%s\nprogram:\n%s",
							seed, arch, name, args, RetString(want), RetString(got), data, DisassembleString(f.Instructions))
					}
				}
			}
		}
	}
	t.Logf("%d profiles: %d invalid (Load refuses them), %d compiled and checked, %d refused as ambiguous, %d refused as miscompiled; %d (arch, syscall) pairs, %d verdicts compared, all equal",
		n, invalid, accepted, ambiguous, miscompiled, syscalls, checks)
	t.Logf("accepted profiles exercising each rule: %+v", cov)
	if accepted < n/2 || checks < 100000 || cov.Shadowed == 0 || cov.DefaultSkipped == 0 || cov.SameArg == 0 || cov.Demuxed == 0 || cov.ThirtyTwoBit == 0 {
		t.Fatalf("too little coverage: %d profiles, %d checks, %+v", accepted, checks, cov)
	}
}

// coverage counts accepted profiles that exercise each rule of Evaluate.
type coverage struct {
	Shadowed       int // a conditional entry overridden by an unconditional one with another verdict
	DefaultSkipped int // an entry repeating the default action, with other entries for the name
	SameArg        int // an entry testing one argument twice (OR)
	Demuxed        int // x86 socketcall/ipc rules from multiplexed calls
	ThirtyTwoBit   int // a 32-bit architecture in the filter
}

func covered(p *profiles.Profile, c *coverage) {
	var sh, ds, sa, dm, tt bool
	for _, a := range p.Arches() {
		tt = tt || profiles.Is32Bit(a)
	}
	for _, name := range p.Names() {
		d := p.Decide(profiles.NativeArch(), name)
		for _, i := range d.Ignored {
			s := p.Syscalls[i]
			if len(s.Args) > 0 && d.Entry >= 0 && !profiles.SameVerdict(s.Action, s.ErrnoRet, d.Action, d.ErrnoRet) {
				sh = true
			}
			if profiles.SameVerdict(s.Action, s.ErrnoRet, p.DefaultAction, p.DefaultErrnoRet) {
				ds = true
			}
		}
	}
	for _, s := range p.Syscalls {
		seen := map[uint]bool{}
		for _, a := range s.Args {
			sa = sa || seen[a.Index]
			seen[a.Index] = true
		}
	}
	for _, a := range p.Arches() {
		if a == profiles.ArchX86 {
			for _, mux := range []string{"socketcall", "ipc"} {
				dm = dm || len(p.Decide(a, mux).Demuxed) > 0
			}
		}
	}
	for _, x := range []struct {
		ok bool
		n  *int
	}{{sh, &c.Shadowed}, {ds, &c.DefaultSkipped}, {sa, &c.SameArg}, {dm, &c.Demuxed}, {tt, &c.ThirtyTwoBit}} {
		if x.ok {
			*x.n++
		}
	}
}
