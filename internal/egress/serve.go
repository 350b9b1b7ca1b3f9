package egress

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"sync/atomic"
	"time"
)

// ServeConn serves one client connection until the client closes it, a
// tunnel through it ends, or it breaks a bound; then it closes it. Plug
// it into sandbox.Spec.Egress. Past the cap on connections served at
// once, a connection is answered 503 and closed.
func (p *Proxy) ServeConn(c net.Conn) {
	defer c.Close()
	select {
	case p.conns <- struct{}{}:
		defer func() { <-p.conns }()
	default:
		reply(c, http.StatusServiceUnavailable, "airlock egress: too many connections at once")
		return
	}
	hr := &headerReader{r: c}
	br := bufio.NewReader(hr)
	for {
		req, ok := p.readRequest(c, hr, br)
		if !ok {
			return
		}
		if req.Method == http.MethodConnect {
			p.tunnel(c, br, req)
			return
		}
		if !p.forward(c, br, req) {
			return
		}
	}
}

// readRequest reads the client's next request header within the header
// timeout and size bound. A client that closes between requests ends
// the connection quietly; a malformed request is answered 400, an
// oversized header 431; either way ok is false.
func (p *Proxy) readRequest(c net.Conn, hr *headerReader, br *bufio.Reader) (*http.Request, bool) {
	if err := c.SetReadDeadline(time.Now().Add(p.lim.header)); err != nil {
		return nil, false
	}
	hr.limit(p.lim.headerBytes)
	req, err := http.ReadRequest(br)
	tooLarge := hr.exhausted()
	hr.limit(math.MaxInt64)
	var timeout net.Error
	switch {
	case err == nil:
		return req, c.SetReadDeadline(time.Time{}) == nil
	case tooLarge:
		reply(c, http.StatusRequestHeaderFieldsTooLarge, fmt.Sprintf("airlock egress: request header over %d bytes", p.lim.headerBytes))
	case errors.Is(err, io.EOF), errors.As(err, &timeout):
		// Gone, or silent for too long: there is no one to answer.
	default:
		reply(c, http.StatusBadRequest, fmt.Sprintf("airlock egress: malformed request: %v", err))
	}
	return nil, false
}

// headerReader passes a client's bytes through, at most a bound of them
// while a request header is read: its lines are held in memory.
type headerReader struct {
	r    io.Reader
	left int64
	hit  bool
}

func (h *headerReader) limit(n int64) { h.left, h.hit = n, false }

func (h *headerReader) exhausted() bool { return h.hit }

func (h *headerReader) Read(b []byte) (int, error) {
	if h.left <= 0 {
		h.hit = true
		return 0, errHeaderTooLarge
	}
	if int64(len(b)) > h.left {
		b = b[:h.left]
	}
	n, err := h.r.Read(b)
	h.left -= int64(n)
	return n, err
}

var errHeaderTooLarge = errors.New("request header too large")

// watchClient cancels cancel once the client's connection fails (the
// client closed it, or the run it belongs to ended) while the proxy waits
// on the other side (a dial, an answer) and reads nothing from the
// client. The peek consumes nothing: a client that sends more meanwhile
// is not watched further. stop ends the watch.
func watchClient(c net.Conn, br *bufio.Reader, cancel func()) (stop func()) {
	var stopping atomic.Bool
	done := make(chan struct{})
	go func() {
		defer close(done)
		if _, err := br.Peek(1); err != nil && !stopping.Load() {
			cancel()
		}
	}()
	return func() {
		stopping.Store(true)
		// A deadline in the past ends the peek; a later read clears it.
		_ = c.SetReadDeadline(time.Unix(1, 0))
		<-done
		_ = c.SetReadDeadline(time.Time{})
	}
}

// replyTimeout bounds writing one of the proxy's own answers.
const replyTimeout = 10 * time.Second

// reply answers the client with status code and a one-line text body,
// and says the connection closes.
func reply(c net.Conn, code int, text string) {
	body := text + "\n"
	// A client that does not read its answer is given up on.
	_ = c.SetWriteDeadline(time.Now().Add(replyTimeout))
	_, _ = fmt.Fprintf(c, "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s",
		code, http.StatusText(code), len(body), body)
}

// answerDialError answers a failed exchange with t: 403 for a refusal,
// which is recorded, 502 naming t for anything else (t is allowed but
// cannot be reached, or answers nonsense).
func (p *Proxy) answerDialError(c net.Conn, t target, err error) {
	var refused *refusal
	if errors.As(err, &refused) {
		p.record(refused)
		reply(c, http.StatusForbidden, refused.Error())
		return
	}
	var down *unreachable
	if !errors.As(err, &down) {
		down = &unreachable{target: t, err: err}
	}
	p.recordDown(down)
	reply(c, http.StatusBadGateway, down.Error())
}
