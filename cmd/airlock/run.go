package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/airlock-dev/airlock"
	"github.com/airlock-dev/airlock/internal/app"
	"github.com/airlock-dev/airlock/internal/config"
	"github.com/airlock-dev/airlock/internal/deps"
	"github.com/airlock-dev/airlock/internal/engine"
	"github.com/airlock-dev/airlock/internal/lang"
	"github.com/airlock-dev/airlock/internal/sandbox"
	"github.com/airlock-dev/airlock/internal/units"
	"github.com/airlock-dev/airlock/internal/wire"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// runOptions are run's flags.
type runOptions struct {
	language, memory, stdin, catalog string
	requirements                     string // a requirements file
	wall, cpu                        time.Duration
	pids                             int64
	json                             bool
}

func runCommand() *cobra.Command {
	var o runOptions
	cmd := &cobra.Command{
		Use:   "run [flags] FILE... [-- ARGS...]",
		Short: "Run source files in a sandbox",
		Long: `Run source files in a sandbox, the language guessed from the first file's extension unless -l
names it; ARGS after -- are the program's. The program's output streams as it runs; it reads this
process's stdin unless --stdin gives a file. -r names a requirements file: for Python pip's format
(one PEP 508 requirement a line), for JavaScript and TypeScript one npm package spec a line; # starts
a comment. Exits with the program's exit code.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			files, progArgs := splitArgs(args, cmd.ArgsLenAtDash())
			return exited(cmdRun(o, cmd.Flags(), files, progArgs))
		},
	}
	fs := cmd.Flags()
	fs.StringVarP(&o.language, "language", "l", "", "language (default: guessed from the first file's extension)")
	fs.DurationVar(&o.wall, "time", airlock.DefaultLimits.Wall, "wall-clock time limit")
	fs.DurationVar(&o.cpu, "cpu", airlock.DefaultLimits.CPU, "CPU time limit (all processes together)")
	fs.StringVar(&o.memory, "memory", "256M", "memory limit (K, M, G suffixes)")
	fs.Int64Var(&o.pids, "pids", airlock.DefaultLimits.Pids, "process and thread limit")
	fs.StringVarP(&o.requirements, "requirements", "r", "", "requirements file: the packages the program imports")
	fs.StringVar(&o.stdin, "stdin", "", "file to feed on standard input (default: this process's stdin)")
	fs.BoolVar(&o.json, "json", false, "print the Result as JSON instead of the program's output")
	fs.StringVar(&o.catalog, "languages", "", "operator language file, on top of the built-in catalog")
	return cmd
}

// cmdRun runs files with o; flags tell which limits the user set.
func cmdRun(o runOptions, flags *pflag.FlagSet, files, progArgs []string) int {
	if len(files) == 0 {
		return usageErr(fmt.Errorf("no source file given"))
	}
	catalog, err := lang.Load(o.catalog)
	if err != nil {
		return usageErr(err)
	}
	req := airlock.Request{Language: o.language, Args: progArgs}
	if req.Limits, err = cliLimits(flags, o); err != nil {
		return usageErr(err)
	}
	if req.Language == "" {
		l, err := catalog.ForFile(files[0])
		if err != nil {
			return usageErr(fmt.Errorf("%v: use -l", err))
		}
		req.Language = l.ID
	}
	for _, path := range files {
		content, err := os.ReadFile(path)
		if err != nil {
			return usageErr(err)
		}
		req.Files = append(req.Files, airlock.File{Name: filepath.Base(path), Content: content})
	}
	if o.stdin != "" {
		if req.Stdin, err = os.ReadFile(o.stdin); err != nil {
			return usageErr(err)
		}
	}
	if o.requirements != "" {
		body, err := os.ReadFile(o.requirements)
		if err != nil {
			return usageErr(fmt.Errorf("--requirements: %w", err))
		}
		req.Requirements = deps.SplitFile(string(body))
	}
	runner, err := app.NewRunner(catalog)
	if err != nil {
		fmt.Fprintf(os.Stderr, "airlock: refusing to run unconfined: %v\n(run `airlock doctor` for details)\n", err)
		return 1
	}
	defer runner.Close()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var stdin io.Reader = os.Stdin
	if o.stdin != "" {
		stdin = nil
	} else {
		// Started in the background of an interactive shell, reading the
		// terminal would stop this process, its limits' clocks with it:
		// the read fails instead, and the program sees the end of input.
		signal.Ignore(syscall.SIGTTIN)
	}
	var stdout, stderr io.Writer = os.Stdout, os.Stderr
	if o.json {
		stdout, stderr = io.Discard, io.Discard
	}
	eng, err := runEngine(runner, catalog, req)
	if err != nil {
		fmt.Fprintf(os.Stderr, "airlock: %v\n", err)
		return 1
	}
	res, err := eng.ExecuteLive(ctx, req, attach(stdin, stdout, stderr))
	var bad *engine.InvalidError
	switch {
	case errors.As(err, &bad) && strings.HasPrefix(bad.Field, "requirements"):
		return usageErr(fmt.Errorf("%s: %w", o.requirements, err))
	case errors.As(err, &bad):
		return usageErr(err)
	case ctx.Err() != nil:
		// Interrupted, as a shell reports it: 128 + SIGINT.
		res.Step = airlock.Step{Status: airlock.StatusCancelled, Message: "interrupted", ExitCode: 130}
	case err != nil:
		res.Step = airlock.Step{Status: airlock.StatusInternalError, Message: err.Error(), ExitCode: 1}
	}
	if o.json {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		enc.Encode(wire.ResultOf(res))
	} else if res.Status != airlock.StatusOK && res.Status != airlock.StatusRuntimeError || res.Message != "" {
		fmt.Fprintf(os.Stderr, "airlock: %s: %s\n", res.Status, res.Message)
	}
	switch res.Status {
	case airlock.StatusInternalError, airlock.StatusCompileError, airlock.StatusDependencyError:
		return 1
	}
	return res.ExitCode
}

// runEngine is the engine of a run. A run with requirements builds its
// environment, or takes it from the cache, in AIRLOCK_ENVS_DIR, else
// defaultEnvsDir; the installers' settings come from the server's
// AIRLOCK_* variables and the installers' own (PIP_INDEX_URL, ...).
func runEngine(runner sandbox.Runner, catalog *lang.Catalog, req airlock.Request) (*engine.Engine, error) {
	opt := engine.Options{}
	if len(req.Requirements) > 0 {
		cfg, err := config.FromEnv(os.Getenv)
		if err != nil {
			return nil, err
		}
		if cfg.EnvsDir == "" {
			cfg.EnvsDir = defaultEnvsDir
		}
		envs, err := app.OpenEnvironments(cfg, runner, nil, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
		if err != nil {
			return nil, err
		}
		opt.Environments = envs
	}
	return engine.New(runner, catalog, opt), nil
}

// defaultEnvsDir is where `airlock run` keeps environments: beside the
// Go compiler cache, where the sandboxes' uids can reach them.
const defaultEnvsDir = "/var/cache/airlock/envs"

// attach connects the run as a terminal would, as nsjail or bwrap do: the
// program's output is written out as it comes (a compiler's goes to
// stderr), and stdin, when not nil, is fed to the run step only, so that
// no compile step swallows it.
func attach(stdin io.Reader, stdout, stderr io.Writer) *engine.Session {
	sess := &engine.Session{
		Output: func(step, stream string, data []byte) {
			if step == "run" && stream == "stdout" {
				stdout.Write(data)
			} else {
				stderr.Write(data)
			}
		},
		Stage: func(string) {},
		Exit:  func(string, airlock.Step) {},
	}
	if stdin == nil {
		return sess
	}
	chunks, running := make(chan []byte), make(chan struct{})
	var once sync.Once
	sess.Stdin = chunks
	sess.Stage = func(step string) {
		if step == "run" {
			once.Do(func() { close(running) })
		}
	}
	go func() {
		<-running
		defer close(chunks)
		for {
			buf := make([]byte, 32<<10)
			n, err := stdin.Read(buf)
			if n > 0 {
				chunks <- buf[:n]
			}
			if err != nil {
				return
			}
		}
	}()
	return sess
}

// splitArgs separates source files from the program's arguments, which
// follow "--": dash is how many arguments came before it, -1 without one.
func splitArgs(args []string, dash int) (files, progArgs []string) {
	if dash < 0 {
		return args, nil
	}
	return args[:dash], args[dash:]
}

// cliLimits reads the limit flags the user set; the others stay zero, so
// the language's defaults apply.
func cliLimits(flags *pflag.FlagSet, o runOptions) (airlock.Limits, error) {
	var l airlock.Limits
	if flags.Changed("time") {
		if o.wall <= 0 || o.wall > airlock.MaxLimits.Wall {
			return l, fmt.Errorf("--time must be in (0, %v]", airlock.MaxLimits.Wall)
		}
		l.Wall = o.wall
	}
	if flags.Changed("cpu") {
		if o.cpu <= 0 || o.cpu > airlock.MaxLimits.CPU {
			return l, fmt.Errorf("--cpu must be in (0, %v]", airlock.MaxLimits.CPU)
		}
		l.CPU = o.cpu
	}
	if flags.Changed("memory") {
		mem, err := units.ParseSize(o.memory)
		if err != nil {
			return l, fmt.Errorf("--memory: %w", err)
		}
		if mem < 4<<20 || mem > airlock.MaxLimits.Memory {
			return l, fmt.Errorf("--memory must be between 4M and %s", units.FormatSize(airlock.MaxLimits.Memory))
		}
		l.Memory = mem
	}
	if flags.Changed("pids") {
		if o.pids < 1 || o.pids > airlock.MaxLimits.Pids {
			return l, fmt.Errorf("--pids must be between 1 and %d", airlock.MaxLimits.Pids)
		}
		l.Pids = o.pids
	}
	return l, nil
}

func usageErr(err error) int {
	fmt.Fprintf(os.Stderr, "airlock: %v\n", err)
	return exitUsage
}
