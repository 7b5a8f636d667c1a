package main

import (
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/sysward/sysward/detector"
	"github.com/sysward/sysward/internal/inputfile"
	"github.com/sysward/sysward/internal/watch"
)

// rulesCommand is `sysward rules check|fields|test`: develop and test
// Falco-language rules without a kernel.
func rulesCommand() *cli.Command {
	return &cli.Command{
		Name:  "rules",
		Usage: "check Falco-language rules files, list fields, replay recorded events",
		UsageText: `sysward rules COMMAND [options] ...

sysward reads rules in Falco's language (lists, macros, rules, exceptions,
append/override). As in Falco, a field sysward does not know (a typo, or a
Falco field sysward does not provide) and a required plugin it lacks are
errors with file:line:col (exit status 2), like everything else that is
wrong. --skip-unknown-fields loads such files anyway: rules that need what
is missing are skipped, with the field named (a rule can also say
skip-if-unknown-filter: true, as in Falco).

Example:
   sysward rules check /etc/falco/falco_rules.yaml my_rules.yaml`,
		Subcommands: []*cli.Command{rulesCheckCommand(), rulesFieldsCommand(), rulesTestCommand()},
	}
}

// skipUnknownFieldsFlag is shared by the commands that load rules files.
var skipUnknownFieldsFlag = &cli.BoolFlag{Name: "skip-unknown-fields",
	Usage: "load rules files that use fields or plugins sysward does not provide: skip the rules that need them (warning) instead of refusing the file, as Falco does"}

// loadOptions are the detector's load options from skipUnknownFieldsFlag.
func loadOptions(c *cli.Context) *detector.LoadOptions {
	return &detector.LoadOptions{SkipUnknownFields: c.Bool(skipUnknownFieldsFlag.Name)}
}

// rulesLoadErr is a rules load error as bad input (exit status 2), with a
// hint when --skip-unknown-fields would load the files.
func rulesLoadErr(err error) error {
	if errors.Is(err, detector.ErrUnknownField) || errors.Is(err, detector.ErrPluginUnavailable) {
		err = fmt.Errorf("%w\n(--%s loads these files and skips the rules that need what sysward lacks)", err, skipUnknownFieldsFlag.Name)
	}
	return usageErr(err)
}

// loadRulesArgs loads the rules files named by the arguments; a bad file is
// bad input (exit status 2).
func loadRulesArgs(c *cli.Context) (*detector.Ruleset, error) {
	if c.NArg() == 0 {
		return nil, usagef("no rules files given")
	}
	rs, err := detector.LoadRulesWith(loadOptions(c), c.Args().Slice()...)
	if err != nil {
		return nil, rulesLoadErr(err)
	}
	return rs, nil
}

func rulesCheckCommand() *cli.Command {
	return &cli.Command{
		Name:  "check",
		Usage: "load rules files in order and report errors, skipped rules and warnings",
		UsageText: `sysward rules check [--format text|json] [--warnings] [--skip-unknown-fields] FILE...

Loads the files in order, as Falco does (later files append to and override
earlier ones). Prints how many lists, macros and rules loaded, each rule that
is skipped and the field it lacks, and with --warnings every warning (rules
that match every event type, output fields printed as <NA>, ...). Errors go
to stderr with file:line:col, exit status 2: an unknown field or a required
plugin sysward lacks is one, unless --skip-unknown-fields.

Example:
   sysward rules check falco_rules.yaml local_rules.yaml
   sysward rules check --skip-unknown-fields --format json falco_rules.yaml`,
		Flags: []cli.Flag{formatFlag, &cli.BoolFlag{Name: "warnings", Aliases: []string{"w"}, Usage: "print every warning"}, skipUnknownFieldsFlag},
		Action: func(c *cli.Context) error {
			asJSON, err := textOrJSON(c)
			if err != nil {
				return err
			}
			rs, err := loadRulesArgs(c)
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(c.App.Writer, checkReport(rs))
			}
			writeCheckText(c.App.Writer, rs, c.Bool("warnings"))
			return nil
		},
	}
}

