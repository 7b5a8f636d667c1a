package main

import "github.com/urfave/cli/v2"

// enforceProfileSubcommands are the `sysward profile` subcommands that the
// enforcer provides (compile, verify, install); built under issue 4.
func enforceProfileSubcommands() []*cli.Command { return nil }
