package jobs

import (
	"context"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/airlock-dev/airlock"
)

// Capability names what a worker must be able to run to take a job: the
// key its job is queued under (airlock.Queue routes by it) and what
// worker nodes announce. It is airlock.EnvironmentCapability of the operator's named
// environment the job asks for, which the nodes that started that
// environment serve; else the id of the job's language in the catalog
// ("python"; Job.Language, never an alias), which a node serves when the
// language's toolchain is installed there (Executor.Capabilities). It
// reads j.Request, which must be loaded (payloads.capability does).
func Capability(j *airlock.Job) string {
	if j.Request != nil && j.Request.Environment != "" {
		return airlock.EnvironmentCapability(j.Request.Environment)
	}
	return j.Language
}

// capability loads j's request, if need be, and gives its capability.
func (p *payloads) capability(ctx context.Context, j *airlock.Job) (string, error) {
	if err := p.loadRequest(ctx, j); err != nil {
		return "", err
	}
	return Capability(j), nil
}

// capabilities are what a node's workers serve: the executor's, or none
// for a node without workers.
func capabilities(exec Executor, workers int) []string {
	if workers <= 0 {
		return nil
	}
	return slices.Clone(exec.Capabilities())
}

// nodeName names this process among the worker nodes that announce
// themselves: the host, the process id and a random suffix, so that two
// services of one process (tests) are two nodes.
func nodeName() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "unknown"
	}
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), newID()[:8])
}

// serves says whether this node's workers run jobs of a capability.
func (w *workers) serves(capability string) bool { return slices.Contains(w.caps, capability) }

// routable refuses a job of a capability that no live worker serves: it
// would wait in the queue for ever. This node's own workers count from
// the start, before their first announcement reaches the queue.
func (s *Service) routable(ctx context.Context, capability string) error {
	if s.workers.serves(capability) {
		return nil
	}
	ok, err := s.reqQueue.Served(ctx, capability)
	if err != nil {
		return lost("queue", err)
	}
	if !ok {
		return fmt.Errorf("%w: no live worker serves %s; start one with it or try later", airlock.ErrUnavailable, capability)
	}
	return nil
}

// Announce tells the queue what this node's workers serve, for a lease
// time; Run repeats it three times per lease time while the workers run
// and withdraws it when they stop. A process calls it once before it
// answers requests too, so that a client who sees it up finds its
// workers announced. It does nothing on a node without workers.
func (s *Service) Announce(ctx context.Context) error {
	return s.workers.announce(ctx, s.opt.LeaseTime)
}

// announce announces the workers' capabilities for ttl; 0 withdraws them.
func (w *workers) announce(ctx context.Context, ttl time.Duration) error {
	if len(w.caps) == 0 {
		return nil
	}
	_, err := timed(ctx, w.opt.CallTimeout, "queue", func(ctx context.Context) (struct{}, error) {
		return struct{}{}, w.queue.Announce(ctx, w.node, w.caps, ttl)
	})
	return err
}

// heartbeat announces the workers' capabilities until ctx ends, three
// times per lease time so that one missed announcement does not make the
// node look gone, then withdraws them.
func (w *workers) heartbeat(ctx context.Context) {
	if len(w.caps) == 0 {
		return
	}
	tick := time.NewTicker(w.opt.LeaseTime / 3)
	defer tick.Stop()
	for {
		if err := w.announce(ctx, w.opt.LeaseTime); err != nil && ctx.Err() == nil {
			w.log.Warn("announce this node's workers", "err", err)
		}
		select {
		case <-ctx.Done():
			if err := w.announce(context.WithoutCancel(ctx), 0); err != nil {
				w.log.Warn("withdraw this node's workers", "err", err)
			}
			return
		case <-tick.C:
		}
	}
}
