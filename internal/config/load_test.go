package config

import (
	"fmt"
	"io"

	"github.com/spf13/pflag"
)

// Load reads the settings with args as serve's flags, as the serve
// command does; on -h or --help it writes the flags' usage to usage and
// returns pflag.ErrHelp.
func Load(args []string, getenv func(string) string, usage io.Writer) (*Config, error) {
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	fs.SetOutput(usage)
	f := Bind(fs, getenv)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	return f.Load(getenv)
}
