package main

import (
	"errors"

	"github.com/urfave/cli/v2"
)

// rulesCommand is built under issue 5.
func rulesCommand() *cli.Command {
	return &cli.Command{
		Name:   "rules",
		Usage:  "not built yet (issue 5)",
		Action: func(*cli.Context) error { return errors.New("rules: not built yet") },
	}
}
