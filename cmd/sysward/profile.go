package main

import (
	"errors"

	"github.com/urfave/cli/v2"
)

// profileCommand is built under issue 2.
func profileCommand() *cli.Command {
	return &cli.Command{
		Name:   "profile",
		Usage:  "not built yet (issue 2)",
		Action: func(*cli.Context) error { return errors.New("profile: not built yet") },
	}
}
