package profiles

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// TestEvaluateSemantics: the rules of Decision/Evaluate, one named case
// each (enforcer's TestEvaluateCases and TestEvaluateMatchesFilter check
// the same rules against real libseccomp programs).
func TestEvaluateSemantics(t *testing.T) {
	eq := func(i uint, v uint64) specs.LinuxSeccompArg {
		return specs.LinuxSeccompArg{Index: i, Op: specs.OpEqualTo, Value: v}
	}
	e := func(a Action, errno *uint, names []string, args ...specs.LinuxSeccompArg) specs.LinuxSyscall {
		return specs.LinuxSyscall{Names: names, Action: a, ErrnoRet: errno, Args: args}
	}
	one := func(v uint) *uint { return &v }
	open := []string{"openat"}
	tests := []struct {
		name      string
		def       Action
		entries   []specs.LinuxSyscall
		arch      Arch
		syscall   string
		args      [6]uint64
		want      Action
		wantErrno *uint
		ignored   []int
		ambiguous bool
	}{
		{"unconditional beats earlier conditional", ActErrno, []specs.LinuxSyscall{e(ActKillProcess, nil, open, eq(0, 1)), e(ActAllow, nil, open)},
			ArchX86_64, "openat", [6]uint64{1}, ActAllow, nil, []int{0}, false},
		{"unconditional beats later conditional", ActErrno, []specs.LinuxSyscall{e(ActAllow, nil, open), e(ActKillProcess, nil, open, eq(0, 1))},
			ArchX86_64, "openat", [6]uint64{1}, ActAllow, nil, []int{1}, false},
		{"entry repeating the default is skipped", ActErrno, []specs.LinuxSyscall{e(ActErrno, one(1), open), e(ActAllow, nil, open, eq(0, 1))},
			ArchX86_64, "openat", [6]uint64{1}, ActAllow, nil, nil, false},
		{"KILL is KILL_THREAD", ActKillThread, []specs.LinuxSyscall{e(ActKill, nil, open), e(ActLog, nil, open, eq(0, 1))},
			ArchX86_64, "openat", [6]uint64{1}, ActLog, nil, nil, false},
		{"same argument twice: OR", ActErrno, []specs.LinuxSyscall{e(ActAllow, nil, open, eq(0, 1), eq(0, 2), eq(1, 9))},
			ArchX86_64, "openat", [6]uint64{2, 0}, ActAllow, nil, nil, false},
		{"different arguments: AND", ActErrno, []specs.LinuxSyscall{e(ActAllow, nil, open, eq(0, 1), eq(1, 9))},
			ArchX86_64, "openat", [6]uint64{1, 0}, ActErrno, one(1), nil, false},
		{"32-bit: low words only", ActErrno, []specs.LinuxSyscall{e(ActAllow, nil, open, eq(0, 1<<32|5))},
			ArchX86, "openat", [6]uint64{5}, ActAllow, nil, nil, false},
		{"x86 socketcall gets socket's rule", ActErrno, []specs.LinuxSyscall{e(ActAllow, nil, []string{"socket"})},
			ArchX86, "socketcall", [6]uint64{1}, ActAllow, nil, nil, false},
		{"x86 socketcall, other call", ActErrno, []specs.LinuxSyscall{e(ActAllow, nil, []string{"socket"})},
			ArchX86, "socketcall", [6]uint64{2}, ActErrno, one(1), nil, false},
		{"x86 socketcall: socket's conditions on other arguments", ActErrno, []specs.LinuxSyscall{e(ActAllow, nil, []string{"socket"}, eq(0, 2), eq(1, 7))},
			ArchX86, "socketcall", [6]uint64{1, 8}, ActErrno, one(1), nil, false},
		{"x86 ipc gets semget's rule", ActErrno, []specs.LinuxSyscall{e(ActTrap, nil, []string{"semget"})},
			ArchX86, "ipc", [6]uint64{2}, ActTrap, nil, nil, false},
		{"x86_64 has no multiplexing", ActErrno, []specs.LinuxSyscall{e(ActAllow, nil, []string{"socket"})},
			ArchX86_64, "socketcall", [6]uint64{1}, ActErrno, one(1), nil, false},
		{"conditional entries disagree", ActErrno, []specs.LinuxSyscall{e(ActAllow, nil, open, eq(0, 1)), e(ActKillProcess, nil, open, eq(1, 1))},
			ArchX86_64, "openat", [6]uint64{1, 1}, ActAllow, nil, nil, true},
		{"one multiplexed call, two verdicts", ActErrno, []specs.LinuxSyscall{e(ActAllow, nil, []string{"socket"}), e(ActTrap, nil, []string{"socket"}, eq(1, 1))},
			ArchX86, "socketcall", [6]uint64{1, 1}, ActAllow, nil, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := New(tt.def, tt.arch)
			p.DefaultErrnoRet = nil
			if tt.def == ActErrno {
				p.DefaultErrnoRet = one(1)
			}
			p.Syscalls = tt.entries
			a, errno := p.Evaluate(tt.arch, tt.syscall, tt.args)
			if a != tt.want || !eqUintPtr(errno, tt.wantErrno) {
				t.Errorf("Evaluate = %s %v, want %s %v", a, errno, tt.want, tt.wantErrno)
			}
			d := p.Decide(tt.arch, tt.syscall)
			if !slices.Equal(d.Ignored, tt.ignored) {
				t.Errorf("Ignored = %v, want %v", d.Ignored, tt.ignored)
			}
			if d.Ambiguous(p) != tt.ambiguous {
				t.Errorf("Ambiguous = %v", d.Ambiguous(p))
			}
		})
	}
}

