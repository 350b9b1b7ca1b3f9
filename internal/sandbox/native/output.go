package native

import (
	"bytes"
	"io"
	"sync"

	"github.com/airlock-dev/airlock"
	"github.com/airlock-dev/airlock/internal/sandbox"
)

// runOutput keeps a run's stdout and stderr, each up to the output limit,
// and their interleaving when asked for. Going over the limit ends the run.
type runOutput struct {
	stdout, stderr *cappedBuffer
	both           *cappedBuffer // both streams as they came, when interleave
	interleave     bool
	copying        sync.WaitGroup
}

// newRunOutput keeps up to limit bytes of each stream, kills the run when
// the program writes more, and passes what it keeps on to a live client.
func newRunOutput(limit int64, interleave bool, live *sandbox.Live, kill func(airlock.Status, string)) *runOutput {
	o := &runOutput{
		stdout:     &cappedBuffer{limit: limit},
		stderr:     &cappedBuffer{limit: limit},
		both:       &cappedBuffer{limit: 2 * limit},
		interleave: interleave,
	}
	o.stdout.onLimit = func() { kill(airlock.StatusOutputLimit, "stdout exceeded the output limit") }
	o.stderr.onLimit = func() { kill(airlock.StatusOutputLimit, "stderr exceeded the output limit") }
	if live != nil && live.Output != nil {
		o.stdout.tee = func(b []byte) { live.Output("stdout", b) }
		o.stderr.tee = func(b []byte) { live.Output("stderr", b) }
	}
	return o
}

// copy reads the program's stdout and stderr until every writer has
// closed them; wait waits for that. A read error is the pipe's end too:
// there is nothing more to read.
func (o *runOutput) copy(stdout, stderr io.Reader) {
	var toStdout, toStderr io.Writer = o.stdout, o.stderr
	if o.interleave {
		toStdout, toStderr = io.MultiWriter(o.stdout, o.both), io.MultiWriter(o.stderr, o.both)
	}
	o.copying.Go(func() { io.Copy(toStdout, stdout) })
	o.copying.Go(func() { io.Copy(toStderr, stderr) })
}

func (o *runOutput) wait() { o.copying.Wait() }

// fill puts what was kept in res.
func (o *runOutput) fill(res *sandbox.Result) {
	res.Stdout, res.StdoutTruncated = o.stdout.bytes()
	res.Stderr, res.StderrTruncated = o.stderr.bytes()
	if o.interleave {
		res.Interleaved, _ = o.both.bytes()
	}
}

// cappedBuffer keeps at most limit bytes of a stream and calls onLimit once
// when the program writes more.
type cappedBuffer struct {
	mu        sync.Mutex
	buf       bytes.Buffer
	limit     int64
	truncated bool
	onLimit   func()
	tee       func([]byte) // gets what is kept, as it comes; one writer only
}

func (c *cappedBuffer) Write(p []byte) (int, error) {
	c.mu.Lock()
	room := c.limit - int64(c.buf.Len())
	over := int64(len(p)) > room
	kept := p
	if over {
		kept = p[:max(room, 0)]
	}
	c.buf.Write(kept)
	first := over && !c.truncated
	if over {
		c.truncated = true
	}
	onLimit := c.onLimit
	c.mu.Unlock()
	if c.tee != nil && len(kept) > 0 {
		c.tee(kept)
	}
	if first && onLimit != nil {
		onLimit()
	}
	return len(p), nil
}

func (c *cappedBuffer) bytes() ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return bytes.Clone(c.buf.Bytes()), c.truncated
}
