package enforcer

import (
	"errors"
	"slices"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	libseccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/net/bpf"

	"github.com/sysward/sysward/internal/testutil"
	"github.com/sysward/sysward/profiles"
)

type scmpRule struct {
	act   libseccomp.ScmpAction
	conds []libseccomp.ScmpCondition
}

// runRules builds a filter straight from libseccomp-golang rules (no
// sysward code between), exports it and runs it on openat with each args
// vector; it returns the verdicts and the errors AddRule* returned.
func runRules(t *testing.T, rules []scmpRule, argsList ...[6]uint64) ([]uint32, []error) {
	t.Helper()
	f, err := libseccomp.NewFilter(libseccomp.ActKillThread)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Release()
	nr, err := libseccomp.GetSyscallFromName("openat")
	if err != nil {
		t.Fatal(err)
	}
	var errs []error
	for _, r := range rules {
		if r.conds == nil {
			errs = append(errs, f.AddRule(nr, r.act))
		} else {
			errs = append(errs, f.AddRuleConditional(nr, r.act, r.conds))
		}
	}
	raw, err := exportBPF(f)
	if err != nil {
		t.Fatal(err)
	}
	ins := make([]bpf.Instruction, len(raw))
	for i, r := range raw {
		ins[i] = r.Disassemble()
	}
	prog, err := NewProgram(ins)
	if err != nil {
		t.Fatal(err)
	}
	token, ok := AuditArch(profiles.NativeArch())
	if !ok {
		t.Fatalf("no audit token for %s", profiles.NativeArch())
	}
	var out []uint32
	for _, a := range argsList {
		v, err := prog.Run(SeccompData{Nr: int32(nr), Arch: token, Args: a})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, v)
	}
	return out, errs
}

