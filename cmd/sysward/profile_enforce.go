package main

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/sysward/sysward/enforcer"
	"github.com/sysward/sysward/internal/inputfile"
	"github.com/sysward/sysward/profiles"
)

// enforceProfileSubcommands are the `sysward profile` subcommands that the
// enforcer provides: compile, verify, install.
func enforceProfileSubcommands() []*cli.Command {
	return []*cli.Command{profileCompileCommand(), profileVerifyCommand(), profileInstallCommand()}
}

var enforceFormatFlag = &cli.StringFlag{Name: "format", Value: "text", Usage: "output `FORMAT`: text or json"}

var enforceModeFlag = &cli.StringFlag{Name: "mode", Value: string(enforcer.Enforce), Usage: "compile for `MODE` enforce or complain"}

func enforceJSON(c *cli.Context) (bool, error) {
	switch c.String("format") {
	case "", "text":
		return false, nil
	case "json":
		return true, nil
	}
	return false, usagef("--format %q: want text or json", c.String("format"))
}

// enforceLoad loads and compiles the single FILE argument; every problem
// with the file is bad input (exit 2), naming the file.
func enforceLoad(c *cli.Context, opts *enforcer.CompileOptions) (string, *profiles.Profile, *enforcer.Filter, error) {
	if c.NArg() != 1 {
		return "", nil, nil, usagef("%s: want exactly one profile FILE, got %d arguments", c.Command.Name, c.NArg())
	}
	path := c.Args().First()
	p, err := inputfile.Profile(path)
	if err != nil {
		return "", nil, nil, usageErr(err)
	}
	f, err := enforcer.Compile(p, opts)
	if err != nil {
		if enforcer.IsBadInput(err) {
			return "", nil, nil, usageErr(fmt.Errorf("%s: %w", path, err))
		}
		return "", nil, nil, fmt.Errorf("compiling %s: %w", path, err)
	}
	return path, p, f, nil
}

func compileOpts(c *cli.Context) (*enforcer.CompileOptions, error) {
	mode, err := enforcer.ParseMode(c.String("mode"))
	if err != nil {
		return nil, usagef("--mode: %v", err)
	}
	return &enforcer.CompileOptions{Mode: mode}, nil
}

func profileCompileCommand() *cli.Command {
	return &cli.Command{
		Name:  "compile",
		Usage: "compile a profile into a seccomp BPF program and report its size",
		UsageText: `sysward profile compile [--disasm] [--mode enforce|complain] [--format text|json] FILE

Compiles FILE with libseccomp the way sysward run installs it (runc's
semantics) and prints the instruction count; --disasm prints the program.

Example:
   sysward profile compile --disasm examples/profiles/redis.json`,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "disasm", Usage: "print the cBPF program"},
			enforceModeFlag,
			enforceFormatFlag,
		},
		Action: func(c *cli.Context) error {
			asJSON, err := enforceJSON(c)
			if err != nil {
				return err
			}
			opts, err := compileOpts(c)
			if err != nil {
				return err
			}
			path, _, f, err := enforceLoad(c, opts)
			if err != nil {
				return err
			}
			w := c.App.Writer
			if asJSON {
				out := map[string]any{
					"file": path, "instructions": f.Len(), "architectures": f.Arches,
					"binaryTree": f.Optimized, "flags": f.Flags, "mode": opts.Mode,
				}
				if c.Bool("disasm") {
					out["disasm"] = strings.Split(strings.TrimRight(enforcer.DisassembleString(f.Instructions), "\n"), "\n")
				}
				enc := json.NewEncoder(w)
				enc.SetIndent("", "  ")
				return enc.Encode(out)
			}
			layout := "linear"
			if f.Optimized {
				layout = "binary tree"
			}
			fmt.Fprintf(w, "%s: %d instructions (%s, architectures %s, mode %s)\n", path, f.Len(), layout, archList(f.Arches), opts.Mode)
			if c.Bool("disasm") {
				return enforcer.Disassemble(w, f.Instructions)
			}
			return nil
		},
	}
}

func archList(as []profiles.Arch) string {
	s := make([]string, len(as))
	for i, a := range as {
		s[i] = strings.TrimPrefix(string(a), "SCMP_ARCH_")
	}
	return strings.Join(s, ",")
}

