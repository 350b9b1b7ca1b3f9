package main

import (
	"os"

	"github.com/spf13/cobra"

	"github.com/airlock-dev/airlock/internal/config"
)

func serveCommand() *cobra.Command {
	return serverCommand("serve", "Serve the HTTP API and run its jobs",
		`Serve the HTTP API and run its jobs until SIGTERM or SIGINT, then drain and exit 0. The store,
queue and payloads are embedded under --data unless --store, --queue and --blobs name a fleet's;
with --no-workers only the API, for a fleet whose jobs run on worker nodes.`)
}

func workerCommand() *cobra.Command {
	return serverCommand("worker", "Run only workers, taking jobs from a fleet's queue",
		`Run only workers, taking jobs from a fleet's queue (--queue), and serve /healthz and /metrics
on --addr, until SIGTERM or SIGINT.`)
}

// serverCommand is a command that runs a server process (serve, worker)
// with every setting of the config as a flag.
func serverCommand(name, short, long string) *cobra.Command {
	var flags *config.Flags
	cmd := &cobra.Command{
		Use:   name,
		Short: short,
		Long: long + `

Each flag may also be set in the config file (as max_queue for --max-queue) or the environment
variable it names; flags win over the environment, which wins over the file.`,
		Args: noArgs,
		RunE: func(*cobra.Command, []string) error { return exited(start(name, flags)) },
	}
	flags = config.Bind(cmd.Flags(), os.Getenv)
	return cmd
}

func keyCommand() *cobra.Command {
	key := &cobra.Command{Use: "key", Short: "Make API keys"}
	key.AddCommand(&cobra.Command{
		Use:   "new ID",
		Short: "Make an API key",
		Long:  "Make an API key: print a random token to give the client, and the config file lines that accept it (only its hash is stored).",
		Args:  cobra.ExactArgs(1),
		Run:   func(cmd *cobra.Command, args []string) { cmdKey(args[0], cmd.OutOrStdout()) },
	})
	return key
}
