package jobs_test

import (
	"bufio"
	"bytes"
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/airlock-dev/airlock"
	"github.com/airlock-dev/airlock/internal/engine"
	"github.com/airlock-dev/airlock/internal/jobs"
	"github.com/airlock-dev/airlock/internal/lang"
	"github.com/airlock-dev/airlock/internal/webhook"
)

// The engine is an Executor.
var _ jobs.Executor = (*engine.Engine)(nil)

// fakeExec is an Executor that runs nothing: a job's first file is a
// script of one command a line, which it plays out:
//
//	out TEXT    TEXT and a newline on stdout
//	sleep DUR   wait DUR (time.ParseDuration), or until the job is stopped
//	block       wait until the job is stopped
//	upper       read a chunk of the live client's stdin, echo it in capitals
//	# ...       nothing
//
// A stopped job returns its context's error, as the engine does.
type fakeExec struct {
	catalog *lang.Catalog
	policy  airlock.Policy
	runs    atomic.Int64 // executions begun
	// caps are the capabilities it serves; nil: every language of the
	// catalog.
	caps []string
	// stopped gets the error of each run stopped (by a cancel, a lost
	// lease, a shutdown), when the test makes it.
	stopped chan error
}

var (
	catalogOnce sync.Once
	catalog     *lang.Catalog
)

func newFakeExec(t testing.TB) *fakeExec {
	t.Helper()
	var err error
	catalogOnce.Do(func() { catalog, err = lang.Load("") })
	if err != nil || catalog == nil {
		t.Fatalf("catalog: %v", err)
	}
	return &fakeExec{catalog: catalog, policy: airlock.DefaultPolicy}
}

func (f *fakeExec) Catalog() *lang.Catalog { return f.catalog }

func (f *fakeExec) Policy(own airlock.Policy) airlock.Policy { return own.Over(f.policy) }

func (f *fakeExec) Capabilities() []string {
	if f.caps == nil {
		return f.catalog.IDs()
	}
	return f.caps
}

func (f *fakeExec) Check(_ context.Context, req airlock.Request) error {
	if _, err := f.catalog.Lookup(req.Language); err != nil {
		return &engine.InvalidError{Field: "language", Problem: err.Error()}
	}
	return nil
}

func (f *fakeExec) ExecuteLive(ctx context.Context, req airlock.Request, sess *engine.Session) (airlock.Result, error) {
	f.runs.Add(1)
	l, _ := f.catalog.Lookup(req.Language)
	res := airlock.Result{Language: l.ID}
	var stdout bytes.Buffer
	write := func(s string) {
		stdout.WriteString(s)
		if sess != nil {
			sess.Output("run", "stdout", []byte(s))
		}
	}
	if sess != nil {
		sess.Stage("run")
	}
	lines := bufio.NewScanner(bytes.NewReader(req.Files[0].Content))
	lines.Buffer(nil, 1<<20)
	for lines.Scan() {
		cmd, arg, _ := strings.Cut(lines.Text(), " ")
		switch cmd {
		case "out":
			write(arg + "\n")
		case "sleep":
			d, err := time.ParseDuration(arg)
			if err != nil {
				return res, err
			}
			select {
			case <-time.After(d):
			case <-ctx.Done():
				return res, ctx.Err()
			}
		case "block":
			<-ctx.Done()
			if f.stopped != nil {
				f.stopped <- context.Cause(ctx)
			}
			return res, ctx.Err()
		case "upper":
			select {
			case in := <-sess.Stdin:
				write(strings.ToUpper(string(in)))
			case <-ctx.Done():
				return res, ctx.Err()
			}
		}
	}
	res.Status, res.Stdout = airlock.StatusOK, stdout.Bytes()
	if sess != nil {
		sess.Exit("run", res.Step)
	}
	return res, nil
}

// hooks is a callback sender that holds each delivery until released.
type hooks struct {
	entered chan string   // a delivery's URL as it starts
	release chan struct{} // closed: deliveries answer
	done    atomic.Int64  // deliveries answered
}

func newHooks() *hooks {
	return &hooks{entered: make(chan string, 10), release: make(chan struct{})}
}

func (h *hooks) Deliver(_ context.Context, c webhook.Call) error {
	h.entered <- c.URL
	<-h.release
	h.done.Add(1)
	return nil
}
