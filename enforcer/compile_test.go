package enforcer

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/net/bpf"

	"github.com/sysward/sysward/profiles"
)

func TestCompileErrors(t *testing.T) {
	base := func() *profiles.Profile {
		p := profiles.New(profiles.ActErrno, profiles.ArchX86_64)
		p.Allow("read", "write")
		return p
	}
	tests := []struct {
		name  string
		edit  func(p *profiles.Profile)
		want  error
		field string
	}{
		{"unknown syscall", func(p *profiles.Profile) { p.Syscalls[0].Names = append(p.Syscalls[0].Names, "getpdi") },
			profiles.ErrUnknownSyscall, "syscalls[0].names[2]"},
		{"not on the filter's architectures", func(p *profiles.Profile) { p.Allow("socketcall") },
			profiles.ErrUnknownSyscall, "syscalls[0].names[1]"},
		{"notify", func(p *profiles.Profile) {
			p.Syscalls = append(p.Syscalls, specs.LinuxSyscall{Names: []string{"mount"}, Action: profiles.ActNotify})
		}, ErrUnsupportedAction, "syscalls[1].action"},
		{"unknown action", func(p *profiles.Profile) { p.DefaultAction = "SCMP_ACT_MAYBE" }, profiles.ErrUnknownAction, "defaultAction"},
		{"missing default", func(p *profiles.Profile) { p.DefaultAction = "" }, profiles.ErrMissingField, "defaultAction"},
		{"unknown arch", func(p *profiles.Profile) { p.Architectures = append(p.Architectures, "SCMP_ARCH_VAX") }, profiles.ErrUnknownArch, "architectures[1]"},
		{"unknown flag", func(p *profiles.Profile) { p.Flags = []specs.LinuxSeccompFlag{"SECCOMP_FILTER_FLAG_FAST"} }, profiles.ErrUnknownFlag, "flags[0]"},
		{"bad op", func(p *profiles.Profile) {
			p.Syscalls = append(p.Syscalls, specs.LinuxSyscall{Names: []string{"kill"}, Action: profiles.ActAllow,
				Args: []specs.LinuxSeccompArg{{Index: 0, Op: "SCMP_CMP_SOMETIMES"}}})
		}, profiles.ErrBadArg, "syscalls[1].args[0].op"},
		{"bad index", func(p *profiles.Profile) {
			p.Syscalls = append(p.Syscalls, specs.LinuxSyscall{Names: []string{"kill"}, Action: profiles.ActAllow,
				Args: []specs.LinuxSeccompArg{{Index: 6, Op: specs.OpEqualTo}}})
		}, profiles.ErrBadArg, "syscalls[1].args[0].index"},
		{"errnoRet 4095 with ERRNO (libseccomp refuses it)", func(p *profiles.Profile) {
			e := uint(4095)
			p.Syscalls = append(p.Syscalls, specs.LinuxSyscall{Names: []string{"mkdir"}, Action: profiles.ActErrno, ErrnoRet: &e})
		}, profiles.ErrBadErrnoRet, "syscalls[1].errnoRet"},
		{"defaultErrnoRet 65535", func(p *profiles.Profile) { e := uint(65535); p.DefaultErrnoRet = &e }, profiles.ErrBadErrnoRet, "defaultErrnoRet"},
		{"ambiguous", func(p *profiles.Profile) {
			// Both match kill(3, 9): libseccomp's tree order, not entry
			// order, would decide.
			p.Syscalls = append(p.Syscalls, specs.LinuxSyscall{Names: []string{"kill"}, Action: profiles.ActKillProcess,
				Args: []specs.LinuxSeccompArg{{Index: 0, Op: specs.OpEqualTo, Value: 3}}},
				specs.LinuxSyscall{Names: []string{"kill"}, Action: profiles.ActAllow,
					Args: []specs.LinuxSeccompArg{{Index: 1, Op: specs.OpEqualTo, Value: 9}}})
		}, ErrAmbiguous, "syscalls[2]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := base()
			tt.edit(p)
			_, err := Compile(p, nil)
			var pe *profiles.Error
			if !errors.Is(err, tt.want) || !errors.As(err, &pe) || !IsBadInput(err) {
				t.Fatalf("Compile: %v, want %v as *profiles.Error", err, tt.want)
			}
			if pe.Field != tt.field {
				t.Fatalf("field %q, want %q (%v)", pe.Field, tt.field, err)
			}
		})
	}
}

