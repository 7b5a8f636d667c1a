package enforcer

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	libseccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"github.com/sysward/sysward/profiles"
)

// Mode selects what a denying action does.
type Mode string

const (
	// Enforce applies the profile as written.
	Enforce Mode = "enforce"
	// Complain replaces every denying action (ERRNO, KILL*, TRAP, TRACE),
	// including the default, with SCMP_ACT_LOG: the syscall runs and the
	// kernel logs it (audit type 1326, if "log" is in
	// /proc/sys/kernel/seccomp/actions_logged).
	Complain Mode = "complain"
)

// ParseMode accepts "enforce" (or "") and "complain".
func ParseMode(s string) (Mode, error) {
	switch s {
	case "", string(Enforce):
		return Enforce, nil
	case string(Complain):
		return Complain, nil
	}
	return "", fmt.Errorf("mode %q: want enforce or complain", s)
}

// optimizeThreshold is where the binary-tree layout starts paying off. runc
// uses the same bound: libseccomp ≤ 2.5.4 misbehaves with the tree and no
// rules, and every 2.5.x builds the tree with 4 syscalls per leaf node.
const optimizeThreshold = 32

// CompileOptions tune Compile; nil means defaults (Enforce, nothing added).
type CompileOptions struct {
	Mode Mode
	// ExtraAllow names syscalls to allow unconditionally on top of the
	// profile (the launcher's own syscalls). A name the profile denies
	// explicitly is overridden.
	ExtraAllow []string
	// Optimize forces the binary-tree layout (1 = never, 2 = always); 0
	// picks it when the profile names more than 32 syscalls.
	Optimize int
}

// Filter is a compiled seccomp program: a plain value, nothing to close.
type Filter struct {
	// Profile is the profile the program implements: the input after
	// CompileOptions were applied (complain mode, extra syscalls). Verify
	// checks the program against it.
	Profile *profiles.Profile
	// Raw is the program as libseccomp exported it (host byte order).
	Raw []bpf.RawInstruction
	// Instructions is Raw decoded.
	Instructions []bpf.Instruction
	// Arches are the architectures the program accepts: the profile's plus
	// the native one, which libseccomp always includes (runc keeps it too).
	Arches []profiles.Arch
	// Flags are the seccomp(2) SECCOMP_FILTER_FLAG_* bits the profile asks
	// for (TSYNC, LOG, SPEC_ALLOW).
	Flags uint
	// Optimized reports whether the binary-tree layout was used.
	Optimized bool
	// BadArch is the SECCOMP_RET_* value for a syscall from an ABI outside
	// Arches (int $0x80 in a filter without x86, an x32 number in one
	// without x32): RetKillProcess in enforce mode, RetLog in complain
	// mode. See BadArchAction.
	BadArch uint32
}

// BadArchAction is the action a filter compiled for mode gives a syscall
// from an architecture it does not list.
//
// Complain mode must never stop a call, whatever its ABI: LOG.
//
// Enforce mode: KILL_PROCESS. A profile cannot express this action (the OCI
// format has no field for it); runc (libcontainer/seccomp) never sets it,
// so it keeps libseccomp's default, SCMP_ACT_KILL = KILL_THREAD, for
// runc, containerd and the kubelet alike (Docker's default profile lists
// x86_64, x86 and x32, so its workloads rarely reach it). KILL_THREAD ends
// only the calling thread: a multi-threaded process (any Go program) then
// lives on as a zombie leader with running threads, and `sysward run`
// waits for it forever (seen with an x32 call from a Go binary on Linux
// 6.18). KILL_PROCESS denies the same calls and ends the workload with
// SIGSYS, which the caller reports. ERRNO would let a workload probe for
// the ABI and carry on, but it hides a call the profile never allowed from
// anyone not reading the audit log.
func BadArchAction(mode Mode) uint32 {
	if mode == Complain {
		return RetLog
	}
	return RetKillProcess
}

// Len is the number of cBPF instructions.
func (f *Filter) Len() int { return len(f.Raw) }

