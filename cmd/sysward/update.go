package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/sysward/sysward/internal/version"
	"github.com/sysward/sysward/internal/watch"
	"github.com/sysward/sysward/profiles"
)

// withUpdate runs a watch session (run) and, with --update OUT, then writes
// p plus what the session saw outside it to OUT: `sysward profile absorb`
// of the session's record (the --record file, else a temporary one). The
// session's own result (the command's exit status) is returned either way.
func withUpdate(c *cli.Context, p *profiles.Profile, cfg *watch.Config, run func() error) error {
	out := c.String("update")
	if out == "" {
		return run()
	}
	if cfg.Record == "" {
		f, err := os.CreateTemp("", "sysward-update-*.jsonl")
		if err != nil {
			return fmt.Errorf("--update: creating the session's record: %w", err)
		}
		f.Close()
		cfg.Record = f.Name()
		defer os.Remove(f.Name())
	}
	runErr := run()
	var st *exitStatus
	if runErr != nil && (!errors.As(runErr, &st) || st.err != nil) {
		return runErr // the session failed: nothing to absorb
	}
	ev, err := watch.ReadEvidence(cfg.Record)
	if err != nil {
		return errors.Join(runErr, fmt.Errorf("--update: %w", err))
	}
	np, r := profiles.Absorb(p, []profiles.Evidence{ev}, version.Tool(), true)
	data, err := profiles.Marshal(np)
	if err == nil {
		err = profiles.WriteFileAtomic(out, data, 0o644)
	}
	if err != nil {
		return errors.Join(runErr, fmt.Errorf("--update: %w", err))
	}
	w := c.App.ErrWriter
	fmt.Fprintf(w, "sysward: --update: %s written: %d syscalls absorbed", out, len(r.Added))
	if len(r.Added) > 0 {
		fmt.Fprintf(w, " (%s), %d family siblings", strings.Join(r.Added, " "), len(r.Family))
	}
	fmt.Fprintln(w)
	if len(r.Dangerous) > 0 {
		fmt.Fprintf(w, "sysward: --update: warning: not absorbed, dangerous: %s\n", strings.Join(r.Dangerous, " "))
	}
	if len(r.Refused) > 0 {
		fmt.Fprintf(w, "sysward: --update: warning: not absorbed, refused by an entry of the profile: %s\n", strings.Join(r.Refused, " "))
	}
	return runErr
}
