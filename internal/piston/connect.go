package piston

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"syscall"
	"time"

	"github.com/coder/websocket"
	"golang.org/x/sys/unix"

	"github.com/airlock-dev/airlock"
	"github.com/airlock-dev/airlock/internal/engine"
	"github.com/airlock-dev/airlock/internal/jobs"
)

// Close codes of Piston's /api/v2/connect.
const (
	closeAlreadyInit  websocket.StatusCode = 4000
	closeInitTimeout  websocket.StatusCode = 4001
	closeNotified     websocket.StatusCode = 4002
	closeNotInit      websocket.StatusCode = 4003
	closeOnlyStdin    websocket.StatusCode = 4004
	closeBadSignal    websocket.StatusCode = 4005
	closeJobCompleted websocket.StatusCode = 4999
)

// initTimeout is how long a client may take to send init, as in Piston.
const initTimeout = time.Second

// What a session may hold of input the program has not read yet: a
// client that types faster than the program reads is slowed down.
const (
	maxInputMessage = 1 << 20 // bytes of a message after init
	stdinBacklog    = 16      // messages
)

// message is what a client sends: init carries the execute fields too.
type message struct {
	Type   string `json:"type"`
	Stream string `json:"stream"`
	Data   string `json:"data"`
	Signal string `json:"signal"`
}

// connection is one interactive session.
type connection struct {
	s        *Server
	ws       *websocket.Conn
	ctx      context.Context
	stdin    chan []byte
	signals  chan syscall.Signal
	started  chan struct{} // closed once init is accepted
	finished chan struct{} // closed once the job has finished
	job      string        // its id, once submitted
}

func (s *Server) connect(w http.ResponseWriter, r *http.Request) {
	meta := s.meta(r)
	ws, err := websocket.Accept(w, r, nil)
	if err != nil {
		return // Accept answered the client
	}
	ws.SetReadLimit(s.opt.MaxBody)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := &connection{
		s: s, ws: ws, ctx: ctx, stdin: make(chan []byte, stdinBacklog), signals: make(chan syscall.Signal, 8),
		started: make(chan struct{}), finished: make(chan struct{}),
	}
	timer := time.AfterFunc(initTimeout, func() {
		select {
		case <-c.started:
		default:
			ws.Close(closeInitTimeout, "Initialization Timeout")
		}
	})
	defer timer.Stop()
	for {
		_, data, err := ws.Read(ctx)
		if err != nil {
			break
		}
		// The timeout is for the client's first message; looking up its
		// runtime (probing the host's languages on first use) is ours.
		timer.Stop()
		var msg message
		if err := json.Unmarshal(data, &msg); err != nil {
			c.fail(err.Error())
			break
		}
		if done := c.handle(msg, data, meta); done {
			break
		}
	}
	// The client left or the session ended: a job still running is of no
	// use to anyone.
	select {
	case <-c.finished:
	default:
		if c.job != "" {
			s.svc.Cancel(context.Background(), c.job)
		}
	}
	ws.CloseNow()
}

// handle acts on one client message; true ends the session.
func (c *connection) handle(msg message, raw []byte, meta jobs.Meta) bool {
	initialised := c.isStarted()
	switch {
	case msg.Type == "init" && initialised:
		c.ws.Close(closeAlreadyInit, "Already Initialized")
		return true
	case msg.Type == "init":
		return c.init(raw, meta)
	case (msg.Type == "data" || msg.Type == "signal") && !initialised:
		c.ws.Close(closeNotInit, "Not yet initialized")
		return true
	case msg.Type == "data" && msg.Stream != "stdin":
		c.ws.Close(closeOnlyStdin, "Can only write to stdin")
		return true
	case msg.Type == "data":
		select {
		case c.stdin <- []byte(msg.Data):
		case <-c.finished: // input nobody will read
		}
	case msg.Type == "signal":
		sig := unix.SignalNum(msg.Signal)
		if sig == 0 {
			c.ws.Close(closeBadSignal, "Invalid signal")
			return true
		}
		select {
		case c.signals <- sig:
		default: // a client flooding signals loses some
		}
	}
	return false
}

func (c *connection) isStarted() bool {
	select {
	case <-c.started:
		return true
	default:
		return false
	}
}

func (c *connection) init(raw []byte, meta jobs.Meta) bool {
	var body map[string]json.RawMessage
	if err := json.Unmarshal(raw, &body); err != nil {
		c.fail(err.Error())
		return true
	}
	req, rt, err := c.s.parse(c.ctx, body, meta.Limits)
	if err != nil {
		c.fail(err.Error())
		return true
	}
	req.Stdin = nil // as in Piston, a session's input is what it types
	close(c.started)
	c.ws.SetReadLimit(maxInputMessage)
	meta.Session = &engine.Session{
		Stdin: c.stdin, Signals: c.signals,
		Stage: func(step string) { c.send(map[string]any{"type": "stage", "stage": stageName(step)}) },
		Output: func(_, stream string, data []byte) {
			c.send(map[string]any{"type": "data", "stream": stream, "data": string(data)})
		},
		Exit: func(step string, out airlock.Step) {
			st := stageOf(out)
			c.send(map[string]any{"type": "exit", "stage": stageName(step), "code": st.Code, "signal": st.Signal})
		},
	}
	// Before the job can run and report its first stage.
	c.send(map[string]any{"type": "runtime", "language": rt.Language, "version": rt.Version})
	j, err := c.s.svc.Submit(c.ctx, req, meta)
	if err != nil {
		c.fail(wording(err))
		return true
	}
	c.job = j.ID
	go func() {
		_, err := c.s.svc.Wait(c.ctx, j.ID)
		switch {
		case err == nil:
			close(c.finished)
			c.ws.Close(closeJobCompleted, "Job Completed")
		case errors.Is(err, jobs.ErrShuttingDown):
			// Nobody can come back to this session: it ends, and its job
			// is cancelled with it.
			c.fail("the server is restarting: the job was cancelled; try again")
		}
	}()
	return false
}

// stageName is an engine step as a Piston stage: a failed environment
// build is shown as a compile stage, as in execute's answer.
func stageName(step string) string {
	if step == "dependencies" {
		return "compile"
	}
	return step
}

// send writes one event; a client too slow to take it within the bound
// loses the session.
func (c *connection) send(v any) {
	data, err := json.Marshal(v)
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(c.ctx, 10*time.Second)
	defer cancel()
	if err := c.ws.Write(ctx, websocket.MessageText, data); err != nil && !errors.Is(err, context.Canceled) {
		c.ws.CloseNow()
	}
}

// fail notifies the client of an error, then closes, as Piston does: a
// close reason is limited to 123 bytes.
func (c *connection) fail(msg string) {
	c.send(map[string]any{"type": "error", "message": msg})
	c.ws.Close(closeNotified, "Notified Error")
}