// Explain says when a conditional entry has no effect, and lint reports it.
func TestExplainShadowed(t *testing.T) {
	p := New(ActErrno, ArchX86_64)
	p.Allow("openat")
	p.Syscalls = append(p.Syscalls, specs.LinuxSyscall{Names: []string{"openat"}, Action: ActKillProcess,
		Args: []specs.LinuxSeccompArg{{Index: 2, Op: specs.OpMaskedEqual, Value: 0x40, ValueTwo: 0x40}}})
	e := Explain(p, "openat", ArchX86_64)
	var b bytes.Buffer
	e.WriteText(&b)
	out := b.String()
	for _, want := range []string{"is allowed: SCMP_ACT_ALLOW by syscalls[0]", "syscalls[1] (SCMP_ACT_KILL_PROCESS) has no effect", "overridden by the unconditional syscalls[0]"} {
		if !strings.Contains(out, want) {
			t.Errorf("explain output lacks %q:\n%s", want, out)
		}
	}
	if len(e.Conditional) != 0 || len(e.Ignored) != 1 {
		t.Errorf("Conditional %v Ignored %v", e.Conditional, e.Ignored)
	}
	r := Lint(p)
	if codes := findingCodes(r); len(codes["shadowed-entry"]) != 1 {
		t.Errorf("lint findings %v, want one shadowed-entry", codes)
	}
}

// TSYNC is a flag the runtime-spec defines and runc accepts.
func TestTSyncFlag(t *testing.T) {
	data := []byte(`{"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_TSYNC"]}`)
	p, err := Parse("tsync.json", data)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if !slices.Equal(p.Flags, []specs.LinuxSeccompFlag{FlagTSync}) {
		t.Fatalf("flags %v", p.Flags)
	}
	_, err = Parse("bad.json", []byte(`{"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_TSYNCX"]}`))
	if !errors.Is(err, ErrUnknownFlag) {
		t.Fatalf("unknown flag: %v", err)
	}
}

// Explain shows socketcall's rules from socket on x86, and conditions on
// one argument as alternatives.
func TestExplainDemuxedAndOr(t *testing.T) {
	p := New(ActErrno, ArchX86)
	p.Syscalls = append(p.Syscalls,
		specs.LinuxSyscall{Names: []string{"socket"}, Action: ActAllow, Args: []specs.LinuxSeccompArg{
			{Index: 1, Op: specs.OpEqualTo, Value: 1}, {Index: 2, Op: specs.OpEqualTo, Value: 0}}},
		specs.LinuxSyscall{Names: []string{"openat"}, Action: ActAllow, Args: []specs.LinuxSeccompArg{
			{Index: 2, Op: specs.OpEqualTo, Value: 0}, {Index: 2, Op: specs.OpEqualTo, Value: 0x80000}}})
	var b bytes.Buffer
	Explain(p, "socketcall", ArchX86).WriteText(&b)
	Explain(p, "openat", ArchX86).WriteText(&b)
	out := b.String()
	for _, want := range []string{
		"socketcall (nr 102 on SCMP_ARCH_X86) is allowed for some arguments",
		"syscalls[0]: SCMP_ACT_ALLOW if arg0 == 1 (socket) && arg1 == 0x1 && arg2 == 0x0",
		"syscalls[1]: SCMP_ACT_ALLOW if arg2 == 0x0 || arg2 == 0x80000",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("explain output lacks %q:\n%s", want, out)
		}
	}
}

// Lint reports entries the enforcer would refuse as ambiguous.
func TestLintAmbiguous(t *testing.T) {
	p := New(ActErrno, ArchX86_64, ArchX86)
	p.Syscalls = append(p.Syscalls,
		specs.LinuxSyscall{Names: []string{"openat"}, Action: ActAllow, Args: []specs.LinuxSeccompArg{{Index: 0, Op: specs.OpEqualTo, Value: 1}}},
		specs.LinuxSyscall{Names: []string{"openat"}, Action: ActTrap, Args: []specs.LinuxSeccompArg{{Index: 1, Op: specs.OpEqualTo, Value: 1}}},
		specs.LinuxSyscall{Names: []string{"socketcall"}, Action: ActLog, Args: []specs.LinuxSeccompArg{{Index: 1, Op: specs.OpEqualTo, Value: 0}}},
		specs.LinuxSyscall{Names: []string{"socket"}, Action: ActAllow})
	codes := findingCodes(Lint(p))
	if got := codes["ambiguous-entries"]; !slices.Equal(got, []string{"openat", "socketcall"}) {
		t.Fatalf("ambiguous-entries for %v, want openat and socketcall", got)
	}
}