// TestCompileErrnoRetBounds: the largest errnoRet the loader accepts with
// ERRNO (profiles.MaxErrno) and with TRACE (profiles.MaxErrnoRet) compile
// with libseccomp, as default action and in an entry: what loads, compiles.
func TestCompileErrnoRetBounds(t *testing.T) {
	for _, tc := range []struct {
		act profiles.Action
		ret uint
	}{{profiles.ActErrno, profiles.MaxErrno}, {profiles.ActTrace, profiles.MaxErrnoRet}} {
		p := profiles.New(tc.act, profiles.ArchX86_64)
		ret := tc.ret
		p.DefaultErrnoRet = &ret
		p.Allow("read")
		p.Syscalls = append(p.Syscalls, specs.LinuxSyscall{Names: []string{"mkdir"}, Action: tc.act, ErrnoRet: &ret})
		if err := p.Validate(); err != nil {
			t.Fatalf("%s %d: Validate: %v", tc.act, tc.ret, err)
		}
		if _, err := Compile(p, nil); err != nil {
			t.Errorf("%s %d: Compile: %v", tc.act, tc.ret, err)
		}
	}
}

func TestCompileFeatures(t *testing.T) {
	tests := []struct {
		name  string
		p     func() *profiles.Profile
		opts  *CompileOptions
		check func(t *testing.T, f *Filter)
	}{
		{"native arch always present", func() *profiles.Profile {
			p := profiles.New(profiles.ActErrno, profiles.ArchAARCH64)
			p.Allow("read")
			return p
		}, nil, func(t *testing.T, f *Filter) {
			if !containsArch(f.Arches, profiles.NativeArch()) || !containsArch(f.Arches, profiles.ArchAARCH64) {
				t.Fatalf("arches %v", f.Arches)
			}
		}},
		{"flags", func() *profiles.Profile {
			p := profiles.New(profiles.ActErrno)
			p.Allow("read")
			p.Flags = []specs.LinuxSeccompFlag{specs.LinuxSeccompFlagLog, specs.LinuxSeccompFlagSpecAllow, "SECCOMP_FILTER_FLAG_TSYNC"}
			return p
		}, nil, func(t *testing.T, f *Filter) {
			if f.Flags != FlagLog|FlagSpecAllow|FlagTSync {
				t.Fatalf("flags %#x", f.Flags)
			}
		}},
		{"errnoRet", func() *profiles.Profile {
			p := profiles.New(profiles.ActAllow)
			p.AddRule(profiles.ActErrno, ptr(38), "mount")
			return p
		}, nil, func(t *testing.T, f *Filter) {
			if !strings.Contains(DisassembleString(f.Instructions), "ERRNO(38)") {
				t.Fatal("no ERRNO(38) return")
			}
		}},
		{"complain turns denials into LOG", func() *profiles.Profile {
			p := profiles.New(profiles.ActKillProcess)
			p.Allow("read")
			p.AddRule(profiles.ActErrno, nil, "mount")
			return p
		}, &CompileOptions{Mode: Complain}, func(t *testing.T, f *Filter) {
			dis := DisassembleString(f.Instructions)
			if strings.Contains(dis, "ERRNO") || strings.Contains(dis, "KILL_PROCESS") || !strings.Contains(dis, "LOG") {
				t.Fatalf("complain program:\n%s", dis)
			}
		}},
		{"extra syscalls override explicit denial", func() *profiles.Profile {
			p := profiles.New(profiles.ActErrno)
			p.AddRule(profiles.ActKillProcess, nil, "execve")
			return p
		}, &CompileOptions{ExtraAllow: []string{"execve"}}, func(t *testing.T, f *Filter) {
			arch := profiles.NativeArch()
			nr, _ := profiles.SyscallNumber(arch, "execve")
			if Expect(f.Profile, f, arch, nr, [6]uint64{}) != RetAllow {
				t.Fatal("execve not allowed")
			}
		}},
		{"same-argument conditions OR, as runc", func() *profiles.Profile {
			p := profiles.New(profiles.ActErrno)
			p.Syscalls = append(p.Syscalls, specs.LinuxSyscall{Names: []string{"personality"}, Action: profiles.ActAllow,
				Args: []specs.LinuxSeccompArg{{Index: 0, Op: specs.OpEqualTo, Value: 0}, {Index: 0, Op: specs.OpEqualTo, Value: 8}}})
			return p
		}, nil, func(t *testing.T, f *Filter) {
			arch := profiles.NativeArch()
			nr, _ := profiles.SyscallNumber(arch, "personality")
			prog, err := NewProgram(f.Instructions)
			if err != nil {
				t.Fatal(err)
			}
			token, _ := AuditArch(arch)
			for arg, want := range map[uint64]uint32{0: RetAllow, 8: RetAllow, 3: RetErrno | 1} {
				got, _ := prog.Run(SeccompData{Nr: int32(nr), Arch: token, Args: [6]uint64{arg}})
				if got != want {
					t.Errorf("personality(%d) = %s, want %s", arg, RetString(got), RetString(want))
				}
			}
		}},
		{"large profile uses the binary tree", func() *profiles.Profile {
			p := profiles.New(profiles.ActErrno)
			p.Allow(profiles.Syscalls(profiles.NativeArch())[:100]...)
			return p
		}, nil, func(t *testing.T, f *Filter) {
			if !f.Optimized {
				t.Fatal("not optimised")
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Compile(tt.p(), tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, f)
			r, err := Verify(f.Profile, f, nil)
			if err != nil || r.Err() != nil {
				t.Fatalf("verify: %v %v", err, r.Err())
			}
		})
	}
}

// Compile does not modify its input.
func TestCompilePure(t *testing.T) {
	p := lsProfile(t)
	before, _ := profiles.Marshal(p)
	if _, err := Compile(p, &CompileOptions{Mode: Complain, ExtraAllow: []string{"kill"}}); err != nil {
		t.Fatal(err)
	}
	after, _ := profiles.Marshal(p)
	if !bytes.Equal(before, after) {
		t.Fatal("Compile modified its input")
	}
}

// The disassembly of the ls profile is pinned by a golden file
// (regenerate with SYSWARD_UPDATE_GOLDEN=1 after a deliberate change).
func TestDisassembleGolden(t *testing.T) {
	f, err := Compile(lsProfile(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	got := DisassembleString(f.Instructions)
	golden := filepath.Join("testdata", "ls.disasm.golden")
	if os.Getenv("SYSWARD_UPDATE_GOLDEN") == "1" {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Fatalf("disassembly differs from %s:\n%s", golden, got)
	}
}

// FuzzCompile: any profile that Parse accepts either fails Compile with a
// bad-input error or compiles into a program that verifies.
func FuzzCompile(f *testing.F) {
	for _, glob := range []string{"testdata/*.json", "../examples/profiles/*.json"} {
		m, _ := filepath.Glob(glob)
		for _, p := range m {
			data, err := os.ReadFile(p)
			if err == nil {
				f.Add(data)
			}
		}
	}
	f.Add([]byte(`{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["personality"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":8,"op":"SCMP_CMP_EQ"},{"index":0,"value":0,"op":"SCMP_CMP_EQ"}]}]}`))
	f.Add([]byte(`{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86","SCMP_ARCH_ARM"],"syscalls":[{"names":["clone"],"action":"SCMP_ACT_ERRNO","errnoRet":38,"args":[{"index":0,"value":2114060288,"valueTwo":0,"op":"SCMP_CMP_MASKED_EQ"}]}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := profiles.Parse("fuzz.json", data)
		if err != nil {
			return
		}
		filter, err := Compile(p, nil)
		if err != nil {
			if !IsBadInput(err) {
				t.Fatalf("Compile failed with a runtime error on parsed input: %v", err)
			}
			return
		}
		r, err := Verify(filter.Profile, filter, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Err(); err != nil && !errors.Is(err, ErrNotCacheable) {
			t.Fatal(err)
		}
	})
}

// FuzzProgram: the program decoder, checker, VM run and cache analysis
// never panic on arbitrary bytes.
func FuzzProgram(f *testing.F) {
	if fl, err := Compile(profiles.New(profiles.ActErrno), nil); err == nil {
		var b []byte
		for _, r := range fl.Raw {
			b = append(b, byte(r.Op), byte(r.Op>>8), r.Jt, r.Jf, byte(r.K), byte(r.K>>8), byte(r.K>>16), byte(r.K>>24))
		}
		f.Add(b)
	}
	f.Add([]byte{0x06, 0, 0, 0, 0, 0, 0xff, 0x7f})
	f.Add([]byte{0x20, 0, 0, 0, 16, 0, 0, 0, 0x06, 0, 0, 0, 0, 0, 0xff, 0x7f})
	f.Fuzz(func(t *testing.T, data []byte) {
		raw, err := decodeRaw(data)
		if err != nil {
			return
		}
		ins := make([]bpf.Instruction, len(raw))
		for i, r := range raw {
			ins[i] = r.Disassemble()
		}
		prog, err := NewProgram(ins)
		if err != nil {
			return
		}
		_, _ = prog.Run(SeccompData{Nr: 1, Arch: 0xc000003e})
		_, _ = CacheEligible(ins, 0xc000003e, 1)
	})
}

// TestComplainNeverKills runs complain-mode programs in the VM for a call
// from every ABI the kernel can hand an x86_64 process (native, ia32 via
// int $0x80, x32 via __X32_SYSCALL_BIT) and from an architecture no filter
// lists: complain mode must let each run (LOG, or ALLOW where the profile
// allows), never KILL, TRAP or ERRNO. Issue 13 item 12: libseccomp's
// default bad-arch action (KILL_THREAD) killed ia32/x32 calls in complain
// mode. Enforce mode refuses the same calls with BadArchAction(Enforce).
func TestComplainNeverKills(t *testing.T) {
	calls := []struct {
		arch profiles.Arch
		name string
	}{
		{profiles.ArchX86_64, "mount"}, {profiles.ArchX86_64, "read"},
		{profiles.ArchX86, "getppid"}, {profiles.ArchX86, "mount"},
		{profiles.ArchX32, "getpid"}, {profiles.ArchX32, "mount"},
		{profiles.ArchAARCH64, "getpid"},
	}
	for _, tc := range []struct {
		name   string
		arches []profiles.Arch
	}{
		{"native only", nil},
		{"x86_64 listed", []profiles.Arch{profiles.ArchX86_64}},
		{"x86_64 and x86", []profiles.Arch{profiles.ArchX86_64, profiles.ArchX86}},
		{"x86_64 and x32", []profiles.Arch{profiles.ArchX86_64, profiles.ArchX32}},
		{"all x86 ABIs", []profiles.Arch{profiles.ArchX86_64, profiles.ArchX86, profiles.ArchX32}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := profiles.New(profiles.ActKillProcess, tc.arches...)
			p.Allow("read", "execve", "exit_group")
			p.AddRule(profiles.ActErrno, ptr(38), "mount")
			for _, mode := range []Mode{Complain, Enforce} {
				f, err := Compile(p, &CompileOptions{Mode: mode})
				if err != nil {
					t.Fatal(err)
				}
				if r, err := Verify(f.Profile, f, nil); err != nil || r.Err() != nil {
					t.Fatalf("%s: verify: %v %v", mode, err, r.Err())
				}
				prog, err := NewProgram(f.Instructions)
				if err != nil {
					t.Fatal(err)
				}
				for _, c := range calls {
					nr, ok := profiles.SyscallNumber(c.arch, c.name)
					if !ok {
						t.Fatalf("no %s on %s", c.name, c.arch)
					}
					token, _ := AuditArch(c.arch)
					got, err := prog.Run(SeccompData{Nr: int32(nr), Arch: token})
					if err != nil {
						t.Fatal(err)
					}
					listed := containsArch(f.Arches, c.arch)
					switch {
					case mode == Complain && got != RetLog && got != RetAllow:
						t.Errorf("complain: %s %s (nr %#x) gets %s, want LOG or ALLOW\n%s", c.arch, c.name, nr, RetString(got), DisassembleString(f.Instructions))
					case mode == Enforce && !listed && got != RetKillProcess:
						t.Errorf("enforce: %s %s outside the filter %v gets %s, want KILL_PROCESS", c.arch, c.name, f.Arches, RetString(got))
					case mode == Complain && !listed && got != RetLog:
						t.Errorf("complain: %s %s outside the filter %v gets %s, want LOG", c.arch, c.name, f.Arches, RetString(got))
					}
				}
			}
		})
	}
}
