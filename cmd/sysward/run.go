package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/sysward/sysward/enforcer"
	"github.com/sysward/sysward/internal/inputfile"
)

// A process started by enforcer.Command (e.g. `sysward run --watch`, whose
// parent stays to watch) is this binary re-executed: it installs the filter
// and execs the command before any CLI parsing.
func init() { enforcer.RunChildIfRequested() }

// runCommand is `sysward run --profile FILE [--mode enforce|complain] -- CMD ARGS…`.
func runCommand() *cli.Command {
	return &cli.Command{
		Name:  "run",
		Usage: "run a command under a seccomp profile",
		UsageText: `sysward run --profile FILE [--mode enforce|complain] [--explain] [--force] -- CMD ARGS...

Resolves CMD on PATH, loads and compiles the profile, then installs the filter
and execs CMD in place, so the exit status is CMD's own. Everything that can
fail is checked before the filter is installed: a bad profile, an unknown
syscall, or a command that cannot be found is exit status 2 with nothing
applied. A profile that does not allow execve is refused (the command could
not start) unless --force. The few syscalls sysward itself makes between
installing the filter and execve are added to the profile if it lacks them;
--explain lists them.

--mode complain logs what the profile would refuse (SCMP_ACT_LOG: the kernel
writes an audit record, type=1326, to the kernel log or auditd) and lets it run.

--watch keeps sysward running as the command's watcher (see sysward watch):
calls outside the profile become alerts that say whether seccomp denied them
(enforce) or would have (complain).

Example:
   sysward run --profile ls.json -- ls -l /
   sysward run --profile app.json --watch --format json -- ./app
   sysward run --profile ls.json --mode complain --explain -- ls /tmp`,
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "profile", Aliases: []string{"p"}, Required: true, Usage: "seccomp profile `FILE`"},
			&cli.StringFlag{Name: "mode", Value: string(enforcer.Enforce), Usage: "`MODE`: enforce refuses, complain logs"},
			&cli.BoolFlag{Name: "explain", Usage: "print, on stderr, what will be installed and which syscalls sysward adds"},
			&cli.BoolFlag{Name: "force", Usage: "run even if the profile blocks execve or a syscall sysward needs"},
			&cli.BoolFlag{Name: "watch", Usage: "also watch the command (sysward watch): calls outside the profile become alerts, denied or not; the watch flags below apply"},
		}, watchFlags()...),
		Action: func(c *cli.Context) error {
			if c.NArg() == 0 {
				return usagef("run: no command given (sysward run --profile FILE -- CMD ARGS...)")
			}
			mode, err := enforcer.ParseMode(c.String("mode"))
			if err != nil {
				return usagef("--mode: %v", err)
			}
			path := c.String("profile")
			p, err := inputfile.Profile(path)
			if err != nil {
				return usageErr(err)
			}
			l, err := enforcer.PrepareLaunch(p, c.Args().Slice(), &enforcer.LaunchOptions{Mode: mode, Force: c.Bool("force")})
			if err != nil {
				if enforcer.IsBadInput(err) {
					return usageErr(fmt.Errorf("%s: %w", path, err))
				}
				return err
			}
			if c.Bool("explain") {
				l.Explain(c.App.ErrWriter)
			} else {
				for _, w := range l.Warnings {
					fmt.Fprintln(c.App.ErrWriter, "sysward: warning:", w)
				}
			}
			if c.Bool("watch") {
				return runWatch(c, p, path, mode, l)
			}
			// Exec returns only if the filter could not be installed.
			err = l.Exec()
			return fmt.Errorf("run: %w", err)
		},
	}
}
