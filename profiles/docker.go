package profiles

import (
	"fmt"
	"slices"

	mobyseccomp "github.com/moby/profiles/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// DockerDefaultCaps is Docker's default capability set for a container: the
// "caps" filters of Docker's default profile are resolved against it.
var DockerDefaultCaps = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
	"CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
	"CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
}

// dockerNative maps an architecture to the host architecture Docker's
// profile is resolved for (x86 and x32 run as sub-architectures of an amd64
// host, arm of an arm64 host) and moby's name for it.
func dockerNative(arch Arch) (Arch, string) {
	switch arch {
	case ArchAARCH64, ArchARM:
		return ArchAARCH64, "arm64"
	default:
		return ArchX86_64, "amd64"
	}
}

// DockerDefault resolves Docker's default seccomp profile (moby/profiles
// v0.3.0, the one dockerd and containerd's default use) for a host of arch
// (x86 and x32 resolve as amd64, arm as arm64) and a container with caps
// (nil means DockerDefaultCaps), the way dockerd does: archMap gives the
// architectures, "includes"/"excludes" are matched against the host
// architecture and caps, and every minKernel condition is taken as met (a
// current kernel). Syscall names sysward's tables (libseccomp 2.5.4) do not
// know on any listed architecture are dropped and returned in dropped, so
// the result passes Parse's strict checks.
func DockerDefault(arch Arch, caps []string) (p *Profile, dropped []string, err error) {
	if tables[arch] == nil {
		return nil, nil, fmt.Errorf("docker default for %s: %w", arch, ErrUnknownArch)
	}
	if caps == nil {
		caps = DockerDefaultCaps
	}
	host, native := dockerNative(arch)
	src := mobyseccomp.DefaultProfile()
	p = &Profile{}
	p.DefaultAction = src.DefaultAction
	p.DefaultErrnoRet = copyUintPtr(src.DefaultErrnoRet)
	for _, a := range src.ArchMap {
		if Arch(a.Arch) == host {
			p.Architectures = append([]specs.Arch{a.Arch}, a.SubArches...)
			break
		}
	}
	if len(p.Architectures) == 0 {
		p.Architectures = []specs.Arch{specs.Arch(host)}
	}
	arches := nameArches(p)
	droppedSet := map[string]bool{}
	for _, call := range src.Syscalls {
		if !dockerFilterKeeps(call, native, caps) {
			continue
		}
		s := specs.LinuxSyscall{Action: call.Action, ErrnoRet: copyUintPtr(call.ErrnoRet), Args: append([]specs.LinuxSeccompArg(nil), call.Args...)}
		names := call.Names
		if call.Name != "" {
			names = append([]string{call.Name}, names...)
		}
		for _, n := range names {
			if knownOn(n, arches) {
				s.Names = append(s.Names, n)
			} else {
				droppedSet[n] = true
			}
		}
		if len(s.Names) > 0 {
			p.Syscalls = append(p.Syscalls, s)
		}
	}
	for n := range droppedSet {
		dropped = append(dropped, n)
	}
	slices.Sort(dropped)
	return Canonical(p), dropped, nil
}

func dockerFilterKeeps(call *mobyseccomp.Syscall, native string, caps []string) bool {
	if ex := call.Excludes; ex != nil {
		if slices.Contains(ex.Arches, native) {
			return false
		}
		for _, c := range ex.Caps {
			if slices.Contains(caps, c) {
				return false
			}
		}
		if ex.MinKernel != nil {
			return false // a current kernel is newer than any minKernel
		}
	}
	if in := call.Includes; in != nil {
		if len(in.Arches) > 0 && !slices.Contains(in.Arches, native) {
			return false
		}
		for _, c := range in.Caps {
			if !slices.Contains(caps, c) {
				return false
			}
		}
	}
	return true
}

// DockerComparison compares a profile with Docker's default on one architecture.
type DockerComparison struct {
	Arch Arch `json:"arch"`
	// Allowed and DockerAllowed count the syscalls of Arch each lets run for
	// at least some arguments.
	Allowed       int `json:"allowed"`
	DockerAllowed int `json:"dockerAllowed"`
	// BlockedByDocker lists what this profile allows that Docker's default
	// blocks for every argument.
	BlockedByDocker []string `json:"blockedByDocker"`
	// RestrictedByDocker lists what this profile allows unconditionally that
	// Docker's default allows only for some arguments (clone's namespace
	// flags, personality, socket families...).
	RestrictedByDocker []string `json:"restrictedByDocker"`
	// OnlyDocker counts syscalls Docker's default allows and this profile does not.
	OnlyDocker int `json:"onlyDocker"`
}

// CompareDocker compares p with DockerDefault(arch, nil) on arch.
func CompareDocker(p *Profile, arch Arch) (*DockerComparison, error) {
	d, _, err := DockerDefault(arch, nil)
	if err != nil {
		return nil, err
	}
	c := &DockerComparison{Arch: arch, BlockedByDocker: []string{}, RestrictedByDocker: []string{}}
	pdc, ddc := p.decider(), d.decider()
	for _, name := range Syscalls(arch) {
		pd, dd := pdc.decide(arch, name), ddc.decide(arch, name)
		pa, da := pd.MayAllow(p), dd.MayAllow(d)
		if pa {
			c.Allowed++
		}
		if da {
			c.DockerAllowed++
		}
		switch {
		case pa && !da:
			c.BlockedByDocker = append(c.BlockedByDocker, name)
		case pa && da && pd.Allowed() && !dd.Allowed():
			c.RestrictedByDocker = append(c.RestrictedByDocker, name)
		case !pa && da:
			c.OnlyDocker++
		}
	}
	return c, nil
}
