package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/airlock-dev/airlock/internal/app"
	"github.com/airlock-dev/airlock/internal/engine"
	"github.com/airlock-dev/airlock/internal/lang"
)

// cmdLanguages lists the languages this host can run, each with the
// version its toolchain reports from inside a sandbox.
func cmdLanguages(args []string, out io.Writer) int {
	fs := flag.NewFlagSet("languages", flag.ContinueOnError)
	all := fs.Bool("all", false, "also list known languages this host lacks, with the reason")
	asJSON := fs.Bool("json", false, "print JSON")
	catalogFile := fs.String("languages", "", "operator language file, on top of the built-in catalog")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if fs.NArg() > 0 {
		return usageErr(fmt.Errorf("languages takes no arguments"))
	}
	catalog, err := lang.Load(*catalogFile)
	if err != nil {
		return usageErr(err)
	}
	runner, err := app.NewRunner(catalog)
	if err != nil {
		fmt.Fprintf(os.Stderr, "airlock: %v\n", err)
		return 1
	}
	defer runner.Close()
	infos := engine.New(runner, catalog, engine.Options{}).Languages(context.Background(), *all)
	if *asJSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		enc.Encode(infos)
		return 0
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tVERSION\tALIASES\tSTATUS")
	for _, l := range infos {
		status := "ok"
		if !l.Available {
			status = "missing: " + l.Reason
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", l.ID, l.Name, l.Version, strings.Join(l.Aliases, ","), status)
	}
	tw.Flush()
	return 0
}
