// Command sysward learns, enforces and watches seccomp profiles for workloads.
//
// This file only assembles the commands; each command lives in its own file
// (profile.go, learn.go, run.go, watch.go, rules.go) and calls into the
// packages, holding no logic a test cannot reach without the CLI.
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/sysward/sysward/internal/version"
)

func newApp() *cli.App {
	return &cli.App{
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
			versionCommand(),
		},
	}
}

func main() {
	os.Exit(run(os.Args))
}

// run executes the CLI and maps errors to exit status: 0 ok, 1 runtime
// failure, 2 bad usage or bad input, or the status a wrapped command returned.
func run(args []string) int {
	err := newApp().Run(args)
	if err == nil {
		return 0
	}
	var ce *exitStatus
	if errors.As(err, &ce) {
		if ce.err != nil {
			fmt.Fprintf(os.Stderr, "sysward: %v\n", ce.err)
		}
		return ce.code
	}
	fmt.Fprintf(os.Stderr, "sysward: %v\n", err)
	return 1
}
