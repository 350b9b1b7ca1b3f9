package api_test

import (
	"testing"

	"github.com/airlock-dev/airlock/internal/jobs"
	"github.com/airlock-dev/airlock/internal/servicetest"
)

// A full queue is a 503 with Retry-After, on every face alike (the Judge0
// and Piston faces test theirs).
func TestFullQueueRetryAfter(t *testing.T) {
	e := env{servicetest.Start(t, servicetest.Options{
		Jobs: jobs.Options{Workers: 1},
		Deps: servicetest.FullQueue,
	})}
	r := e.do(t, "POST", "/v1/executions", `{"language":"python","code":"print(1)"}`)
	if r.code != 503 || r.header.Get("Retry-After") != "1" || r.body["error"] == nil {
		t.Fatalf("submission to a full queue: %d, Retry-After %q, %s", r.code, r.header.Get("Retry-After"), r.raw)
	}
}
