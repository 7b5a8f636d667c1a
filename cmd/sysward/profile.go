package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/sysward/sysward/internal/inputfile"
	"github.com/sysward/sysward/profiles"
)

// profileCommand is `sysward profile show|lint|diff|merge|export|explain|absorb|promote`
// plus the enforcer's subcommands (profile_enforce.go).
func profileCommand() *cli.Command {
	subs := []*cli.Command{
		profileShowCommand(),
		profileLintCommand(),
		profileDiffCommand(),
		profileMergeCommand(),
		profileExportCommand(),
		profileExplainCommand(),
		profileAbsorbCommand(),
		profilePromoteCommand(),
	}
	subs = append(subs, enforceProfileSubcommands()...)
	return &cli.Command{
		Name:  "profile",
		Usage: "inspect, check, compare, merge and export seccomp profiles",
		UsageText: `sysward profile COMMAND [options] FILE...

A profile is OCI/Docker seccomp JSON (what runc, ctr, podman and the kubelet
load) with sysward's provenance under the "sysward" key. Every command loads
profiles strictly: a profile that fails to load is bad input (exit status 2).

Example:
   sysward profile lint examples/profiles/nginx.json`,
		Subcommands: subs,
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usagef("profile: unknown command %q (see sysward profile --help)", c.Args().First())
			}
			return cli.ShowSubcommandHelp(c)
		},
	}
}

var formatFlag = &cli.StringFlag{Name: "format", Value: "text", Usage: "output `FORMAT`: text or json"}

var outputFlag = &cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "write to `FILE` instead of stdout (a regular file is replaced atomically; a device or FIFO is written to)"}

// loadProfile loads path; a load failure is bad input (exit 2).
func loadProfile(path string) (*profiles.Profile, error) {
	p, err := inputfile.Profile(path)
	if err != nil {
		return nil, usageErr(err)
	}
	return p, nil
}

func textOrJSON(c *cli.Context) (bool, error) {
	switch c.String("format") {
	case "text", "":
		return false, nil
	case "json":
		return true, nil
	}
	return false, usagef("--format %q: want text or json", c.String("format"))
}

