package jobs

import (
	"context"

	"github.com/airlock-dev/airlock"
	"github.com/airlock-dev/airlock/internal/engine"
	"github.com/airlock-dev/airlock/internal/lang"
	"github.com/airlock-dev/airlock/internal/webhook"
)

// Executor is what the service needs of the engine: *engine.Engine is
// one, and tests use a fake that runs nothing.
type Executor interface {
	// Check refuses a request the executor would refuse, before it is
	// accepted: an *engine.InvalidError names what is wrong.
	Check(ctx context.Context, req airlock.Request) error
	// ExecuteLive runs a request, with its live client when sess is not
	// nil (see engine.Engine.ExecuteLive).
	ExecuteLive(ctx context.Context, req airlock.Request, sess *engine.Session) (airlock.Result, error)
	// Catalog names the languages, so a job records the id of its own.
	Catalog() *lang.Catalog
	// Policy is the limits policy of a key whose own is own.
	Policy(own airlock.Policy) airlock.Policy
	// Capabilities are the capabilities (see Capability) of the jobs
	// this host can run: what its workers take from the queue.
	Capabilities() []string
}

// Deliverer sends a finished job's callback: *webhook.Sender is one.
type Deliverer interface {
	Deliver(ctx context.Context, c webhook.Call) error
}
