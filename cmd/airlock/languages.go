package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/airlock-dev/airlock/internal/app"
	"github.com/airlock-dev/airlock/internal/engine"
	"github.com/airlock-dev/airlock/internal/lang"
	"github.com/spf13/cobra"
)

// languagesOptions are languages' flags.
type languagesOptions struct {
	all, json bool
	catalog   string
}

func languagesCommand() *cobra.Command {
	var o languagesOptions
	cmd := &cobra.Command{
		Use:   "languages",
		Short: "List the languages this host can run",
		Long:  "List the languages this host can run, each with the version its toolchain reports from inside a sandbox.",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return exited(cmdLanguages(o, cmd.OutOrStdout()))
		},
	}
	fs := cmd.Flags()
	fs.BoolVar(&o.all, "all", false, "also list known languages this host lacks, with the reason")
	fs.BoolVar(&o.json, "json", false, "print JSON")
	fs.StringVar(&o.catalog, "languages", "", "operator language file, on top of the built-in catalog")
	return cmd
}

// cmdLanguages lists the languages this host can run, each with the
// version its toolchain reports from inside a sandbox.
func cmdLanguages(o languagesOptions, out io.Writer) int {
	catalog, err := lang.Load(o.catalog)
	if err != nil {
		return usageErr(err)
	}
	runner, err := app.NewRunner(catalog)
	if err != nil {
		fmt.Fprintf(os.Stderr, "airlock: %v\n", err)
		return 1
	}
	defer runner.Close()
	infos := engine.New(runner, catalog, engine.Options{}).Languages(context.Background(), o.all)
	if o.json {
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