// emit writes data to -o FILE (profiles.WriteFileAtomic), or to stdout.
func emit(c *cli.Context, data []byte) error {
	if out := c.String("output"); out != "" {
		return profiles.WriteFileAtomic(out, data, 0o644)
	}
	_, err := c.App.Writer.Write(data)
	return err
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func needArgs(c *cli.Context, min, max int, what string) error {
	n := c.NArg()
	if n < min || (max >= 0 && n > max) {
		return usagef("%s: want %s (see --help)", c.Command.FullName(), what)
	}
	return nil
}

// ---- show ----

type showEntry struct {
	Action    profiles.Action `json:"action"`
	ErrnoRet  *uint           `json:"errnoRet,omitempty"`
	Condition string          `json:"condition,omitempty"`
	Names     []string        `json:"names"`
}

type showSummary struct {
	File          string                `json:"file"`
	DefaultAction string                `json:"defaultAction"`
	Architectures []string              `json:"architectures"`
	Allowed       map[profiles.Arch]int `json:"allowed"`
	Entries       []showEntry           `json:"entries"`
	Provenance    []profiles.Provenance `json:"provenance,omitempty"`
	Learned       int                   `json:"learnedSyscalls"`
	// Sources groups the allowed syscalls by why they are allowed (the
	// strongest of their recorded sources: traced, complain, family,
	// static, baseline, runtime-base; unrecorded when there is none).
	Sources map[string][]string `json:"sources,omitempty"`
}

func profileShowCommand() *cli.Command {
	return &cli.Command{
		Name:      "show",
		Usage:     "summarise a profile: default action, architectures, allowed counts, entries, provenance",
		ArgsUsage: "FILE",
		UsageText: `sysward profile show [--format text|json] FILE

Example:
   sysward profile show examples/profiles/redis.json
   sysward profile show --format json examples/profiles/redis.json | jq .allowed`,
		Flags: []cli.Flag{formatFlag},
		Action: func(c *cli.Context) error {
			asJSON, err := textOrJSON(c)
			if err != nil {
				return err
			}
			if err := needArgs(c, 1, 1, "one profile FILE"); err != nil {
				return err
			}
			p, err := loadProfile(c.Args().First())
			if err != nil {
				return err
			}
			cp := profiles.Canonical(p)
			s := showSummary{File: c.Args().First(), DefaultAction: actionString(cp.DefaultAction, cp.DefaultErrnoRet),
				Architectures: []string{}, Allowed: map[profiles.Arch]int{}, Entries: []showEntry{}}
			for _, a := range cp.Architectures {
				s.Architectures = append(s.Architectures, string(a))
			}
			for _, a := range profiles.CheckedArches(cp) {
				s.Allowed[a] = len(cp.AllowedSyscalls(a))
			}
			for _, e := range cp.Syscalls {
				cond := profiles.ConditionText(e.Args)
				s.Entries = append(s.Entries, showEntry{Action: e.Action, ErrnoRet: e.ErrnoRet, Condition: cond, Names: e.Names})
			}
			if cp.Sysward != nil {
				s.Provenance = cp.Sysward.Provenance
				s.Learned = len(cp.Sysward.Stats)
				s.Sources = profiles.SourcesByKind(cp)
			}
			w := c.App.Writer
			if asJSON {
				return writeJSON(w, s)
			}
			fmt.Fprintf(w, "%s\n  default action: %s\n", s.File, s.DefaultAction)
			arches := "(native only)"
			if len(s.Architectures) > 0 {
				arches = strings.Join(s.Architectures, " ")
			}
			fmt.Fprintf(w, "  architectures:  %s\n", arches)
			for _, a := range sortedArches(s.Allowed) {
				fmt.Fprintf(w, "  allowed on %s: %d syscalls\n", a, s.Allowed[a])
			}
			fmt.Fprintf(w, "  entries: %d\n", len(s.Entries))
			for _, e := range s.Entries {
				head := actionString(e.Action, e.ErrnoRet)
				if e.Condition != "" {
					head += " if " + e.Condition
				}
				fmt.Fprintf(w, "    %s (%d): %s\n", head, len(e.Names), strings.Join(e.Names, " "))
			}
			for _, pv := range s.Provenance {
				fmt.Fprintf(w, "  learned from %s %q on %s (kernel %s) by %s, %s – %s\n", pv.Target, pv.Workload, pv.Host, pv.Kernel, pv.Tool,
					pv.Started.UTC().Format("2006-01-02T15:04:05Z"), pv.Ended.UTC().Format("2006-01-02T15:04:05Z"))
			}
			if s.Learned > 0 {
				fmt.Fprintf(w, "  learning statistics for %d syscalls (see `sysward profile explain`)\n", s.Learned)
			}
			writeSources(w, s.Sources)
			return nil
		},
	}
}

// writeSources prints how many allowed syscalls come from each source and,
// for every source but the trace (and unrecorded ones), which.
func writeSources(w io.Writer, bySource map[string][]string) {
	if len(bySource) == 0 {
		return
	}
	kinds := append(profiles.SourceKinds(), profiles.KindUnknown)
	var counts []string
	for _, k := range kinds {
		if n := len(bySource[k]); n > 0 {
			counts = append(counts, fmt.Sprintf("%d %s", n, k))
		}
	}
	fmt.Fprintf(w, "  allowed because: %s\n", strings.Join(counts, ", "))
	for _, k := range kinds[1 : len(kinds)-1] { // not traced, not unrecorded: those are the entry itself
		if names := bySource[k]; len(names) > 0 {
			fmt.Fprintf(w, "    %s: %s\n", k, strings.Join(names, " "))
		}
	}
}

func actionString(a profiles.Action, errno *uint) string {
	if errno != nil {
		return fmt.Sprintf("%s(%d)", a, *errno)
	}
	return string(a)
}

func sortedArches(m map[profiles.Arch]int) []profiles.Arch {
	var out []profiles.Arch
	for a := range m {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// ---- lint ----

func profileLintCommand() *cli.Command {
	return &cli.Command{
		Name:      "lint",
		Usage:     "report dangerous syscalls, allow-by-default, architecture gaps, and compare with Docker's default",
		ArgsUsage: "FILE...",
		UsageText: `sysward profile lint [--format text|json] [--fail-on SEVERITY] FILE...

Exit status: 0 when no finding reaches --fail-on, 1 when one does, 2 when a
profile does not load (the message names the file, line, entry and value).

Example:
   sysward profile export --docker-default -o docker.json && sysward profile lint docker.json
   sysward profile lint --fail-on medium --format json examples/profiles/*.json`,
		Flags: []cli.Flag{formatFlag,
			&cli.StringFlag{Name: "fail-on", Value: "high", Usage: "exit 1 when a finding is at least `SEVERITY`: high, medium, low, info or never"},
		},
		Action: func(c *cli.Context) error {
			asJSON, err := textOrJSON(c)
			if err != nil {
				return err
			}
			failOn := profiles.Severity(c.String("fail-on"))
			if failOn != "never" && failOn.Rank() < 0 {
				return usagef("--fail-on %q: want high, medium, low, info or never", failOn)
			}
			if err := needArgs(c, 1, -1, "at least one profile FILE"); err != nil {
				return err
			}
			// Load everything first: a bad profile fails the run before any output.
			var ps []*profiles.Profile
			var errs []error
			for _, f := range c.Args().Slice() {
				p, err := inputfile.Profile(f)
				if err != nil {
					errs = append(errs, err)
				}
				ps = append(ps, p)
			}
			if len(errs) > 0 {
				return usageErr(errors.Join(errs...))
			}
			type fileReport struct {
				File string `json:"file"`
				*profiles.LintReport
			}
			var reports []fileReport
			failed := false
			for i, p := range ps {
				r := profiles.Lint(p)
				reports = append(reports, fileReport{c.Args().Get(i), r})
				if failOn != "never" && r.Max() != "" && r.Max().Rank() >= failOn.Rank() {
					failed = true
				}
				if !asJSON {
					r.WriteText(c.App.Writer, c.Args().Get(i))
				}
			}
			if asJSON {
				if err := writeJSON(c.App.Writer, reports); err != nil {
					return err
				}
			}
			if failed {
				return &exitStatus{code: 1, err: fmt.Errorf("lint: findings at or above %s", failOn)}
			}
			return nil
		},
	}
}

// ---- diff ----

func profileDiffCommand() *cli.Command {
	return &cli.Command{
		Name:      "diff",
		Usage:     "show which syscalls a second profile adds, removes or changes, per architecture",
		ArgsUsage: "OLD NEW",
		UsageText: `sysward profile diff [--format text|json] [--exit-code] OLD NEW

"+ name" is allowed in NEW and not in OLD, "- name" the reverse, "~ name" a
changed rule (action, errno, argument conditions).

Example:
   sysward profile diff examples/profiles/nginx.json examples/profiles/redis.json`,
		Flags: []cli.Flag{formatFlag,
			&cli.BoolFlag{Name: "exit-code", Usage: "exit 1 when the profiles differ"},
		},
		Action: func(c *cli.Context) error {
			asJSON, err := textOrJSON(c)
			if err != nil {
				return err
			}
			if err := needArgs(c, 2, 2, "OLD and NEW profile files"); err != nil {
				return err
			}
			a, err := loadProfile(c.Args().Get(0))
			if err != nil {
				return err
			}
			b, err := loadProfile(c.Args().Get(1))
			if err != nil {
				return err
			}
			d := profiles.Diff(a, b, c.Args().Get(0), c.Args().Get(1))
			if asJSON {
				err = writeJSON(c.App.Writer, d)
			} else {
				d.WriteText(c.App.Writer)
			}
			if err != nil {
				return err
			}
			if c.Bool("exit-code") && !d.Empty() {
				return &exitStatus{code: 1}
			}
			return nil
		},
	}
}

// ---- merge ----

func profileMergeCommand() *cli.Command {
	return &cli.Command{
		Name:      "merge",
		Usage:     "union profiles (replicas, runs) keeping provenance and statistics",
		ArgsUsage: "FILE...",
		UsageText: `sysward profile merge [-o FILE] FILE...

The profiles must share their default action. The result is canonical JSON.

Example:
   sysward profile merge -o web.json web-replica-1.json web-replica-2.json`,
		Flags: []cli.Flag{outputFlag},
		Action: func(c *cli.Context) error {
			if err := needArgs(c, 1, -1, "at least one profile FILE"); err != nil {
				return err
			}
			var ps []*profiles.Profile
			for _, f := range c.Args().Slice() {
				p, err := loadProfile(f)
				if err != nil {
					return err
				}
				ps = append(ps, p)
			}
			m, err := profiles.Merge(ps...)
			if err != nil {
				return usageErr(err)
			}
			data, err := profiles.Marshal(m)
			if err != nil {
				return err
			}
			return emit(c, data)
		},
	}
}

// ---- export ----

func profileExportCommand() *cli.Command {
	return &cli.Command{
		Name:      "export",
		Usage:     "write a profile as OCI JSON, an SPO SeccompProfile, a pod securityContext patch or Falco rules",
		ArgsUsage: "FILE",
		UsageText: `sysward profile export [--format oci|spo|pod-patch|falco] [options] (FILE | --docker-default)

  oci        the profile for runc, ctr, podman, the kubelet (--strip-sysward drops our metadata)
  spo        a Security Profiles Operator SeccompProfile (security-profiles-operator.x-k8s.io/v1beta1)
  pod-patch  a strategic-merge patch setting seccompProfile {type: Localhost, localhostProfile}
             on a Deployment's pod template (--kind Pod for a pod; --container for one container)
  falco      a Falco rules snippet: the workload's syscall list, a macro selecting the
             workload, and a rule firing on any other syscall in it

Example:
   sysward profile export --format spo --name web --namespace prod examples/profiles/nginx.json
   sysward profile export --format pod-patch --name web --localhost-profile sysward/web.json > patch.yaml
   kubectl patch deployment web --patch-file patch.yaml
   sysward profile export --format falco --name web examples/profiles/nginx.json >> rules.yaml
   sysward profile export --docker-default --arch x86_64 -o docker-default.json`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "format", Value: "oci", Usage: "export `FORMAT`: oci, spo, pod-patch or falco"},
			outputFlag,
			&cli.BoolFlag{Name: "docker-default", Usage: "export Docker's default profile (moby/profiles, resolved for --arch and Docker's default capabilities) instead of FILE"},
			&cli.StringFlag{Name: "arch", Usage: "`ARCH` for --docker-default (default: native) and the Falco list (default: every architecture of the profile)"},
			&cli.BoolFlag{Name: "strip-sysward", Usage: "oci: drop the sysward provenance/statistics key"},
			&cli.StringFlag{Name: "name", Usage: "resource / workload `NAME` (default: the file name without .json)"},
			&cli.StringFlag{Name: "namespace", Usage: "spo, pod-patch: Kubernetes `NAMESPACE`"},
			&cli.BoolFlag{Name: "json", Usage: "spo, pod-patch: JSON instead of YAML"},
			&cli.StringFlag{Name: "localhost-profile", Usage: "pod-patch: `PATH` relative to the kubelet's seccomp root (default sysward/NAME.json)"},
			&cli.StringFlag{Name: "kind", Value: "Deployment", Usage: "pod-patch: `KIND` to patch: Deployment, StatefulSet, DaemonSet, ReplicaSet, Job or Pod"},
			&cli.StringFlag{Name: "container", Usage: "pod-patch: set the profile on container `NAME` instead of the whole pod"},
			&cli.StringFlag{Name: "falco-condition", Usage: "falco: macro `CONDITION` selecting the workload (default: sysward.workload = \"NAME\")"},
			&cli.StringFlag{Name: "falco-priority", Value: "WARNING", Usage: "falco: rule `PRIORITY`"},
		},
		Action: func(c *cli.Context) error {
			format := c.String("format")
			known := false
			for _, f := range profiles.ExportFormats() {
				known = known || f == format
			}
			if !known {
				return usagef("--format %q: want %s", format, strings.Join(profiles.ExportFormats(), ", "))
			}
			var arch profiles.Arch
			if s := c.String("arch"); s != "" {
				a, ok := profiles.ParseArch(s)
				if !ok {
					return usagef("--arch %q: want x86_64, x86, x32, aarch64 or arm", s)
				}
				arch = a
			}
			var p *profiles.Profile
			name := c.String("name")
			switch {
			case c.Bool("docker-default"):
				if c.NArg() != 0 {
					return usagef("profile export: --docker-default takes no FILE")
				}
				a := arch
				if a == "" {
					a = profiles.NativeArch()
				}
				d, dropped, err := profiles.DockerDefault(a, nil)
				if err != nil {
					return usageErr(err)
				}
				if len(dropped) > 0 {
					fmt.Fprintf(c.App.ErrWriter, "sysward: docker default: dropped %d syscall names unknown to libseccomp 2.5.4's tables: %s\n", len(dropped), strings.Join(dropped, " "))
				}
				p = d
				if name == "" {
					name = "docker-default"
				}
			case format == profiles.FormatPodPatch && c.NArg() == 0:
				// A pod patch needs only a name and a path.
				if name == "" && c.String("localhost-profile") == "" {
					return usagef("profile export --format pod-patch: give FILE, --name or --localhost-profile")
				}
				p = &profiles.Profile{}
			default:
				if err := needArgs(c, 1, 1, "one profile FILE (or --docker-default)"); err != nil {
					return err
				}
				var err error
				if p, err = loadProfile(c.Args().First()); err != nil {
					return err
				}
				if name == "" {
					name = strings.TrimSuffix(filepath.Base(c.Args().First()), ".json")
				}
			}
			data, err := profiles.Export(p, format, &profiles.ExportOptions{
				Name: name, Namespace: c.String("namespace"), StripSysward: c.Bool("strip-sysward"),
				JSON: c.Bool("json"), LocalhostProfile: c.String("localhost-profile"), Kind: c.String("kind"),
				Container: c.String("container"), FalcoCondition: c.String("falco-condition"),
				FalcoPriority: c.String("falco-priority"), Arch: exportArch(format, arch),
			})
			if err != nil {
				return usageErr(err)
			}
			return emit(c, data)
		},
	}
}

func exportArch(format string, arch profiles.Arch) profiles.Arch {
	if format == profiles.FormatFalco {
		return arch
	}
	return ""
}

// ---- explain ----

func profileExplainCommand() *cli.Command {
	return &cli.Command{
		Name:      "explain",
		Usage:     "say why a profile allows or denies syscalls: deciding entry, arguments, provenance, statistics",
		ArgsUsage: "FILE SYSCALL...",
		UsageText: `sysward profile explain [--arch ARCH] [--format text|json] FILE SYSCALL...

Example:
   sysward profile explain examples/profiles/nginx.json accept4 ptrace`,
		Description: `The verdict is the one runc, ctr, podman, the kubelet and 'sysward run'
enforce (libseccomp 2.5.4 with runc's rules): an unconditional entry decides
for every argument value, even when an argument-conditioned entry for the
same syscall comes first (libseccomp drops the conditions; explain lists them
as having no effect); an entry repeating the default action is skipped;
otherwise a matching argument-conditioned entry decides (its conditions AND,
but when two test the same argument all of them OR), else the default action.`,
		Flags: []cli.Flag{formatFlag,
			&cli.StringFlag{Name: "arch", Usage: "`ARCH` to explain for (default: native, else the profile's)"},
		},
		Action: func(c *cli.Context) error {
			asJSON, err := textOrJSON(c)
			if err != nil {
				return err
			}
			if err := needArgs(c, 2, -1, "a profile FILE and at least one SYSCALL"); err != nil {
				return err
			}
			var arch profiles.Arch
			if s := c.String("arch"); s != "" {
				a, ok := profiles.ParseArch(s)
				if !ok {
					return usagef("--arch %q: want x86_64, x86, x32, aarch64 or arm", s)
				}
				arch = a
			}
			p, err := loadProfile(c.Args().First())
			if err != nil {
				return err
			}
			var out []*profiles.Explanation
			var unknown []string
			for _, name := range c.Args().Slice()[1:] {
				e := profiles.Explain(p, name, arch)
				if !e.Known {
					unknown = append(unknown, fmt.Sprintf("%q is not a syscall on %s", name, e.Arch))
				}
				out = append(out, e)
			}
			if len(unknown) > 0 {
				return usagef("profile explain: %s", strings.Join(unknown, "; "))
			}
			if asJSON {
				return writeJSON(c.App.Writer, out)
			}
			var b bytes.Buffer
			for _, e := range out {
				e.WriteText(&b)
			}
			_, err = c.App.Writer.Write(b.Bytes())
			return err
		},
	}
}