func scmpCond(t *testing.T, i uint, op libseccomp.ScmpCompareOp, v uint64) libseccomp.ScmpCondition {
	t.Helper()
	c, err := libseccomp.MakeCondition(i, op, v)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestLibseccompFacts pins, against libseccomp-golang itself (libseccomp
// 2.5.4 on Debian 12), the behaviours profiles.Evaluate is built on. If a
// libseccomp update changes one, this test says which.
func TestLibseccompFacts(t *testing.T) {
	errno := libseccomp.ActErrno.SetReturnCode(1)
	allow := libseccomp.ActAllow
	eq := func(i uint, v uint64) []libseccomp.ScmpCondition {
		return []libseccomp.ScmpCondition{scmpCond(t, i, libseccomp.CompareEqual, v)}
	}

	// Two comparisons on one argument in one rule are refused, which is
	// why runc splits such an entry into one rule per condition.
	_, errs := runRules(t, []scmpRule{{errno, []libseccomp.ScmpCondition{
		scmpCond(t, 0, libseccomp.CompareGreaterEqual, 1), scmpCond(t, 0, libseccomp.CompareLessOrEqual, 5)}}})
	if errs[0] == nil || !strings.Contains(errs[0].Error(), "same syscall argument") {
		t.Errorf("two checks on one argument in one rule: %v, want libseccomp's refusal", errs[0])
	}

	// An unconditional rule beats a conditional one, in either order.
	for _, tt := range []struct {
		name  string
		rules []scmpRule
	}{
		{"unconditional first", []scmpRule{{allow, nil}, {errno, eq(0, 1)}}},
		{"conditional first", []scmpRule{{errno, eq(0, 1)}, {allow, nil}}},
	} {
		got, errs := runRules(t, tt.rules, [6]uint64{1}, [6]uint64{2})
		for _, err := range errs {
			if err != nil {
				t.Errorf("%s: %v", tt.name, err)
			}
		}
		if got[0] != RetAllow || got[1] != RetAllow {
			t.Errorf("%s: %s %s, want ALLOW for matching and other arguments", tt.name, RetString(got[0]), RetString(got[1]))
		}
	}

	// Of two unconditional rules the first stays.
	if got, _ := runRules(t, []scmpRule{{errno, nil}, {allow, nil}}, [6]uint64{}); got[0] != RetErrno|1 {
		t.Errorf("two unconditional rules: %s, want the first (ERRNO(1))", RetString(got[0]))
	}

	// Overlapping conditional rules with different actions: decided by
	// the rule tree (here: the rule on the higher argument), not by entry
	// order or by action severity. That is why the enforcer refuses them
	// (ErrAmbiguous).
	trap := libseccomp.ActTrap
	a, _ := runRules(t, []scmpRule{{errno, eq(0, 1)}, {trap, eq(1, 2)}}, [6]uint64{1, 2})
	b, _ := runRules(t, []scmpRule{{trap, eq(0, 1)}, {errno, eq(1, 2)}}, [6]uint64{1, 2})
	c, _ := runRules(t, []scmpRule{{trap, eq(1, 2)}, {errno, eq(0, 1)}}, [6]uint64{1, 2})
	if a[0] != RetTrap || b[0] != RetErrno|1 || c[0] != RetTrap {
		t.Errorf("overlapping conditional rules: %s, %s, %s; want the rule on argument 1 each time (TRAP, ERRNO(1), TRAP)",
			RetString(a[0]), RetString(b[0]), RetString(c[0]))
	}
	// The same comparison with two actions is refused (EEXIST).
	if _, errs := runRules(t, []scmpRule{{trap, eq(0, 5)}, {errno, eq(0, 5)}}); errs[1] == nil {
		t.Error("same condition, two actions: accepted, want EEXIST")
	}
}

// TestEvaluateCases: named cases where both the enforcer's filter, run in
// the VM, and profiles.Evaluate must give the stated verdict.
func TestEvaluateCases(t *testing.T) {
	arg := func(i uint, op specs.LinuxSeccompOperator, v uint64) specs.LinuxSeccompArg {
		return specs.LinuxSeccompArg{Index: i, Op: op, Value: v}
	}
	entry := func(a profiles.Action, errno *uint, args ...specs.LinuxSeccompArg) specs.LinuxSyscall {
		return specs.LinuxSyscall{Names: []string{"openat"}, Action: a, ErrnoRet: errno, Args: args}
	}
	sameArg := entry(profiles.ActAllow, nil, arg(0, specs.OpGreaterEqual, 10), arg(0, specs.OpLessEqual, 5), arg(1, specs.OpEqualTo, 7))
	tests := []struct {
		name    string
		arch    profiles.Arch
		def     profiles.Action
		entries []specs.LinuxSyscall
		args    [6]uint64
		want    uint32
	}{
		{"unconditional beats earlier conditional", profiles.ArchX86_64, profiles.ActKillProcess,
			[]specs.LinuxSyscall{entry(profiles.ActErrno, nil, arg(0, specs.OpEqualTo, 1)), entry(profiles.ActAllow, nil)}, [6]uint64{1}, RetAllow},
		{"unconditional beats later conditional", profiles.ArchX86_64, profiles.ActKillProcess,
			[]specs.LinuxSyscall{entry(profiles.ActAllow, nil), entry(profiles.ActErrno, nil, arg(0, specs.OpEqualTo, 1))}, [6]uint64{1}, RetAllow},
		{"entry equal to default skipped", profiles.ArchX86_64, profiles.ActErrno,
			[]specs.LinuxSyscall{entry(profiles.ActErrno, ptr(1)), entry(profiles.ActAllow, nil, arg(0, specs.OpEqualTo, 1))}, [6]uint64{1}, RetAllow},
		{"entry equal to default skipped, other args", profiles.ArchX86_64, profiles.ActErrno,
			[]specs.LinuxSyscall{entry(profiles.ActErrno, ptr(1)), entry(profiles.ActAllow, nil, arg(0, specs.OpEqualTo, 1))}, [6]uint64{2}, RetErrno | 1},
		{"conditions on two args AND", profiles.ArchX86_64, profiles.ActErrno,
			[]specs.LinuxSyscall{entry(profiles.ActAllow, nil, arg(0, specs.OpEqualTo, 1), arg(1, specs.OpEqualTo, 2))}, [6]uint64{1, 3}, RetErrno | 1},
		{"same arg twice: all conditions OR", profiles.ArchX86_64, profiles.ActErrno,
			[]specs.LinuxSyscall{sameArg}, [6]uint64{20, 0}, RetAllow},
		{"same arg twice: other arg alone matches", profiles.ArchX86_64, profiles.ActErrno,
			[]specs.LinuxSyscall{sameArg}, [6]uint64{7, 7}, RetAllow},
		{"same arg twice: none holds", profiles.ArchX86_64, profiles.ActErrno,
			[]specs.LinuxSyscall{sameArg}, [6]uint64{7, 8}, RetErrno | 1},
		{"64-bit compares the high word", profiles.ArchX86_64, profiles.ActErrno,
			[]specs.LinuxSyscall{entry(profiles.ActAllow, nil, arg(0, specs.OpEqualTo, 1))}, [6]uint64{1 | 1<<32}, RetErrno | 1},
		{"32-bit ignores the high word", profiles.ArchX86, profiles.ActErrno,
			[]specs.LinuxSyscall{entry(profiles.ActAllow, nil, arg(0, specs.OpEqualTo, 1|1<<40))}, [6]uint64{1 | 1<<33}, RetAllow},
		{"KILL equals a KILL_THREAD default", profiles.ArchX86_64, profiles.ActKillThread,
			[]specs.LinuxSyscall{entry(profiles.ActKill, nil), entry(profiles.ActAllow, nil, arg(2, specs.OpMaskedEqual, 0))}, [6]uint64{}, RetAllow},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := profiles.New(tt.def, tt.arch)
			p.Syscalls = tt.entries
			nr, ok := profiles.SyscallNumber(tt.arch, "openat")
			if !ok {
				t.Fatal("openat unknown")
			}
			if got := RetValue(p.Evaluate(tt.arch, "openat", tt.args)); got != tt.want {
				t.Errorf("Evaluate: %s, want %s", RetString(got), RetString(tt.want))
			}
			f, err := Compile(p, nil)
			if err != nil {
				t.Fatal(err)
			}
			prog, err := NewProgram(f.Instructions)
			if err != nil {
				t.Fatal(err)
			}
			token, _ := AuditArch(tt.arch)
			got, err := prog.Run(SeccompData{Nr: int32(nr), Arch: token, Args: tt.args})
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("filter: %s, want %s\n%s", RetString(got), RetString(tt.want), DisassembleString(f.Instructions))
			}
		})
	}
}

