package enforcer

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"

	"github.com/sysward/sysward/internal/inputfile"
)

// ChildEnv is the environment variable through which Command hands a launch
// to the re-executed binary (RunChildIfRequested reads it). It is removed
// from the command's environment.
const ChildEnv = "SYSWARD_ENFORCER_CHILD"

type childRequest struct {
	Profile string   `json:"profile"`
	Mode    Mode     `json:"mode"`
	Force   bool     `json:"force"`
	Argv    []string `json:"argv"`
}

// Command prepares argv to run under the profile at profilePath in a child
// process, for a parent that keeps running (to watch the child, put it in
// a cgroup with SysProcAttr.CgroupFD, wait for its status). Go cannot run
// code between fork and exec, so the child is this same binary re-executed
// (os.Executable): its main (or an init) must call RunChildIfRequested
// first thing, which does PrepareLaunch and Exec there.
//
// Command first does the whole PrepareLaunch in the parent, so a bad
// profile, an unknown syscall, a blocked execve or a missing command is an
// error here (IsBadInput) before any process starts; the returned Launch
// says what the child will install (for --explain). The caller may set
// Stdin/Stdout/Stderr/SysProcAttr on the *exec.Cmd; Env is already set
// (opts.Env or os.Environ(), plus ChildEnv).
func Command(profilePath string, argv []string, opts *LaunchOptions) (*exec.Cmd, *Launch, error) {
	if opts == nil {
		opts = &LaunchOptions{}
	}
	p, err := inputfile.Profile(profilePath)
	if err != nil {
		return nil, nil, err
	}
	l, err := PrepareLaunch(p, argv, opts)
	if err != nil {
		return nil, nil, err
	}
	self, err := os.Executable()
	if err != nil {
		return nil, nil, fmt.Errorf("finding own executable: %w", err)
	}
	req, err := json.Marshal(childRequest{Profile: profilePath, Mode: l.Mode, Force: opts.Force, Argv: argv})
	if err != nil {
		return nil, nil, err
	}
	env := opts.Env
	if env == nil {
		env = os.Environ()
	}
	cmd := exec.Command(self)
	cmd.Args = []string{argv[0]} // shows the command's name in ps until execve
	cmd.Env = append(withoutChildEnv(env), ChildEnv+"="+string(req))
	return cmd, l, nil
}

func withoutChildEnv(env []string) []string {
	out := make([]string, 0, len(env))
	for _, kv := range env {
		if !strings.HasPrefix(kv, ChildEnv+"=") {
			out = append(out, kv)
		}
	}
	return out
}

// RunChildIfRequested returns at once unless this process was started by
// Command; then it loads the profile, installs the filter and execs the
// command, and never returns (a failure before exec exits with status 2
// for bad input, else 1, after a message on stderr).
func RunChildIfRequested() {
	raw, ok := os.LookupEnv(ChildEnv)
	if !ok {
		return
	}
	fail := func(code int, err error) {
		fmt.Fprintf(os.Stderr, "sysward: %v\n", err)
		os.Exit(code)
	}
	var req childRequest
	if err := json.Unmarshal([]byte(raw), &req); err != nil {
		fail(2, fmt.Errorf("%s: %w", ChildEnv, err))
	}
	p, err := inputfile.Profile(req.Profile)
	if err != nil {
		fail(2, err)
	}
	l, err := PrepareLaunch(p, req.Argv, &LaunchOptions{Mode: req.Mode, Force: req.Force, Env: withoutChildEnv(os.Environ())})
	if err != nil {
		if IsBadInput(err) {
			fail(2, fmt.Errorf("%s: %w", req.Profile, err))
		}
		fail(1, err)
	}
	fail(1, l.Exec())
}
