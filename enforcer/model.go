package enforcer

import (
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/sysward/sysward/profiles"
)

// SECCOMP_RET_* action values (linux/seccomp.h); the low 16 bits carry data.
const (
	RetKillProcess uint32 = 0x80000000
	RetKillThread  uint32 = 0x00000000
	RetTrap        uint32 = 0x00030000
	RetErrno       uint32 = 0x00050000
	RetUserNotif   uint32 = 0x7fc00000
	RetTrace       uint32 = 0x7ff00000
	RetLog         uint32 = 0x7ffc0000
	RetAllow       uint32 = 0x7fff0000

	retActionMask uint32 = 0xffff0000
	retDataMask   uint32 = 0x0000ffff
)

// x32 syscall numbers carry this bit and share x86_64's audit token.
const x32SyscallBit = 0x40000000

// AuditArch returns the AUDIT_ARCH_* token the kernel puts in
// seccomp_data.arch for arch.
func AuditArch(arch profiles.Arch) (uint32, bool) {
	switch arch {
	case profiles.ArchX86_64, profiles.ArchX32:
		return unix.AUDIT_ARCH_X86_64, true
	case profiles.ArchX86:
		return unix.AUDIT_ARCH_I386, true
	case profiles.ArchAARCH64:
		return unix.AUDIT_ARCH_AARCH64, true
	case profiles.ArchARM:
		return unix.AUDIT_ARCH_ARM, true
	}
	return 0, false
}

// is32 reports whether libseccomp compares only the low 32 bits of
// arguments on arch (profiles.Is32Bit).
func is32(arch profiles.Arch) bool { return profiles.Is32Bit(arch) }

// RetValue is the SECCOMP_RET_* value a filter returns for action a with
// errnoRet (nil: EPERM, the way runc defaults ERRNO and TRACE).
func RetValue(a profiles.Action, errnoRet *uint) uint32 {
	data := uint32(unix.EPERM)
	if errnoRet != nil {
		data = uint32(*errnoRet) & retDataMask
	}
	switch a {
	case profiles.ActKill, profiles.ActKillThread:
		return RetKillThread
	case profiles.ActKillProcess:
		return RetKillProcess
	case profiles.ActTrap:
		return RetTrap
	case profiles.ActErrno:
		return RetErrno | data
	case profiles.ActTrace:
		return RetTrace | data
	case profiles.ActAllow:
		return RetAllow
	case profiles.ActLog:
		return RetLog
	case profiles.ActNotify:
		return RetUserNotif
	}
	return RetKillThread
}

// RetString names a SECCOMP_RET_* value ("ERRNO(1)", "ALLOW").
func RetString(v uint32) string {
	data := v & retDataMask
	switch v & retActionMask {
	case RetKillProcess:
		return "KILL_PROCESS"
	case RetKillThread:
		return "KILL_THREAD"
	case RetTrap:
		return "TRAP"
	case RetErrno:
		return fmt.Sprintf("ERRNO(%d)", data)
	case RetUserNotif:
		return "USER_NOTIF"
	case RetTrace:
		return fmt.Sprintf("TRACE(%d)", data)
	case RetLog:
		return "LOG"
	case RetAllow:
		return "ALLOW"
	}
	return fmt.Sprintf("0x%08x", v)
}

// Expect is the verdict the profile p gives a syscall: the SECCOMP_RET_*
// value a correct filter f returns for syscall number nr on arch with args.
// It is the oracle Verify checks compiled programs against. The semantics
// are profiles.Profile.EvaluateNr's (runc 1.1 + libseccomp 2.5.4; see the
// profiles package documentation); Expect adds only what the filter, not the
// profile, decides: an architecture outside the filter (f.Arches; the
// native one is always in) gets f.BadArch. x32 counts as outside a filter
// that lists x86_64 but not x32: the two share an audit token and
// libseccomp sends numbers with __X32_SYSCALL_BIT to the bad-arch action.
func Expect(p *profiles.Profile, f *Filter, arch profiles.Arch, nr int, args [6]uint64) uint32 {
	return newOracle(p, f).expect(arch, nr, args)
}

// oracle is Expect for many calls: it decides each (arch, nr) once and
// evaluates only the argument conditions per call, so checking a syscall
// with n argument-conditioned entries against m vectors costs O(m·n), not
// O(m·entries) on top.
type oracle struct {
	p         *profiles.Profile
	f         *Filter
	decisions map[archNr]profiles.Decision
}

type archNr struct {
	arch profiles.Arch
	nr   int
}

func newOracle(p *profiles.Profile, f *Filter) *oracle {
	return &oracle{p: p, f: f, decisions: map[archNr]profiles.Decision{}}
}

func (o *oracle) expect(arch profiles.Arch, nr int, args [6]uint64) uint32 {
	if !containsArch(o.f.Arches, arch) {
		return o.f.BadArch
	}
	k := archNr{arch, nr}
	d, ok := o.decisions[k]
	if !ok {
		// An unknown number gets the default action (EvaluateNr).
		d, _, _ = o.p.DecideNr(arch, nr)
		o.decisions[k] = d
	}
	return RetValue(d.Evaluate(o.p, arch, args))
}

func containsArch(as []profiles.Arch, a profiles.Arch) bool {
	for _, x := range as {
		if x == a {
			return true
		}
	}
	return false
}

func containsName(ns []string, n string) bool {
	for _, x := range ns {
		if x == n {
			return true
		}
	}
	return false
}