// TestVerifyCatchesConditionalWinsFilter: a filter built the way sysward's
// profiles package used to describe profiles (a matching conditional
// entry beats the unconditional one) does not verify against the profile.
func TestVerifyCatchesConditionalWinsFilter(t *testing.T) {
	arch := profiles.NativeArch()
	token, _ := AuditArch(arch)
	nr, _ := profiles.SyscallNumber(arch, "openat")
	p := profiles.New(profiles.ActErrno, arch)
	p.Allow("openat")
	p.Syscalls = append(p.Syscalls, specs.LinuxSyscall{Names: []string{"openat"}, Action: profiles.ActErrno, ErrnoRet: ptr(38),
		Args: []specs.LinuxSeccompArg{{Index: 0, Op: specs.OpEqualTo, Value: 1}}})
	// Right filter first: Compile's program verifies.
	compileVerify(t, "shadowed conditional", p, nil, 1)

	// openat: ERRNO(38) if args[0] == 1 else ALLOW; anything else ERRNO(1).
	wrong := []bpf.Instruction{
		bpf.LoadAbsolute{Off: offArch, Size: 4},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: token, SkipTrue: 1},
		bpf.RetConstant{Val: RetKillThread},
		bpf.LoadAbsolute{Off: offNr, Size: 4},
		bpf.JumpIf{Cond: bpf.JumpLessThan, Val: x32SyscallBit, SkipTrue: 1}, // x32: not in the filter
		bpf.RetConstant{Val: RetKillThread},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(nr), SkipTrue: 1},
		bpf.RetConstant{Val: RetErrno | 1},
		bpf.LoadAbsolute{Off: offArgs + 4, Size: 4}, // high word
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: 0, SkipTrue: 1},
		bpf.RetConstant{Val: RetAllow},
		bpf.LoadAbsolute{Off: offArgs, Size: 4},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: 1, SkipTrue: 1},
		bpf.RetConstant{Val: RetAllow},
		bpf.RetConstant{Val: RetErrno | 38},
	}
	f := &Filter{Profile: p, Instructions: wrong, Arches: []profiles.Arch{arch}, BadArch: RetKillThread}
	r, err := Verify(p, f, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Mismatches) == 0 {
		t.Fatal("a conditional-wins filter verified")
	}
	for _, m := range r.Mismatches {
		if m.Name != "openat" || m.Args[0] != 1 || m.Want != RetAllow || m.Got != RetErrno|38 {
			t.Errorf("unexpected mismatch %v", m)
		}
	}
	if !errors.Is(r.Err(), ErrMismatch) {
		t.Fatalf("Report.Err: %v", r.Err())
	}
}

