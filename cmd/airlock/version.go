package main

import (
	"fmt"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// version is this build's version when the build sets it:
// go build -ldflags "-X main.version=v1.2.0" ./cmd/airlock.
var version string

// buildVersion is version when set, else the main module's version Go
// stamped into the binary: a release's tag, or a pseudo-version of the
// commit with +dirty for uncommitted changes; "(devel)" without VCS
// information.
func buildVersion() string {
	if version != "" {
		return version
	}
	if info, ok := debug.ReadBuildInfo(); ok {
		return info.Main.Version
	}
	return "(unknown)"
}

func versionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print airlock's version",
		Args:  noArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintf(cmd.OutOrStdout(), "airlock version %s\n", buildVersion())
		},
	}
}
