package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/airlock-dev/airlock"
	"github.com/airlock-dev/airlock/internal/app"
	"github.com/airlock-dev/airlock/internal/bench"
	"github.com/airlock-dev/airlock/internal/engine"
	"github.com/airlock-dev/airlock/internal/lang"
	"github.com/spf13/cobra"
)

// benchPrograms are the hello worlds the bench runs, by catalog id.
var benchPrograms = map[string]string{
	"python":     "print('hello')\n",
	"javascript": "console.log('hello')\n",
}

// benchOptions are bench's flags.
type benchOptions struct {
	n, pool           int
	levels, languages string
	limit             time.Duration
	requirement       string // npm spec of the environments' rows; "" skips them
}

func benchCommand() *cobra.Command {
	var o benchOptions
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Time a hello world bare, sandboxed and through HTTP",
		Long: `Time a hello world per language run bare, in a new sandbox, in a warm-pool sandbox and through
a local server's HTTP API (with its warm pool), at several concurrencies, each against bare exec;
then what environments cost: a first build, a run with a cached environment against one with none,
and a numpy calculation in a preloaded pool against a bare python3 -c "import numpy".`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return exited(cmdBench(o, cmd.OutOrStdout()))
		},
	}
	fs := cmd.Flags()
	fs.IntVar(&o.n, "n", 40, "runs per measurement")
	fs.StringVar(&o.levels, "concurrency", "1,2,8,32", "concurrency levels, comma-separated")
	fs.StringVar(&o.languages, "languages", "python,javascript", "languages to measure")
	fs.DurationVar(&o.limit, "max-time", 10*time.Minute, "stop (and fail) after this long")
	fs.IntVar(&o.pool, "pool", 4, "warm pool size per language for the warm-pool and HTTP paths")
	fs.StringVar(&o.requirement, "environment", "is-number@7.0.0", `npm package of the environments' rows (first build from the registry, cached run), then a preloaded numpy calculation; "" skips them`)
	return cmd
}

// cmdBench measures a hello world per language run bare, in a new
// sandbox, in a warm-pool sandbox and through a local server's HTTP API
// (with its warm pool), at several concurrencies, and prints each against
// bare exec.
func cmdBench(o benchOptions, out io.Writer) int {
	var concurrency []int
	for f := range strings.SplitSeq(o.levels, ",") {
		c, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || c <= 0 {
			return usageErr(fmt.Errorf("--concurrency: %q is not a positive number", f))
		}
		concurrency = append(concurrency, c)
	}
	if o.n <= 0 || o.n > 10000 {
		return usageErr(fmt.Errorf("--n: want 1 to 10000 runs"))
	}
	if o.pool <= 0 || o.pool > 256 {
		return usageErr(fmt.Errorf("--pool: want 1 to 256 sandboxes"))
	}
	catalog, err := lang.Load("")
	if err != nil {
		return fail(err)
	}
	var ids []string
	for id := range strings.SplitSeq(o.languages, ",") {
		if _, ok := benchPrograms[id]; !ok {
			return usageErr(fmt.Errorf("--languages: no bench program for %q (have python, javascript)", id))
		}
		ids = append(ids, id)
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.limit)
	defer cancel()
	if err := runBench(ctx, out, catalog, ids, o.n, o.pool, concurrency, o.requirement); err != nil {
		return fail(err)
	}
	return 0
}

func fail(err error) int {
	fmt.Fprintln(os.Stderr, "airlock:", err)
	return 1
}

