// Command airlock runs untrusted code in Linux sandboxes.
package main

import (
	"fmt"
	"os"

	"github.com/airlock-dev/airlock/internal/sandbox/native"
)

const usage = `usage: airlock <command> [flags]

commands:
  serve      the HTTP API and workers (embedded store and queue, or a fleet's
             with --store, --queue, --blobs; --no-workers for the API alone)
  worker     only workers, taking jobs from a fleet's queue
  run        run source files in a sandbox
  languages  list the languages this host can run (--all: and those it lacks)
  doctor     check that this host can sandbox safely
  key new ID make an API key
  bench      time a hello world bare, sandboxed and through HTTP
`

// exitUsage is the exit code for bad input, as for most CLIs.
const exitUsage = 2

func main() {
	native.Stage() // a re-executed sandbox stage never returns from here
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(exitUsage)
	}
	var code int
	switch os.Args[1] {
	case "run":
		code = cmdRun(os.Args[2:])
	case "serve":
		code = cmdServe(os.Args[2:])
	case "worker":
		code = cmdWorker(os.Args[2:])
	case "key":
		code = cmdKey(os.Args[2:], os.Stdout)
	case "languages":
		code = cmdLanguages(os.Args[2:], os.Stdout)
	case "bench":
		code = cmdBench(os.Args[2:], os.Stdout)
	case "doctor":
		code = cmdDoctor(os.Args[2:], os.Stdout)
	case "-h", "--help", "help":
		fmt.Print(usage)
	default:
		fmt.Fprintf(os.Stderr, "airlock: unknown command %q\n%s", os.Args[1], usage)
		code = exitUsage
	}
	os.Exit(code)
}