// SockFilters returns the program in the kernel's struct sock_filter form.
func (f *Filter) SockFilters() []unix.SockFilter {
	out := make([]unix.SockFilter, len(f.Raw))
	for i, r := range f.Raw {
		out[i] = unix.SockFilter{Code: r.Op, Jt: r.Jt, Jf: r.Jf, K: r.K}
	}
	return out
}

// SECCOMP_FILTER_FLAG_* (linux/seccomp.h).
const (
	FlagTSync     uint = 1 << 0
	FlagLog       uint = 1 << 1
	FlagSpecAllow uint = 1 << 2
)

// badInput builds the *profiles.Error Compile returns for content problems.
func badInput(field, value string, err error, detail string) error {
	return &profiles.Error{Field: field, Value: value, Err: err, Detail: detail}
}

// IsBadInput reports whether err is a problem with the profile's content
// (exit status 2 in the CLI) rather than a runtime failure.
func IsBadInput(err error) bool {
	var pe *profiles.Error
	if errors.As(err, &pe) {
		return true
	}
	for _, s := range []error{ErrUnsupportedAction, ErrAmbiguous, ErrMiscompiled, ErrExecveBlocked, ErrLauncherBlocked, ErrBadCommand, ErrBadName,
		profiles.ErrUnknownSyscall, profiles.ErrUnknownArch, profiles.ErrUnknownFlag, profiles.ErrBadArg, profiles.ErrUnknownAction} {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}

// Effective returns the profile that Compile turns into a program for p and
// opts: a copy with complain mode and ExtraAllow applied. p is not modified.
func Effective(p *profiles.Profile, opts *CompileOptions) *profiles.Profile {
	if opts == nil {
		opts = &CompileOptions{}
	}
	q := p.Clone()
	if opts.Mode == Complain {
		if denies(q.DefaultAction) {
			q.DefaultAction, q.DefaultErrnoRet = profiles.ActLog, nil
		}
		for i := range q.Syscalls {
			if denies(q.Syscalls[i].Action) {
				q.Syscalls[i].Action, q.Syscalls[i].ErrnoRet = profiles.ActLog, nil
			}
		}
	}
	if len(opts.ExtraAllow) > 0 {
		extra := map[string]bool{}
		for _, n := range opts.ExtraAllow {
			extra[n] = true
		}
		// Remove the names from entries that would contradict ALLOW, then add them.
		kept := q.Syscalls[:0]
		for _, s := range q.Syscalls {
			if s.Action != profiles.ActAllow {
				var names []string
				for _, n := range s.Names {
					if !extra[n] {
						names = append(names, n)
					}
				}
				s.Names = names
				if len(names) == 0 {
					continue
				}
			}
			kept = append(kept, s)
		}
		q.Syscalls = kept
		if q.DefaultAction != profiles.ActAllow {
			q.Allow(opts.ExtraAllow...)
		}
	}
	return q
}

func denies(a profiles.Action) bool {
	switch a {
	case profiles.ActErrno, profiles.ActKill, profiles.ActKillThread, profiles.ActKillProcess, profiles.ActTrap, profiles.ActTrace:
		return true
	}
	return false
}

// scmpAction maps an OCI action to libseccomp's, the way runc does: KILL is
// KILL_THREAD, ERRNO and TRACE default their data to EPERM.
func scmpAction(a profiles.Action, errnoRet *uint) (libseccomp.ScmpAction, error) {
	ret := int16(unix.EPERM)
	if errnoRet != nil {
		ret = int16(*errnoRet)
	}
	switch a {
	case profiles.ActKill, profiles.ActKillThread:
		return libseccomp.ActKillThread, nil
	case profiles.ActKillProcess:
		return libseccomp.ActKillProcess, nil
	case profiles.ActTrap:
		return libseccomp.ActTrap, nil
	case profiles.ActErrno:
		return libseccomp.ActErrno.SetReturnCode(ret), nil
	case profiles.ActTrace:
		return libseccomp.ActTrace.SetReturnCode(ret), nil
	case profiles.ActAllow:
		return libseccomp.ActAllow, nil
	case profiles.ActLog:
		return libseccomp.ActLog, nil
	case profiles.ActNotify:
		return libseccomp.ActInvalid, ErrUnsupportedAction
	}
	return libseccomp.ActInvalid, profiles.ErrUnknownAction
}

var scmpOps = map[specs.LinuxSeccompOperator]libseccomp.ScmpCompareOp{
	specs.OpNotEqual:     libseccomp.CompareNotEqual,
	specs.OpLessThan:     libseccomp.CompareLess,
	specs.OpLessEqual:    libseccomp.CompareLessOrEqual,
	specs.OpEqualTo:      libseccomp.CompareEqual,
	specs.OpGreaterEqual: libseccomp.CompareGreaterEqual,
	specs.OpGreaterThan:  libseccomp.CompareGreater,
	specs.OpMaskedEqual:  libseccomp.CompareMaskedEqual,
}

// libseccompArch maps an OCI arch to libseccomp's.
func libseccompArch(a profiles.Arch) (libseccomp.ScmpArch, error) {
	s := strings.ToLower(strings.TrimPrefix(string(a), "SCMP_ARCH_"))
	return libseccomp.GetArchFromString(s)
}

// Check reports the problems Compile would refuse p for, without building a
// program: an action libseccomp or sysward cannot apply (also an errnoRet
// out of profiles.ErrnoRetOutOfRange's range), an argument
// condition it cannot express, a syscall name libseccomp does not know (on
// any architecture: runc skips such names silently, sysward refuses them so a
// typo never widens or narrows a profile unnoticed), and ambiguous
// argument-conditioned entries (see ErrAmbiguous).
func Check(p *profiles.Profile) error {
	var errs []error
	if p.DefaultAction == "" {
		errs = append(errs, badInput("defaultAction", "", profiles.ErrMissingField, ""))
	} else if _, err := scmpAction(p.DefaultAction, p.DefaultErrnoRet); err != nil {
		errs = append(errs, badInput("defaultAction", string(p.DefaultAction), err, ""))
	} else if why := profiles.ErrnoRetOutOfRange(p.DefaultAction, p.DefaultErrnoRet); why != "" {
		errs = append(errs, badInput("defaultErrnoRet", strconv.FormatUint(uint64(*p.DefaultErrnoRet), 10), profiles.ErrBadErrnoRet, why))
	}
	for i, a := range p.Architectures {
		if _, err := libseccompArch(profiles.Arch(a)); err != nil {
			errs = append(errs, badInput(fmt.Sprintf("architectures[%d]", i), string(a), profiles.ErrUnknownArch, ""))
		}
	}
	for i, fl := range p.Flags {
		if _, err := flagBit(fl); err != nil {
			errs = append(errs, badInput(fmt.Sprintf("flags[%d]", i), string(fl), err, ""))
		}
	}
	// The filter's architectures: the native one plus the listed ones.
	var arches []libseccomp.ScmpArch
	if native, err := libseccomp.GetNativeArch(); err == nil {
		arches = append(arches, native)
	}
	for _, a := range p.Architectures {
		if sa, err := libseccompArch(profiles.Arch(a)); err == nil {
			arches = append(arches, sa)
		}
	}
	uses := map[string]bool{}
	for i, s := range p.Syscalls {
		base := fmt.Sprintf("syscalls[%d]", i)
		if _, err := scmpAction(s.Action, s.ErrnoRet); err != nil {
			errs = append(errs, badInput(base+".action", string(s.Action), err, ""))
		} else if why := profiles.ErrnoRetOutOfRange(s.Action, s.ErrnoRet); why != "" {
			errs = append(errs, badInput(base+".errnoRet", strconv.FormatUint(uint64(*s.ErrnoRet), 10), profiles.ErrBadErrnoRet, why))
		}
		for k, a := range s.Args {
			if _, ok := scmpOps[a.Op]; !ok {
				errs = append(errs, badInput(fmt.Sprintf("%s.args[%d].op", base, k), string(a.Op), profiles.ErrBadArg, ""))
			}
			if a.Index > 5 {
				errs = append(errs, badInput(fmt.Sprintf("%s.args[%d].index", base, k), strconv.FormatUint(uint64(a.Index), 10), profiles.ErrBadArg, "syscalls have arguments 0 to 5"))
			}
		}
		for j, name := range s.Names {
			if _, err := libseccomp.GetSyscallFromName(name); err != nil {
				errs = append(errs, badInput(fmt.Sprintf("%s.names[%d]", base, j), name, profiles.ErrUnknownSyscall, "libseccomp does not know it on any architecture"))
				continue
			}
			if len(arches) > 0 && !onSomeArch(name, arches) {
				errs = append(errs, badInput(fmt.Sprintf("%s.names[%d]", base, j), name, profiles.ErrUnknownSyscall,
					"not a syscall on any architecture of the filter"))
				continue
			}
			uses[name] = true
		}
	}
	names := make([]string, 0, len(uses))
	for n := range uses {
		names = append(names, n)
	}
	sort.Strings(names)
	ambiguous := func(arch profiles.Arch, n string) {
		d := p.Decide(arch, n)
		i, j, bad := d.Conflict(p)
		if !bad {
			return
		}
		errs = append(errs, badInput(fmt.Sprintf("syscalls[%d]", j), n, ErrAmbiguous,
			fmt.Sprintf("on %s, syscalls[%d] gives it %s and this entry %s, both under argument conditions that may hold together: libseccomp orders such rules by argument, not by entry; give them the same action", arch, i, p.Syscalls[i].Action, p.Syscalls[j].Action)))
	}
	for _, n := range names {
		// profiles.Decision states the semantics; only which syscall
		// names exist depends on the architecture (the x86 multiplexers
		// are checked below).
		for _, arch := range profiles.KnownArches() {
			if _, ok := profiles.SyscallNumber(arch, n); ok {
				ambiguous(arch, n)
				break
			}
		}
	}
	// socketcall and ipc on x86 also get the rules of the calls they
	// multiplex.
	x86 := false
	for _, a := range arches {
		x86 = x86 || a == libseccomp.ArchX86
	}
	if x86 {
		for _, mux := range []string{"socketcall", "ipc"} {
			if !uses[mux] {
				ambiguous(profiles.ArchX86, mux)
			}
		}
	}
	return errors.Join(errs...)
}

// onSomeArch reports whether name is a real syscall (not one of
// libseccomp's negative pseudo numbers) on one of arches.
func onSomeArch(name string, arches []libseccomp.ScmpArch) bool {
	for _, a := range arches {
		if nr, err := libseccomp.GetSyscallFromNameByArch(name, a); err == nil && nr >= 0 {
			return true
		}
	}
	return false
}

func eqErrno(a, b *uint) bool {
	av, bv := uint(unix.EPERM), uint(unix.EPERM)
	if a != nil {
		av = *a
	}
	if b != nil {
		bv = *b
	}
	return av == bv
}

func flagBit(f specs.LinuxSeccompFlag) (uint, error) {
	switch f {
	case specs.LinuxSeccompFlagLog:
		return FlagLog, nil
	case specs.LinuxSeccompFlagSpecAllow:
		return FlagSpecAllow, nil
	case profiles.FlagTSync:
		return FlagTSync, nil
	case specs.LinuxSeccompFlagWaitKillableRecv:
		// Only meaningful with SECCOMP_FILTER_FLAG_NEW_LISTENER (the
		// kernel refuses it alone); sysward never creates a notify
		// listener (NOTIFY is refused), so it has no effect here.
		return 0, nil
	}
	return 0, profiles.ErrUnknownFlag
}

// Compile turns p into a seccomp program with libseccomp (see the package
// documentation for the exact semantics). Problems with p's content are
// *profiles.Error values (IsBadInput); p is not modified.
func Compile(p *profiles.Profile, opts *CompileOptions) (*Filter, error) {
	if p == nil {
		return nil, errors.New("compiling profile: nil profile")
	}
	if opts == nil {
		opts = &CompileOptions{}
	}
	for _, n := range opts.ExtraAllow {
		if _, err := libseccomp.GetSyscallFromName(n); err != nil {
			return nil, fmt.Errorf("extra syscall %q: %w", n, profiles.ErrUnknownSyscall)
		}
	}
	q := Effective(p, opts)
	if err := Check(q); err != nil {
		return nil, err
	}
	defAct, _ := scmpAction(q.DefaultAction, q.DefaultErrnoRet)
	filter, err := libseccomp.NewFilter(defAct)
	if err != nil {
		return nil, fmt.Errorf("creating libseccomp filter: %w", err)
	}
	defer filter.Release()

	f := &Filter{Profile: q, BadArch: BadArchAction(opts.Mode)}
	badArch := libseccomp.ActKillProcess
	if f.BadArch == RetLog {
		badArch = libseccomp.ActLog
	}
	if err := filter.SetBadArchAction(badArch); err != nil {
		return nil, fmt.Errorf("setting the bad-architecture action: %w", err)
	}
	native, err := libseccomp.GetNativeArch()
	if err != nil {
		return nil, fmt.Errorf("native architecture: %w", err)
	}
	if a, ok := profiles.ParseArch(native.String()); ok {
		f.Arches = append(f.Arches, a)
	}
	for _, a := range q.Architectures {
		sa, _ := libseccompArch(profiles.Arch(a))
		if present, err := filter.IsArchPresent(sa); err == nil && present {
			continue
		}
		if err := filter.AddArch(sa); err != nil {
			return nil, fmt.Errorf("adding architecture %s: %w", a, err)
		}
		f.Arches = append(f.Arches, profiles.Arch(a))
	}
	sort.Slice(f.Arches, func(i, j int) bool { return f.Arches[i] < f.Arches[j] })

	for _, fl := range q.Flags {
		bit, _ := flagBit(fl)
		f.Flags |= bit
		switch bit {
		case FlagLog:
			err = filter.SetLogBit(true)
		case FlagSpecAllow:
			err = filter.SetSSB(true)
		case FlagTSync:
			// libseccomp-golang sets TSYNC on every filter it creates;
			// nothing to do (runc reasons the same way).
		}
		if err != nil {
			return nil, fmt.Errorf("setting %s: %w", fl, err)
		}
	}

	named := len(q.Names())
	f.Optimized = opts.Optimize == 2 || (opts.Optimize == 0 && named > optimizeThreshold)
	if f.Optimized {
		if err := filter.SetOptimize(2); err != nil {
			return nil, fmt.Errorf("enabling binary-tree optimisation: %w", err)
		}
	}

	for i, s := range q.Syscalls {
		act, _ := scmpAction(s.Action, s.ErrnoRet)
		if act == defAct {
			continue // redundant; libseccomp refuses rules equal to the default
		}
		conds, split, err := conditions(s.Args)
		if err != nil {
			return nil, fmt.Errorf("syscalls[%d]: %w", i, err)
		}
		for _, name := range s.Names {
			nr, _ := libseccomp.GetSyscallFromName(name)
			switch {
			case len(conds) == 0:
				err = filter.AddRule(nr, act)
			case split:
				// Several conditions on one argument: libseccomp refuses
				// them in one rule, runc adds one rule per condition
				// (they OR); sysward does the same so every runtime and
				// `sysward run` agree.
				for _, c := range conds {
					if err = filter.AddRuleConditional(nr, act, []libseccomp.ScmpCondition{c}); err != nil {
						break
					}
				}
			default:
				err = filter.AddRuleConditional(nr, act, conds)
			}
			if err != nil {
				return nil, fmt.Errorf("adding rule syscalls[%d] %s: %w", i, name, err)
			}
		}
	}

	raw, err := exportBPF(filter)
	if err != nil {
		return nil, err
	}
	f.Raw = raw
	f.Instructions = make([]bpf.Instruction, len(raw))
	for i, r := range raw {
		f.Instructions[i] = r.Disassemble()
	}
	if err := checkConditional(q, f); err != nil {
		return nil, err
	}
	return f, nil
}

// checkConditional runs the program for every argument-conditioned syscall
// with the boundary argument vectors Verify uses (see ErrMiscompiled for
// why). Syscalls without conditions are left to Verify: libseccomp's
// syscall-number tree has not been seen to go wrong, and checking every
// number would double the cost of a compile.
func checkConditional(p *profiles.Profile, f *Filter) error {
	var names []string
	seen := map[string]bool{}
	for _, mux := range []string{"socketcall", "ipc"} {
		// x86's multiplexers get conditional rules from the calls they
		// multiplex, even from unconditional entries.
		if containsArch(f.Arches, profiles.ArchX86) && len(p.Decide(profiles.ArchX86, mux).Demuxed) > 0 {
			seen[mux] = true
			names = append(names, mux)
		}
	}
	for _, s := range p.Syscalls {
		if len(s.Args) == 0 {
			continue
		}
		for _, n := range s.Names {
			if !seen[n] {
				seen[n] = true
				names = append(names, n)
			}
		}
	}
	if len(names) == 0 {
		return nil
	}
	prog, err := NewProgram(f.Instructions)
	if err != nil {
		return err
	}
	o := newOracle(p, f)
	var errs []error
	for _, name := range names {
		for _, arch := range f.Arches {
			nr, ok := profiles.SyscallNumber(arch, name)
			token, tok := AuditArch(arch)
			if !ok || !tok {
				continue
			}
			bad := 0
			var first Mismatch
			ex := &explorer{ins: f.Instructions, prog: prog, nr: int32(nr), token: token}
			for _, args := range argVectors(p, name, is32(arch), nil, 0, ex) {
				got, err := prog.Run(SeccompData{Nr: int32(nr), Arch: token, Args: args})
				if err != nil {
					return err
				}
				if want := o.expect(arch, nr, args); got != want {
					if bad == 0 {
						first = Mismatch{Arch: arch, Nr: nr, Name: name, Args: args, Want: want, Got: got}
					}
					bad++
				}
			}
			if bad > 0 {
				errs = append(errs, badInput("syscalls", name, ErrMiscompiled,
					fmt.Sprintf("%s; simplify or merge the argument-conditioned entries for %s", first, name)))
				break
			}
		}
	}
	return errors.Join(errs...)
}

// conditions converts an entry's argument conditions; split reports that
// one argument index appears more than once.
func conditions(args []specs.LinuxSeccompArg) (conds []libseccomp.ScmpCondition, split bool, err error) {
	seen := map[uint]bool{}
	for _, a := range args {
		op := scmpOps[a.Op]
		var c libseccomp.ScmpCondition
		if a.Op == specs.OpMaskedEqual {
			c, err = libseccomp.MakeCondition(a.Index, op, a.Value, a.ValueTwo)
		} else {
			c, err = libseccomp.MakeCondition(a.Index, op, a.Value)
		}
		if err != nil {
			return nil, false, fmt.Errorf("argument condition %+v: %w", a, err)
		}
		if seen[a.Index] {
			split = true
		}
		seen[a.Index] = true
		conds = append(conds, c)
	}
	return conds, split, nil
}

// exportBPF exports the program through a memfd (seccomp_export_bpf writes
// to a file descriptor; ExportBPFMem needs libseccomp ≥ 2.6, Debian 12 has
// 2.5.4) and decodes it.
func exportBPF(filter *libseccomp.ScmpFilter) ([]bpf.RawInstruction, error) {
	fd, err := unix.MemfdCreate("sysward-seccomp", unix.MFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("exporting program: memfd: %w", err)
	}
	file := os.NewFile(uintptr(fd), "sysward-seccomp")
	defer file.Close()
	if err := filter.ExportBPF(file); err != nil {
		return nil, fmt.Errorf("exporting program: %w", err)
	}
	if _, err := file.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("exporting program: %w", err)
	}
	data, err := io.ReadAll(file)
	if err != nil {
		return nil, fmt.Errorf("exporting program: %w", err)
	}
	return decodeRaw(data)
}

// decodeRaw decodes struct sock_filter records in host (little-endian) order.
func decodeRaw(data []byte) ([]bpf.RawInstruction, error) {
	if len(data) == 0 || len(data)%8 != 0 {
		return nil, fmt.Errorf("%w: %d bytes is not a whole number of instructions", ErrBadProgram, len(data))
	}
	out := make([]bpf.RawInstruction, len(data)/8)
	for i := range out {
		b := data[i*8:]
		out[i] = bpf.RawInstruction{
			Op: binary.LittleEndian.Uint16(b[0:]),
			Jt: b[2],
			Jf: b[3],
			K:  binary.LittleEndian.Uint32(b[4:]),
		}
	}
	return out, nil
}
