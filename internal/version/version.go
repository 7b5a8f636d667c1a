// Package version holds sysward's version, set at link time:
//
//	go build -ldflags "-X github.com/sysward/sysward/internal/version.Version=v0.1.0"
package version

// Version is sysward's version; "dev" in an untagged build.
var Version = "dev"

// Tool is how sysward names itself in provenance records.
func Tool() string { return "sysward " + Version }
