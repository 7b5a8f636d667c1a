package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/sysward/sysward/internal/version"
	"github.com/sysward/sysward/internal/watch"
	"github.com/sysward/sysward/profiles"
)

// readEvidence reads every record; a bad one is bad input (exit 2).
func readEvidence(paths []string) ([]profiles.Evidence, error) {
	var out []profiles.Evidence
	for _, p := range paths {
		ev, err := watch.ReadEvidence(p)
		if err != nil {
			return nil, usageErr(err)
		}
		out = append(out, ev)
	}
	return out, nil
}

// ---- absorb ----

func profileAbsorbCommand() *cli.Command {
	return &cli.Command{
		Name:      "absorb",
		Usage:     "fold the syscalls a complain-mode run made outside a profile into a new profile",
		ArgsUsage: "PROFILE RECORD...",
		UsageText: `sysward profile absorb [-o FILE] [--generalize families|none] [--format text|json] PROFILE RECORD...

RECORD is what 'sysward run --mode complain --watch --record RECORD' or
'sysward watch --record RECORD' wrote while the workload ran under PROFILE.
Every syscall the records show the workload making outside its profile is
allowed in the new profile with the source "complain" (its first occurrence
as first-seen time), and with --generalize families (default) the other
members of its family too; the provenance gets an entry "complain" naming
the records. Not absorbed, and listed: syscalls the lint calls dangerous
(allow them by hand if the workload needs them) and syscalls an entry of
PROFILE refuses explicitly. The summary goes to stderr (--format json: a
JSON object on stderr); the profile to -o FILE (atomically) or stdout.

Then 'sysward profile promote' says when the profile is ready to enforce.

Exit status: 0 written, 2 bad input (a profile or record that does not
load, naming the file and line).

Example:
   sysward run --profile app.json --mode complain --watch --record day1.jsonl -- ./app
   sysward profile absorb -o app.v2.json app.json day1.jsonl`,
		Flags: []cli.Flag{outputFlag, formatFlag,
			&cli.StringFlag{Name: "generalize", Value: profiles.GeneralizeFamilies, Usage: "`HOW` to widen each absorbed syscall: families or none"},
		},
		Action: func(c *cli.Context) error {
			asJSON, err := textOrJSON(c)
			if err != nil {
				return err
			}
			if err := needArgs(c, 2, -1, "a PROFILE and at least one RECORD"); err != nil {
				return err
			}
			if err := profiles.CheckGeneralize(c.String("generalize")); err != nil {
				return usagef("profile absorb: --generalize: %v", err)
			}
			p, err := loadProfile(c.Args().First())
			if err != nil {
				return err
			}
			evs, err := readEvidence(c.Args().Slice()[1:])
			if err != nil {
				return err
			}
			out, r := profiles.Absorb(p, evs, version.Tool(), c.String("generalize") != profiles.GeneralizeNone)
			data, err := profiles.Marshal(out)
			if err != nil {
				return err
			}
			if err := emit(c, data); err != nil {
				return err
			}
			if asJSON {
				return writeJSON(c.App.ErrWriter, r)
			}
			w := c.App.ErrWriter
			fmt.Fprintf(w, "sysward profile absorb: %d syscalls absorbed", len(r.Added))
			if len(r.Added) > 0 {
				fmt.Fprintf(w, ": %s", strings.Join(r.Added, " "))
			}
			fmt.Fprintln(w)
			if len(r.Family) > 0 {
				fmt.Fprintf(w, "sysward profile absorb: %d family siblings: %s\n", len(r.Family), strings.Join(r.Family, " "))
			}
			if len(r.Already) > 0 {
				fmt.Fprintf(w, "sysward profile absorb: already allowed: %s\n", strings.Join(r.Already, " "))
			}
			if len(r.Dangerous) > 0 {
				fmt.Fprintf(w, "sysward profile absorb: warning: not absorbed, dangerous (see sysward profile explain): %s\n", strings.Join(r.Dangerous, " "))
			}
			if len(r.Refused) > 0 {
				fmt.Fprintf(w, "sysward profile absorb: warning: not absorbed, refused by an entry of %s: %s\n", c.Args().First(), strings.Join(r.Refused, " "))
			}
			return nil
		},
	}
}

// ---- promote ----

func profilePromoteCommand() *cli.Command {
	return &cli.Command{
		Name:      "promote",
		Usage:     "say whether a profile is ready to enforce: no new syscall for a window across complain-mode records",
		ArgsUsage: "PROFILE RECORD...",
		UsageText: `sysward profile promote --window D [--format text|json] PROFILE RECORD...

Ready when every syscall the records show the workload making outside its
profile is allowed by PROFILE (absorb them first) and the records watched
the workload for at least --window after the last syscall it had not made
before (time between records does not count). A record's span is from its
start mark to its end mark (written by sysward watch --record).

Exit status: 0 ready, 1 not ready (the reason is printed), 2 bad input.

Example:
   sysward profile promote --window 24h app.v2.json day1.jsonl day2.jsonl && \
     sysward run --profile app.v2.json -- ./app`,
		Flags: []cli.Flag{formatFlag,
			&cli.DurationFlag{Name: "window", Usage: "how long `D` the workload must run with no new syscall (required)"},
		},
		Action: func(c *cli.Context) error {
			asJSON, err := textOrJSON(c)
			if err != nil {
				return err
			}
			if err := needArgs(c, 2, -1, "a PROFILE and at least one RECORD"); err != nil {
				return err
			}
			window := c.Duration("window")
			if !c.IsSet("window") || window <= 0 {
				return usagef("profile promote: --window: %v (e.g. --window 24h)", profiles.ErrNoWindow)
			}
			p, err := loadProfile(c.Args().First())
			if err != nil {
				return err
			}
			evs, err := readEvidence(c.Args().Slice()[1:])
			if err != nil {
				return err
			}
			r, err := profiles.Promote(p, evs, window)
			if err != nil {
				return usageErr(err)
			}
			if asJSON {
				if err := writeJSON(c.App.Writer, r); err != nil {
					return err
				}
			} else {
				fmt.Fprintf(c.App.Writer, "%s: %s\n", c.Args().First(), r.Reason)
				fmt.Fprintf(c.App.Writer, "  %d record(s), watched %s in all (%s – %s)\n", r.Records, r.Watched.Round(time.Millisecond),
					r.Started.UTC().Format(time.RFC3339), r.Ended.UTC().Format(time.RFC3339))
			}
			if !r.Ready {
				return &exitStatus{code: 1}
			}
			return nil
		},
	}
}
