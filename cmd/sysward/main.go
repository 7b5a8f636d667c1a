// Command sysward learns, enforces and watches seccomp profiles for workloads.
//
// This file only assembles the commands; each command lives in its own file
// (profile.go, learn.go, run.go, watch.go, rules.go) and calls into the
// packages, holding no logic a test cannot reach without the CLI.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/sysward/sysward/internal/version"
)

func newApp() *cli.App {
	app := &cli.App{
		Name:                 "sysward",
		Usage:                "learn, enforce and watch seccomp profiles for workloads",
		Version:              version.Version,
		EnableBashCompletion: true,
		HideVersion:          true,
		ExitErrHandler:       func(*cli.Context, error) {}, // main handles exit codes
		OnUsageError: func(c *cli.Context, err error, isSubcommand bool) error {
			return usageErr(err)
		},
		Commands: []*cli.Command{
			learnCommand(),
			profileCommand(),
			runCommand(),
			watchCommand(),
			rulesCommand(),
			auditCommand(),
			k8sCommand(),
			versionCommand(),
		},
	}
	markUsageErrors(app.Commands)
	return app
}

// markUsageErrors makes flag parse errors of every command (an unknown flag,
// a bad value) exit 2 like any other bad usage. urfave/cli only calls the
// OnUsageError of the command whose flags failed, so each needs its own.
func markUsageErrors(cmds []*cli.Command) {
	for _, c := range cmds {
		if c.OnUsageError == nil {
			c.OnUsageError = func(_ *cli.Context, err error, _ bool) error { return usageErr(err) }
		}
		markUsageErrors(c.Subcommands)
	}
}

// isCLIUsage recognises the two usage errors urfave/cli v2 reports without
// calling OnUsageError and without an exported type: a missing required flag
// (checkRequiredFlags) and an unknown command name given to help. Matching
// the text is the only hook v2.27 offers.
func isCLIUsage(err error) bool {
	msg := err.Error()
	return strings.HasPrefix(msg, "Required flag") || strings.HasPrefix(msg, "No help topic for")
}

func main() {
	os.Exit(run(os.Args))
}

// run executes the CLI and returns its exit status.
func run(args []string) int {
	return exitCode(newApp().Run(args), os.Stderr)
}

// exitCode maps a command's error to the exit status, printing it to w:
// 0 ok, 1 runtime failure, 2 bad usage or bad input, or the status a
// wrapped command returned (printed only if it carries a message).
func exitCode(err error, w io.Writer) int {
	if err == nil {
		return 0
	}
	var ce *exitStatus
	if errors.As(err, &ce) {
		if ce.err != nil {
			fmt.Fprintf(w, "sysward: %v\n", ce.err)
		}
		return ce.code
	}
	fmt.Fprintf(w, "sysward: %v\n", err)
	if isCLIUsage(err) {
		return 2
	}
	return 1
}