// TestRuncAgreesWithEvaluate runs busybox under runc (which builds its own
// filter from the profile JSON) for the rules where a naive reading of a
// profile goes wrong, and checks runc's outcome against Evaluate. The
// container runs kill(1, 0) (the shell's builtin), args {1, 0}.
func TestRuncAgreesWithEvaluate(t *testing.T) {
	testutil.Require(t, testutil.Runc)
	arch := profiles.NativeArch()
	sig0 := specs.LinuxSeccompArg{Index: 1, Op: specs.OpEqualTo, Value: 0}
	withoutKill := func() *profiles.Profile {
		p := containerProfile()
		for i := range p.Syscalls {
			p.Syscalls[i].Names = slices.DeleteFunc(p.Syscalls[i].Names, func(n string) bool { return n == "kill" })
		}
		return p
	}
	tests := []struct {
		name    string
		profile func() *profiles.Profile
		allowed bool
	}{
		{"unconditional ALLOW beats an earlier conditional ERRNO", func() *profiles.Profile {
			p := containerProfile()
			p.Syscalls = append([]specs.LinuxSyscall{{Names: []string{"kill"}, Action: profiles.ActErrno, ErrnoRet: ptr(38),
				Args: []specs.LinuxSeccompArg{sig0}}}, p.Syscalls...)
			return p
		}, true},
		{"unconditional entry repeating the default is skipped", func() *profiles.Profile {
			p := withoutKill()
			p.Syscalls = append(p.Syscalls,
				specs.LinuxSyscall{Names: []string{"kill"}, Action: profiles.ActErrno, ErrnoRet: ptr(1)},
				specs.LinuxSyscall{Names: []string{"kill"}, Action: profiles.ActAllow, Args: []specs.LinuxSeccompArg{sig0}})
			return p
		}, true},
		{"conditions on one argument OR", func() *profiles.Profile {
			p := withoutKill()
			p.Syscalls = append(p.Syscalls, specs.LinuxSyscall{Names: []string{"kill"}, Action: profiles.ActAllow, Args: []specs.LinuxSeccompArg{
				{Index: 0, Op: specs.OpEqualTo, Value: 99999}, {Index: 0, Op: specs.OpEqualTo, Value: 12345}, sig0}})
			return p
		}, true},
		{"control: kill allowed only for signal 9", func() *profiles.Profile {
			p := withoutKill()
			p.Syscalls = append(p.Syscalls, specs.LinuxSyscall{Names: []string{"kill"}, Action: profiles.ActAllow,
				Args: []specs.LinuxSeccompArg{{Index: 1, Op: specs.OpEqualTo, Value: 9}}})
			return p
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := tt.profile()
			if got := RetValue(p.Evaluate(arch, "kill", [6]uint64{1, 0})) == RetAllow; got != tt.allowed {
				t.Fatalf("Evaluate allows kill(1, 0): %v, want %v", got, tt.allowed)
			}
			bundle := testutil.BusyboxBundle(t, []string{"sh", "-c", "kill -0 1; echo kill=$?"}, nil)
			if err := ApplyToBundle(bundle, p); err != nil {
				t.Fatal(err)
			}
			out, code := testutil.RunRunc(t, bundle, testutil.ContainerID(t))
			if code != 0 {
				t.Fatalf("runc: status %d: %s", code, out)
			}
			want := "kill=1"
			if tt.allowed {
				want = "kill=0"
			}
			if !strings.Contains(out, want) {
				t.Fatalf("runc: want %s, got:\n%s", want, out)
			}
		})
	}
}
