package app

import (
	"context"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/airlock-dev/airlock/internal/conns"
)

// The bounds on a connection's client (see conns.Deadlines): to send a
// request's headers, its body, to take each write of the response, and
// to keep an idle connection open. Ample for any client that is not
// holding the connection on purpose.
const (
	headerTimeout = 10 * time.Second
	bodyTimeout   = time.Minute
	writeTimeout  = 30 * time.Second
	idleTimeout   = time.Minute
)

// answerTime is how long requests have to answer on shutdown once the
// jobs they wait for have finished or gone back to the queue.
const answerTime = 5 * time.Second

// Run serves on ln and runs the workers until ctx ends, then shuts down
// in order (see shutdown); or until serving or the workers fail.
func (a *App) Run(ctx context.Context, ln net.Listener) error {
	maxConns := a.cfg.MaxConnections
	if maxConns == 0 {
		maxConns = conns.DefaultMax()
	}
	limited := conns.Limit(ln, maxConns)
	srv, handling := a.server(limited)
	running, stopWorkers := context.WithCancel(context.Background())
	defer stopWorkers()
	// Before the first request is served: a client that sees this node up
	// finds its workers announced to the fleet.
	if err := a.svc.Announce(ctx); err != nil {
		a.opt.Log.Warn("announce this node's workers", "err", err)
	}
	workersDone := make(chan error, 1)
	go func() { workersDone <- a.svc.Run(running) }()
	if !a.opt.Worker {
		go a.svc.SweepLost(running) // the API nodes look after what they accepted
		go a.svc.RunRetention(running)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(limited) }()
	total, _ := a.svc.Workers()
	cfg := a.cfg
	a.opt.Log.Info("airlock serving", "addr", ln.Addr().String(), "api", !a.opt.Worker, "open", !a.opt.Worker && len(cfg.Keys) == 0, "workers", total, "max_connections", maxConns,
		"store", kind(cfg.Store, "sqlite"), "queue", kind(cfg.Queue, "embedded"), "blobs", kind(cfg.Blobs, "local"))

	select {
	case <-ctx.Done():
	case err := <-served:
		return err
	case err := <-workersDone:
		srv.Close()
		return err
	}
	return a.shutdown(srv, handling, stopWorkers, workersDone)
}

// server is the HTTP server of the handler on a limited listener, with
// the clients' deadlines, and the requests it is serving (WebSocket
// sessions included).
func (a *App) server(limited *conns.Listener) (*http.Server, *sync.WaitGroup) {
	handling := &sync.WaitGroup{}
	srv := &http.Server{
		Handler: conns.Deadlines(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			handling.Add(1)
			defer handling.Done()
			a.handler.ServeHTTP(w, r)
		}), bodyTimeout, writeTimeout),
		ReadHeaderTimeout: headerTimeout, IdleTimeout: idleTimeout, ConnState: limited.ConnState,
	}
	return srv, handling
}

// shutdown stops the service in order: no new connections; running jobs
// finish within the grace period or go back to the queue, which releases
// the requests waiting for them; those answer (the result, or the job's
// id) before the store closes. It returns the workers' error.
func (a *App) shutdown(srv *http.Server, handling *sync.WaitGroup, stopWorkers func(), workersDone <-chan error) error {
	log := a.opt.Log
	log.Info("shutting down: no new requests; running jobs finish or go back to the queue")
	answering, cut := context.WithCancel(context.Background())
	defer cut()
	answered := make(chan error, 1)
	go func() { answered <- srv.Shutdown(answering) }()
	stopWorkers()
	err := <-workersDone
	late := time.After(answerTime)
	select {
	case <-answered:
		// No request can start any more: wait for the WebSocket
		// sessions, which Shutdown does not, to end with their jobs.
		if !waitUntil(late, handling.Wait) {
			log.Warn("shutdown: sessions still open are abandoned")
		}
	case <-late:
		log.Warn("shutdown: requests still being served are cut")
		cut()
		srv.Close()
	}
	log.Info("stopped")
	return err
}

// waitUntil runs wait until it returns or until late; false if late.
func waitUntil(late <-chan time.Time, wait func()) bool {
	done := make(chan struct{})
	go func() {
		wait()
		close(done)
	}()
	select {
	case <-done:
		return true
	case <-late:
		return false
	}
}

// kind names a backend for the log without its URL, which may hold a
// password.
func kind(url, embedded string) string {
	if url == "" {
		return embedded
	}
	scheme, _, _ := strings.Cut(url, "://")
	return scheme
}
