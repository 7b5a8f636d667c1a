package watch

import (
	"github.com/sysward/sysward/enforcer"
	"github.com/sysward/sysward/profiles"
)

// EffectiveProfile is the profile `sysward run --mode mode` enforces on argv:
// p plus the launcher syscalls the enforcer adds after installing the filter
// (enforcer.PrepareLaunch). Watching with it keeps the launcher's own last
// calls (rt_sigprocmask before execve) from showing as deviations. Errors
// are the enforcer's: bad input (enforcer.IsBadInput) when p cannot start
// the command.
func EffectiveProfile(p *profiles.Profile, argv []string, mode string) (*profiles.Profile, error) {
	l, err := enforcer.PrepareLaunch(p, argv, &enforcer.LaunchOptions{Mode: enforcer.Mode(mode)})
	if err != nil {
		return nil, err
	}
	if len(l.Added) == 0 {
		return p, nil
	}
	eff := p.Clone()
	for _, a := range l.Added {
		eff.Allow(a.Name)
	}
	return eff, nil
}
