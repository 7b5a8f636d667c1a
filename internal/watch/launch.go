package watch

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"

	"github.com/sysward/sysward/enforcer"
	"github.com/sysward/sysward/profiles"
)

// launchEnv carries a launch request to a re-executed sysward binary (or
// any binary that links this package, such as a test binary): see Launcher.
const launchEnv = "SYSWARD_WATCH_LAUNCH"

type launchSpec struct {
	Mode    string          `json:"mode"`
	Force   bool            `json:"force,omitempty"`
	Profile json.RawMessage `json:"profile"`
}

// init turns a process started by Launcher into the enforcing launcher
// before anything else runs (the moby "reexec" pattern): `sysward run
// --watch` must keep running to watch, so the filter goes on a child.
func init() {
	if raw, ok := os.LookupEnv(launchEnv); ok {
		os.Exit(launchChild(raw, os.Args[1:]))
	}
}

// Launcher returns a Target.Launch that starts argv the way `sysward run
// --mode mode` does (enforcer.PrepareLaunch then Launch.Exec: the filter is
// installed right before execve), in a re-executed copy of this binary.
// Watch such a target with Target.WaitSeccomp, so the copy's own start-up
// does not count, and with EffectiveProfile, so the launcher's last
// syscalls do not either.
func Launcher(p *profiles.Profile, mode string, force bool, argv []string) func() (*exec.Cmd, error) {
	return func() (*exec.Cmd, error) {
		raw, err := profiles.Marshal(p)
		if err != nil {
			return nil, err
		}
		spec, err := json.Marshal(launchSpec{Mode: mode, Force: force, Profile: raw})
		if err != nil {
			return nil, err
		}
		cmd := exec.Command("/proc/self/exe", argv...)
		cmd.Env = append(os.Environ(), launchEnv+"="+string(spec))
		return cmd, nil
	}
}

func launchChild(raw string, argv []string) int {
	var spec launchSpec
	if err := json.Unmarshal([]byte(raw), &spec); err != nil {
		fmt.Fprintf(os.Stderr, "sysward: launch request: %v\n", err)
		return 2
	}
	p, err := profiles.Parse("profile", spec.Profile)
	if err != nil {
		fmt.Fprintf(os.Stderr, "sysward: %v\n", err)
		return 2
	}
	env := make([]string, 0, len(os.Environ()))
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, launchEnv+"=") {
			env = append(env, kv)
		}
	}
	l, err := enforcer.PrepareLaunch(p, argv, &enforcer.LaunchOptions{Mode: enforcer.Mode(spec.Mode), Force: spec.Force, Env: env})
	if err != nil {
		fmt.Fprintf(os.Stderr, "sysward: %v\n", err)
		return 2
	}
	err = l.Exec() // returns only if the filter could not be installed
	fmt.Fprintf(os.Stderr, "sysward: run: %v\n", err)
	return 1
}