func runBench(ctx context.Context, out io.Writer, catalog *lang.Catalog, ids []string, n, poolSize int, concurrency []int, requirement string) error {
	runner, err := app.NewRunner(catalog)
	if err != nil {
		return fmt.Errorf("sandbox: %w (run `airlock doctor`)", err)
	}
	defer runner.Close()
	cold := engine.New(runner, catalog, engine.Options{})
	warm := engine.New(runner, catalog, engine.Options{})
	pools := map[string]engine.PoolConfig{}
	var sizes []string
	for _, id := range ids {
		pools[id] = engine.PoolConfig{Size: poolSize}
		sizes = append(sizes, fmt.Sprintf("%s=%d", id, poolSize))
	}
	if err := warm.StartPools(pools, slog.New(slog.DiscardHandler)); err != nil {
		return err
	}
	defer warm.Close()
	server, stop, err := startBenchServer(ctx, strings.Join(sizes, ","))
	if err != nil {
		return err
	}
	defer stop()

	w := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	memory := map[string]float64{} // MiB per idle pooled sandbox, by language
	fmt.Fprintln(w, "program\tpath\tconcurrency\tn\tp50 ms\tp95 ms\tp99 ms\truns/s\tp50 ÷ bare\truns/s ÷ bare\tfrom pool\t")
	for _, id := range ids {
		l, err := catalog.Lookup(id)
		if err != nil {
			return err
		}
		if err := l.Available(); err != nil {
			return fmt.Errorf("%s: %w", id, err)
		}
		dir, err := os.MkdirTemp("", "airlock-bench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		code := benchPrograms[id]
		if err := os.WriteFile(filepath.Join(dir, l.File), []byte(code), 0o644); err != nil {
			return err
		}
		argv := lang.Expand(l.Run, lang.Vars{Entry: l.File, Sources: []string{l.File}})
		req := airlock.Request{Language: id, Files: []airlock.File{{Name: l.File, Content: []byte(code)}}}
		body, _ := json.Marshal(map[string]string{"language": id, "code": code})
		execute := func(e *engine.Engine) func(context.Context) error {
			return func(ctx context.Context) error {
				res, err := e.Execute(ctx, req)
				if err == nil && (res.Status != airlock.StatusOK || string(res.Stdout) != "hello\n") {
					err = fmt.Errorf("%s %q", res.Status, res.Stderr)
				}
				return err
			}
		}
		paths := []benchPath{
			{name: "bare exec", op: func(ctx context.Context) error {
				cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
				cmd.Dir, cmd.Env = dir, l.Env
				if out, err := cmd.CombinedOutput(); err != nil || string(out) != "hello\n" {
					return fmt.Errorf("bare %s: %v %q", id, err, out)
				}
				return nil
			}},
			{name: "cold sandbox", op: execute(cold)},
			{name: "warm pool", op: execute(warm), pool: func() (poolCounts, error) {
				s := warm.PoolStats()[id]
				return poolCounts{float64(s.Hits), float64(s.Misses), s.Ready == s.Size}, nil
			}},
			{name: "HTTP ?wait=true", op: func(ctx context.Context) error { return postAndCheck(ctx, server, body) },
				pool: func() (poolCounts, error) { return scrapePool(ctx, server, id) }},
		}
		// The same two, each call made once the pool is full again: what a
		// request costs when it finds a sandbox waiting, the case a pool is
		// for. Back to back, calls outrun the refills.
		for _, p := range paths[2:] {
			p.name += ", paced"
			p.paced = true
			paths = append(paths, p)
		}
		// Warm both the interpreter's files in the page cache and the
		// sandbox keepers before anything is timed.
		for _, p := range paths {
			if err := p.op(ctx); err != nil {
				return err
			}
		}
		for _, c := range concurrency {
			var bare bench.Stats
			for i, p := range paths {
				if p.paced && c != 1 {
					continue
				}
				s, fromPool, err := p.measure(ctx, n, c)
				if err != nil {
					return fmt.Errorf("%s %s at %d: %w", id, p.name, c, err)
				}
				if i == 0 {
					bare = s
				}
				rate, ratio := fmt.Sprintf("%.0f", s.PerSecond), fmt.Sprintf("%.2f", s.PerSecond/bare.PerSecond)
				if p.paced {
					rate, ratio = "-", "-"
				}
				fmt.Fprintf(w, "%s hello\t%s\t%d\t%d\t%.1f\t%.1f\t%.1f\t%s\t%.2f\t%s\t%s\t\n", id, p.name, c, s.N,
					millis(s.P50), millis(s.P95), millis(s.P99), rate, float64(s.P50)/float64(bare.P50), ratio, fromPool)
			}
		}
		if _, err := waitPoolFull(ctx, paths[2].pool); err != nil {
			return err
		}
		idle := warm.PoolStats()[id]
		memory[id] = float64(idle.MemoryBytes) / float64(max(idle.Ready, 1)) / (1 << 20)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	for _, id := range ids {
		fmt.Fprintf(out, "memory of an idle pooled %s sandbox: %.1f MiB\n", id, memory[id])
	}
	if requirement == "" {
		return nil
	}
	fmt.Fprintln(out)
	return benchEnvironments(ctx, out, runner, catalog, n, requirement)
}

// benchPath is one way of running the program; pool, when set, reads the
// warm pool the path uses.
type benchPath struct {
	name  string
	op    func(context.Context) error
	pool  func() (poolCounts, error)
	paced bool // each call once the pool is full
}

// poolCounts are a warm pool's hit and miss counters, and whether it is
// full now.
type poolCounts struct {
	hits, misses float64
	full         bool
}

// measure times p. A path with a pool starts each measurement with the
// pool full, and says how many runs took a ready sandbox.
func (p benchPath) measure(ctx context.Context, n, c int) (bench.Stats, string, error) {
	if p.pool == nil {
		s, err := bench.Measure(ctx, n, c, p.op)
		return s, "-", err
	}
	before, err := waitPoolFull(ctx, p.pool)
	if err != nil {
		return bench.Stats{}, "", err
	}
	var s bench.Stats
	if p.paced {
		s, err = bench.MeasurePaced(ctx, n, func(ctx context.Context) error {
			_, err := waitPoolFull(ctx, p.pool)
			return err
		}, p.op)
	} else {
		s, err = bench.Measure(ctx, n, c, p.op)
	}
	if err != nil {
		return s, "", err
	}
	after, err := p.pool()
	if err != nil {
		return s, "", err
	}
	return s, fmt.Sprintf("%.0f/%.0f", after.hits-before.hits, after.hits-before.hits+after.misses-before.misses), nil
}

func waitPoolFull(ctx context.Context, pool func() (poolCounts, error)) (poolCounts, error) {
	for {
		c, err := pool()
		if err != nil || c.full {
			return c, err
		}
		select {
		case <-ctx.Done():
			return c, ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// scrapePool reads a language's warm pool counters from the server's
// /metrics.
func scrapePool(ctx context.Context, server, id string) (poolCounts, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, server+"/metrics", nil)
	if err != nil {
		return poolCounts{}, err
	}
	resp, err := benchClient.Do(req)
	if err != nil {
		return poolCounts{}, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return poolCounts{}, err
	}
	values := map[string]float64{}
	suffix := `{language="` + id + `"}`
	for line := range strings.SplitSeq(string(data), "\n") {
		name, value, ok := strings.Cut(line, " ")
		if metric, ok2 := strings.CutSuffix(name, suffix); ok && ok2 {
			values[metric], _ = strconv.ParseFloat(value, 64)
		}
	}
	if _, ok := values["airlock_pool_size"]; !ok {
		return poolCounts{}, fmt.Errorf("the server's /metrics has no warm pool for %s", id)
	}
	return poolCounts{
		hits: values["airlock_pool_hits_total"], misses: values["airlock_pool_misses_total"],
		full: values["airlock_pool_ready"] == values["airlock_pool_size"],
	}, nil
}

func millis(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// startBenchServer runs `airlock serve` as a separate process on a free
// loopback port with a throwaway data dir and the given warm pools, as a
// client would find it.
func startBenchServer(ctx context.Context, pools string) (string, func(), error) {
	exe, err := os.Executable()
	if err != nil {
		return "", nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	data, err := os.MkdirTemp("", "airlock-bench-data-")
	if err != nil {
		return "", nil, err
	}
	var logs bytes.Buffer
	cmd := exec.Command(exe, "serve", "--addr", addr, "--data", data, "--pool", pools)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		os.RemoveAll(data)
		return "", nil, err
	}
	stop := func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
		os.RemoveAll(data)
	}
	url := "http://" + addr
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		resp, err := http.Get(url + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return url, stop, nil
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			stop()
			return "", nil, fmt.Errorf("the bench server did not start: %s", logs.String())
		}
	}
}

// benchClient keeps a connection per concurrent caller, as a client
// library would.
var benchClient = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}

func postAndCheck(ctx context.Context, url string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+"/v1/executions?wait=true", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := benchClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var job struct {
		Status string `json:"status"`
		Stdout string `json:"stdout"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&job); err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK || job.Status != "ok" || job.Stdout != "hello\n" {
		return errors.New("HTTP: " + resp.Status + " " + job.Status + " " + job.Stdout)
	}
	return nil
}
