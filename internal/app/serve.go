package app

import (
	"context"
	"log/slog"
	"net"
	"os/signal"
	"syscall"

	"github.com/airlock-dev/airlock/internal/config"
)

// Serve runs a process of one of three kinds until SIGTERM or SIGINT:
// the API with workers (the embedded default), the API alone (the
// config's NoWorkers), or workers alone (worker).
func Serve(cfg *config.Config, log *slog.Logger, worker bool) error {
	a, err := New(cfg, Options{Worker: worker, Log: log})
	if err != nil {
		return err
	}
	defer a.Close()
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	return a.Run(ctx, ln)
}