type checkRule struct {
	Name         string   `json:"name"`
	Source       string   `json:"source"`
	Priority     string   `json:"priority"`
	Enabled      bool     `json:"enabled"`
	Compiled     bool     `json:"compiled"`
	Skipped      string   `json:"skipped,omitempty"`
	MissingField string   `json:"missing_field,omitempty"`
	EventTypes   []string `json:"event_types,omitempty"`
	AllTypes     bool     `json:"all_event_types,omitempty"`
	Position     string   `json:"position"`
}

type checkJSON struct {
	Lists    int         `json:"lists"`
	Macros   int         `json:"macros"`
	Rules    []checkRule `json:"rules"`
	Compiled int         `json:"compiled"`
	Skipped  int         `json:"skipped"`
	Disabled int         `json:"disabled"`
	Warnings []string    `json:"warnings"`
}

func checkReport(rs *detector.Ruleset) checkJSON {
	out := checkJSON{Lists: len(rs.Lists), Macros: len(rs.Macros), Rules: []checkRule{}, Warnings: []string{}}
	out.Compiled, out.Skipped, out.Disabled = rs.Stats()
	for _, r := range rs.Rules {
		out.Rules = append(out.Rules, checkRule{Name: r.Name, Source: r.Source, Priority: r.Priority.String(), Enabled: r.Enabled,
			Compiled: r.Compiled(), Skipped: r.Skipped, MissingField: r.MissingField, EventTypes: r.EventTypes,
			AllTypes: r.AllEventTypes, Position: r.Pos.String()})
	}
	for _, w := range rs.Warnings {
		out.Warnings = append(out.Warnings, w.String())
	}
	return out
}

func writeCheckText(w io.Writer, rs *detector.Ruleset, warnings bool) {
	compiled, skipped, disabled := rs.Stats()
	fmt.Fprintf(w, "%d lists, %d macros, %d rules: %d compiled, %d skipped, %d disabled\n",
		len(rs.Lists), len(rs.Macros), len(rs.Rules), compiled, skipped, disabled)
	for _, r := range rs.Rules {
		if r.Skipped != "" {
			fmt.Fprintf(w, "skipped %s: rule %q: %s\n", r.Pos, r.Name, r.Skipped)
		}
	}
	if warnings {
		for _, wr := range rs.Warnings {
			fmt.Fprintf(w, "warning %s\n", wr)
		}
	} else if n := len(rs.Warnings); n > 0 {
		fmt.Fprintf(w, "%d warnings (--warnings to list them)\n", n)
	}
}

func rulesFieldsCommand() *cli.Command {
	return &cli.Command{
		Name:  "fields",
		Usage: "list the fields conditions and outputs can use, with type and description",
		UsageText: `sysward rules fields [--source syscall|k8s_audit] [--format text|json]

Example:
   sysward rules fields
   sysward rules fields --source k8s_audit --format json`,
		Flags: []cli.Flag{formatFlag, &cli.StringFlag{Name: "source", Value: detector.SourceSyscall, Usage: "event `SOURCE`: " + strings.Join(detector.Sources(), " or ")}},
		Action: func(c *cli.Context) error {
			asJSON, err := textOrJSON(c)
			if err != nil {
				return err
			}
			fields := detector.Fields(c.String("source"))
			if fields == nil {
				return usagef("--source %q: want one of %s", c.String("source"), strings.Join(detector.Sources(), ", "))
			}
			if asJSON {
				type jf struct {
					Name string `json:"name"`
					Type string `json:"type"`
					Arg  string `json:"arg,omitempty"`
					Desc string `json:"desc"`
				}
				var out []jf
				for _, f := range fields {
					out = append(out, jf{Name: f.Name, Type: f.Type.String(), Arg: argSyntax(f), Desc: f.Desc})
				}
				return writeJSON(c.App.Writer, map[string]any{"source": c.String("source"), "fields": out,
					"operators": detector.Operators(), "transformers": detector.Transformers()})
			}
			tw := tabwriter.NewWriter(c.App.Writer, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "FIELD\tTYPE\tDESCRIPTION")
			for _, f := range fields {
				fmt.Fprintf(tw, "%s%s\t%s\t%s\n", f.Name, argSyntax(f), f.Type, f.Desc)
			}
			tw.Flush()
			fmt.Fprintf(c.App.Writer, "\noperators: %s\ntransformers: %s\n", strings.Join(detector.Operators(), " "), strings.Join(detector.Transformers(), " "))
			return nil
		},
	}
}

