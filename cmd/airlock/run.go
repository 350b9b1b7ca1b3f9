package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/airlock-dev/airlock"
	"github.com/airlock-dev/airlock/internal/lang"
	"github.com/airlock-dev/airlock/internal/sandbox"
	"github.com/airlock-dev/airlock/internal/sandbox/native"
	"github.com/airlock-dev/airlock/internal/units"
)

// maxLimits are the ceilings a CLI user may ask for.
var maxLimits = airlock.Limits{Wall: 5 * time.Minute, CPU: 5 * time.Minute, Memory: 8 << 30, Pids: 4096}

func cmdRun(args []string) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: airlock run [-l LANG] [--time D] [--cpu D] [--memory SIZE] [--pids N] [--stdin FILE] [--json] FILE... [-- ARGS...]")
		fs.PrintDefaults()
	}
	langName := fs.String("l", "", "language (default: guessed from the first file's extension)")
	wall := fs.Duration("time", airlock.DefaultLimits.Wall, "wall-clock time limit")
	cpu := fs.Duration("cpu", airlock.DefaultLimits.CPU, "CPU time limit (all processes together)")
	memory := fs.String("memory", "256M", "memory limit (K, M, G suffixes)")
	pids := fs.Int64("pids", airlock.DefaultLimits.Pids, "process and thread limit")
	stdinPath := fs.String("stdin", "", "file to feed on standard input")
	asJSON := fs.Bool("json", false, "print the Result as JSON instead of the program's output")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	files, progArgs := splitArgs(fs.Args())
	lim, err := cliLimits(*wall, *cpu, *memory, *pids)
	if err != nil {
		return usageErr(err)
	}
	if len(files) == 0 {
		return usageErr(fmt.Errorf("no source file given"))
	}
	var recipe lang.Recipe
	if *langName != "" {
		recipe, err = lang.Lookup(*langName)
	} else {
		recipe, err = lang.ForFile(files[0])
	}
	if err != nil {
		return usageErr(err)
	}
	spec := sandbox.Spec{Env: recipe.Env, Limits: lim}
	for _, path := range files {
		content, err := os.ReadFile(path)
		if err != nil {
			return usageErr(err)
		}
		spec.Files = append(spec.Files, sandbox.File{Name: filepath.Base(path), Content: content})
	}
	if *stdinPath != "" {
		if spec.Stdin, err = os.ReadFile(*stdinPath); err != nil {
			return usageErr(err)
		}
	}
	spec.Argv = append(recipe.Run(filepath.Join(sandbox.WorkDir, filepath.Base(files[0]))), progArgs...)

	runner, err := native.New(native.Config{})
	if err != nil {
		fmt.Fprintf(os.Stderr, "airlock: refusing to run unconfined: %v\n(run `airlock doctor` for details)\n", err)
		return 1
	}
	defer runner.Close()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := runner.Run(ctx, spec)
	if err != nil {
		res = sandbox.Result{Status: airlock.StatusInternalError, Message: err.Error(), ExitCode: 1}
	}
	if *asJSON {
		out := struct {
			sandbox.Result
			Stdout string `json:"stdout"`
			Stderr string `json:"stderr"`
		}{res, string(res.Stdout), string(res.Stderr)}
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		enc.Encode(out)
	} else {
		os.Stdout.Write(res.Stdout)
		os.Stderr.Write(res.Stderr)
		if res.Status != airlock.StatusOK && res.Status != airlock.StatusRuntimeError || res.Message != "" {
			fmt.Fprintf(os.Stderr, "airlock: %s: %s\n", res.Status, res.Message)
		}
	}
	if res.Status == airlock.StatusInternalError {
		return 1
	}
	return res.ExitCode
}

// splitArgs separates source files from the program's arguments after "--".
func splitArgs(args []string) (files, progArgs []string) {
	for i, a := range args {
		if a == "--" {
			return args[:i], args[i+1:]
		}
	}
	return args, nil
}

func cliLimits(wall, cpu time.Duration, memory string, pids int64) (airlock.Limits, error) {
	mem, err := units.ParseSize(memory)
	if err != nil {
		return airlock.Limits{}, fmt.Errorf("--memory: %w", err)
	}
	l := airlock.Limits{Wall: wall, CPU: cpu, Memory: mem, Pids: pids}
	switch {
	case wall <= 0 || wall > maxLimits.Wall:
		return l, fmt.Errorf("--time must be in (0, %v]", maxLimits.Wall)
	case cpu <= 0 || cpu > maxLimits.CPU:
		return l, fmt.Errorf("--cpu must be in (0, %v]", maxLimits.CPU)
	case mem < 4<<20 || mem > maxLimits.Memory:
		return l, fmt.Errorf("--memory must be between 4M and %s", units.FormatSize(maxLimits.Memory))
	case pids < 1 || pids > maxLimits.Pids:
		return l, fmt.Errorf("--pids must be between 1 and %d", maxLimits.Pids)
	}
	return l, nil
}

func usageErr(err error) int {
	fmt.Fprintf(os.Stderr, "airlock: %v\n", err)
	return exitUsage
}