func profileVerifyCommand() *cli.Command {
	return &cli.Command{
		Name:  "verify",
		Usage: "check the compiled program against the profile in a userspace BPF VM (no root)",
		UsageText: `sysward profile verify [--mode enforce|complain] [--seed N] [--disasm] [--format text|json] FILE

Compiles FILE, then runs the program in a userspace cBPF VM for every syscall
number of every architecture in the filter (and numbers that name none, and an
architecture outside it), with argument values on both sides of every
argument condition, and compares each verdict with what the profile says (the
rules 'sysward profile explain --help' states, which runc and libseccomp
apply). It
also checks that every argument-free allowed syscall is eligible for the
kernel's seccomp allow cache. Exit status 1 if anything differs.

Example:
   sysward profile verify examples/profiles/docker-default.json`,
		Flags: []cli.Flag{
			enforceModeFlag,
			&cli.Int64Flag{Name: "seed", Value: 1, Usage: "seed `N` for the random argument values"},
			&cli.BoolFlag{Name: "disasm", Usage: "on a mismatch, print the program on stderr"},
			enforceFormatFlag,
		},
		Action: func(c *cli.Context) error {
			asJSON, err := enforceJSON(c)
			if err != nil {
				return err
			}
			opts, err := compileOpts(c)
			if err != nil {
				return err
			}
			path, _, f, err := enforceLoad(c, opts)
			if err != nil {
				return err
			}
			r, err := enforcer.Verify(f.Profile, f, &enforcer.VerifyOptions{Seed: c.Int64("seed")})
			if err != nil {
				return fmt.Errorf("verifying %s: %w", path, err)
			}
			verr := r.Err()
			if verr != nil && c.Bool("disasm") {
				_ = enforcer.Disassemble(c.App.ErrWriter, f.Instructions)
			}
			w := c.App.Writer
			if asJSON {
				mism := make([]string, 0, len(r.Mismatches))
				for _, m := range r.Mismatches {
					mism = append(mism, m.String())
				}
				miss := make([]string, 0, len(r.CacheMiss))
				for _, m := range r.CacheMiss {
					miss = append(miss, m.String())
				}
				enc := json.NewEncoder(w)
				enc.SetIndent("", "  ")
				if err := enc.Encode(map[string]any{
					"file": path, "ok": verr == nil, "instructions": f.Len(), "architectures": f.Arches,
					"checks": r.Checks, "syscalls": r.Syscalls, "cacheable": r.Cacheable,
					"mismatches": mism, "cacheIneligible": miss,
				}); err != nil {
					return err
				}
				if verr != nil {
					return &exitStatus{code: 1}
				}
				return nil
			}
			if verr != nil {
				return fmt.Errorf("%s: %w", path, verr)
			}
			fmt.Fprintf(w, "%s: ok: %d instructions, %d checks over %d syscall numbers on %s; %d allowed syscalls cacheable\n",
				path, f.Len(), r.Checks, r.Syscalls, archList(r.Arches), r.Cacheable)
			return nil
		},
	}
}

func profileInstallCommand() *cli.Command {
	return &cli.Command{
		Name:  "install",
		Usage: "install a profile for the kubelet (content-hashed, atomic)",
		UsageText: `sysward profile install [--root DIR] [--name NAMESPACE/NAME] [--format text|json] FILE

Writes FILE's runtime part under DIR/sysward/ (DIR defaults to
/var/lib/kubelet/seccomp) as NAMESPACE-NAME-<sha256[:12]>.json, atomically.
The content hash in the name means a changed profile is a new file: a running
pod keeps the exact profile it started with. Prints the localhostProfile value
and a securityContext snippet. Run it on every node (or ship the file with a
DaemonSet) before pods reference it.

Example:
   sysward profile install --name shop/redis examples/profiles/redis.json`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "root", Value: enforcer.DefaultKubeletRoot, Usage: "kubelet seccomp root `DIR`"},
			&cli.StringFlag{Name: "name", Usage: "`NAMESPACE/NAME` of the workload (default: default/<file name>)"},
			enforceFormatFlag,
		},
		Action: func(c *cli.Context) error {
			asJSON, err := enforceJSON(c)
			if err != nil {
				return err
			}
			path, p, _, err := enforceLoad(c, nil)
			if err != nil {
				return err
			}
			opts := enforcer.InstallOptions{Root: c.String("root"), Fallback: strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))}
			if n := c.String("name"); n != "" {
				ns, name, ok := strings.Cut(n, "/")
				if !ok {
					ns, name = "", n
				}
				if name == "" || strings.Contains(name, "/") {
					return usagef("--name %q: want NAMESPACE/NAME", n)
				}
				opts.Namespace, opts.Name = ns, name
			}
			in, err := enforcer.Install(p, opts)
			if err != nil {
				if enforcer.IsBadInput(err) {
					return usageErr(fmt.Errorf("%s: %w", path, err))
				}
				return err
			}
			w := c.App.Writer
			if asJSON {
				enc := json.NewEncoder(w)
				enc.SetIndent("", "  ")
				return enc.Encode(map[string]any{
					"path": in.Path, "localhostProfile": in.LocalhostProfile, "hash": in.Hash,
					"unchanged": in.Unchanged, "securityContext": in.SecurityContext(),
				})
			}
			state := "installed"
			if in.Unchanged {
				state = "already installed"
			}
			fmt.Fprintf(w, "%s %s\nlocalhostProfile: %s\n\n%s", state, in.Path, in.LocalhostProfile, in.SecurityContext())
			return nil
		},
	}
}