func argSyntax(f detector.FieldInfo) string {
	switch f.Arg {
	case detector.ArgIndex:
		return "[n]"
	case detector.ArgKey:
		return "[key]"
	case detector.ArgIndexKey:
		return "[n|name]"
	}
	return ""
}

func rulesTestCommand() *cli.Command {
	return &cli.Command{
		Name:  "test",
		Usage: "replay a recorded events file (JSONL) through rules files and print the alerts",
		UsageText: `sysward rules test --events FILE.jsonl [--format text|json] [--rule-matching first|all]
                   [--min-priority PRIORITY] [--hostname NAME] [--builtin] [--skip-unknown-fields] RULES...

The events file holds one JSON event per line, as documented in docs/rules.md
("Event file format") and as "sysward watch" records it. Alerts are printed
as Falco prints them: text lines, or with --format json Falco's JSON alert
(time, rule, priority, source, hostname, output, output_fields, tags). A
summary goes to stderr.

Example:
   sysward rules test --events recorded.jsonl falco_rules.yaml my_rules.yaml
   sysward rules test --format json --rule-matching all --events e.jsonl rules.yaml
   sysward rules test --builtin --events recorded.jsonl          # replay what watch --record wrote`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "events", Aliases: []string{"e"}, Usage: "events `FILE` (JSONL), required"},
			formatFlag,
			&cli.StringFlag{Name: "rule-matching", Value: "first", Usage: "first (Falco's default) or all"},
			&cli.StringFlag{Name: "min-priority", Usage: "drop rules less severe than `PRIORITY`"},
			&cli.StringFlag{Name: "hostname", Usage: "hostname in alerts (default: this host's)"},
			&cli.BoolFlag{Name: "builtin", Usage: "load sysward's built-in rules (those `sysward watch` runs) before the RULES files, which are then optional"},
			skipUnknownFieldsFlag,
		},
		Action: func(c *cli.Context) error {
			asJSON, err := textOrJSON(c)
			if err != nil {
				return err
			}
			if c.String("events") == "" {
				return usagef("--events FILE is required")
			}
			m, err := detector.ParseMatching(c.String("rule-matching"))
			if err != nil {
				return usageErr(err)
			}
			var rs *detector.Ruleset
			if c.Bool("builtin") {
				// The rules `sysward watch` ships, then the files given.
				if rs, err = watch.LoadRulesWith(loadOptions(c), false, c.Args().Slice()...); err != nil {
					return rulesLoadErr(err)
				}
			} else if rs, err = loadRulesArgs(c); err != nil {
				return err
			}
			data, err := inputfile.Read(c.String("events"), detector.MaxEventsFileSize)
			if err != nil {
				return usageErr(fmt.Errorf("reading events file: %w", err))
			}
			events, err := detector.DecodeEvents(c.String("events"), data)
			if err != nil {
				return usageErr(err)
			}
			w := c.App.Writer
			var buf []byte
			var werr error
			sink := detector.AlertFunc(func(a *detector.Alert) {
				buf = buf[:0]
				if asJSON {
					buf = a.AppendJSON(buf)
				} else {
					buf = a.AppendText(buf)
				}
				buf = append(buf, '\n')
				if _, err := w.Write(buf); err != nil && werr == nil {
					werr = err
				}
			})
			eng, err := detector.NewEngine(rs, &detector.EngineOptions{MinPriority: c.String("min-priority"), Matching: m,
				Hostname: c.String("hostname"), Sink: sink})
			if err != nil {
				return usageErr(err)
			}
			for i := range events {
				eng.Process(&events[i])
			}
			if werr != nil {
				return fmt.Errorf("writing alerts: %w", werr)
			}
			st := eng.Stats()
			var by []string
			for _, r := range st.Rules {
				if r.Matches > 0 {
					by = append(by, fmt.Sprintf("%s: %d", r.Name, r.Matches))
				}
			}
			sort.Strings(by)
			fmt.Fprintf(c.App.ErrWriter, "%d events, %d alerts, %d rules evaluated\n", st.Events, st.Matches, eng.RulesLoaded())
			for _, s := range by {
				fmt.Fprintf(c.App.ErrWriter, "  %s\n", s)
			}
			return nil
		},
	}
}
