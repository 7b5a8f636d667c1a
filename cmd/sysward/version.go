package main

import (
	"fmt"
	"runtime"

	"github.com/urfave/cli/v2"

	"github.com/sysward/sysward/internal/version"
)

func versionCommand() *cli.Command {
	return &cli.Command{
		Name:      "version",
		Usage:     "print sysward's version",
		UsageText: "sysward version\n\nExample:\n   sysward version",
		Action: func(c *cli.Context) error {
			fmt.Fprintf(c.App.Writer, "sysward %s (%s, %s/%s)\n", version.Version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
			return nil
		},
	}
}
