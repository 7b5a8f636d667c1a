package main

import (
	"errors"

	"github.com/urfave/cli/v2"
)

// learnCommand is built under issue 3.
func learnCommand() *cli.Command {
	return &cli.Command{
		Name:   "learn",
		Usage:  "not built yet (issue 3)",
		Action: func(*cli.Context) error { return errors.New("learn: not built yet") },
	}
}
