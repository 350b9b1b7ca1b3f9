package judge0_test

import (
	"net/http"
	"testing"

	"github.com/airlock-dev/airlock/internal/jobs"
	"github.com/airlock-dev/airlock/internal/servicetest"
)

// A full queue is a 503 with Retry-After, on every face alike: for one
// submission and for a batch, refused whole before any is queued.
func TestFullQueueRetryAfter(t *testing.T) {
	env := servicetest.Start(t, servicetest.Options{
		Jobs: jobs.Options{Workers: 1},
		Deps: servicetest.FullQueue,
	})
	c := client{url: env.URL}
	one := c.do(t, "POST", "/submissions", py("print(1)"))
	batch := c.do(t, "POST", "/submissions/batch", map[string]any{"submissions": []any{py("print(1)")}})
	for name, r := range map[string]response{"one": one, "batch": batch} {
		if r.code != http.StatusServiceUnavailable || r.header.Get("Retry-After") != "1" || string(r.raw) != `{"error":"queue is full"}` {
			t.Errorf("%s to a full queue: %d, Retry-After %q, %s", name, r.code, r.header.Get("Retry-After"), r.raw)
		}
	}
}
