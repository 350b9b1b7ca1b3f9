// Command airlock runs untrusted code in Linux sandboxes.
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/airlock-dev/airlock/internal/sandbox/native"
)

// exitUsage is the exit code for bad input, as for most CLIs.
const exitUsage = 2

func main() {
	native.Stage() // a re-executed sandbox stage never returns from here
	os.Exit(execute(os.Args[1:]))
}

// execute runs the command line and returns the exit code: 0, the code a
// command ended with, or exitUsage for a command line cobra or a command
// refused (an error other than exitCode), said in one line with where to
// read how to use it.
func execute(args []string) int {
	root := rootCommand()
	root.SetArgs(args)
	cmd, err := root.ExecuteC()
	var code exitCode
	switch {
	case err == nil:
		return 0
	case errors.As(err, &code):
		return int(code)
	}
	fmt.Fprintf(os.Stderr, "airlock: %v (see %s --help)\n", err, cmd.CommandPath())
	return exitUsage
}

// exitCode ends a command that has already said why, with its exit code.
type exitCode int

func (c exitCode) Error() string { return fmt.Sprintf("exit status %d", int(c)) }

// exited is a command's exit code as the error its RunE returns.
func exited(code int) error {
	if code == 0 {
		return nil
	}
	return exitCode(code)
}

func rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:     "airlock",
		Short:   "Run untrusted code in Linux sandboxes, from the command line or behind an HTTP API",
		Version: buildVersion(),
		Args:    cobra.NoArgs,
		// Errors are said once, in one line, by execute.
		SilenceErrors: true,
		SilenceUsage:  true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cmd.Usage() // to stderr: a command is missing
			return exitCode(exitUsage)
		},
	}
	root.AddCommand(serveCommand(), workerCommand(), runCommand(), languagesCommand(),
		doctorCommand(), keyCommand(), benchCommand(), versionCommand())
	root.InitDefaultCompletionCmd() // now, so that it too needs a command
	for _, cmd := range root.Commands() {
		if !cmd.Runnable() && cmd.HasSubCommands() {
			needCommand(cmd)
		}
	}
	return root
}

// needCommand makes a command that only groups others ("key",
// "completion") refuse to run alone or with an unknown command, as a
// usage error; cobra would print its help and exit 0.
func needCommand(cmd *cobra.Command) {
	cmd.Args = cobra.NoArgs
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		return fmt.Errorf("%s needs a command", cmd.CommandPath())
	}
}

// noArgs refuses arguments to a command that takes only flags.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return fmt.Errorf("%s takes no arguments, got %q", cmd.Name(), args[0])
	}
	return nil
}
