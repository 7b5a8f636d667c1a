package main

import (
	"errors"

	"github.com/urfave/cli/v2"
)

// runCommand is built under issue 4.
func runCommand() *cli.Command {
	return &cli.Command{
		Name:   "run",
		Usage:  "not built yet (issue 4)",
		Action: func(*cli.Context) error { return errors.New("run: not built yet") },
	}
}
