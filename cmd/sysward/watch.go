package main

import (
	"errors"

	"github.com/urfave/cli/v2"
)

// watchCommand is built under issue 6.
func watchCommand() *cli.Command {
	return &cli.Command{
		Name:   "watch",
		Usage:  "not built yet (issue 6)",
		Action: func(*cli.Context) error { return errors.New("watch: not built yet") },
	}
}
