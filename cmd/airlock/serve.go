package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"

	"github.com/airlock-dev/airlock/internal/app"
	"github.com/airlock-dev/airlock/internal/auth"
	"github.com/airlock-dev/airlock/internal/config"
)

// start runs command, serve or worker, with the settings of its flags,
// the environment and the config file.
func start(command string, flags *config.Flags) int {
	cfg, err := flags.Load(os.Getenv)
	if err != nil {
		return usageErr(err)
	}
	var handler slog.Handler = slog.NewTextHandler(os.Stderr, nil)
	if cfg.LogFormat == "json" {
		handler = slog.NewJSONHandler(os.Stderr, nil)
	}
	log := slog.New(handler)
	slog.SetDefault(log)
	worker := command == "worker"
	switch {
	case worker && cfg.NoWorkers:
		return usageErr(errors.New("a worker with --no-workers would do nothing"))
	case (worker || cfg.NoWorkers) && cfg.Queue == "":
		return usageErr(errNoFleetQueue)
	case !worker && len(cfg.Keys) == 0 && !cfg.InsecureOpen && !loopback(cfg.Addr):
		return usageErr(config.ErrOpen)
	}
	if err := serve(cfg, log, worker); err != nil {
		log.Error("airlock "+command+" stopped", "err", err)
		return 1
	}
	return 0
}

func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// serve runs a process of one of three kinds: the API with workers (the
// embedded default), the API alone (--no-workers), or workers alone.
func serve(cfg *config.Config, log *slog.Logger, worker bool) error {
	return app.Serve(cfg, log, worker)
}

// errNoFleetQueue refuses a node that can only work in a fleet.
var errNoFleetQueue = errors.New("an API-only or worker-only node needs the fleet's shared queue: --queue redis://… (and --store postgres://…, --blobs s3://… for nodes on several hosts)")

// cmdKey makes an API key: a random token to give the client, and the
// config lines that accept it (only its hash is stored).
func cmdKey(id string, out io.Writer) {
	var b [24]byte
	rand.Read(b[:])
	token := hex.EncodeToString(b[:])
	fmt.Fprintf(out, "token (give it to the client, it is not stored): %s\n\nconfig file:\nkeys:\n  - id: %s\n    sha256: %s\n    rate: 10        # requests per second\n    max_active: 4   # unfinished jobs at once\n", token, id, auth.HashToken(token))
}
