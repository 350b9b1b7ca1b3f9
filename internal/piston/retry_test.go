package piston_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/airlock-dev/airlock/internal/jobs"
	"github.com/airlock-dev/airlock/internal/servicetest"
)

// A full queue is a 503 with Retry-After, on every face alike.
func TestFullQueueRetryAfter(t *testing.T) {
	env := servicetest.Start(t, servicetest.Options{
		Jobs: jobs.Options{Workers: 1},
		Deps: servicetest.FullQueue,
	})
	req, _ := http.NewRequest("POST", env.URL+"/api/v2/execute", strings.NewReader(`{"language":"python","version":"*","files":[{"content":"print(1)"}]}`))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "1" || string(raw) != `{"message":"queue is full"}`+"\n" {
		t.Fatalf("execute on a full queue: %d, Retry-After %q, %q", resp.StatusCode, resp.Header.Get("Retry-After"), raw)
	}
}
