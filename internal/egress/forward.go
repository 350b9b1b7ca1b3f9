package egress

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"
)

// forward serves a plain-HTTP request in absolute form
// (GET http://host/path): it sends it on to its allowed target, with a
// connection of its own that ignores the host's proxy settings, and
// writes the answer back. It says whether the client's connection may
// carry another request.
func (p *Proxy) forward(c net.Conn, br *bufio.Reader, req *http.Request) bool {
	if !req.URL.IsAbs() || req.URL.Scheme != "http" || req.URL.Host == "" {
		reply(c, http.StatusBadRequest, fmt.Sprintf("airlock egress: only CONNECT host:port and absolute http:// requests are served, not %s %s", req.Method, req.RequestURI))
		return false
	}
	hostport := req.URL.Host
	if req.URL.Port() == "" {
		hostport = net.JoinHostPort(req.URL.Hostname(), "80")
	}
	t, err := parseTarget(hostport)
	if err != nil {
		reply(c, http.StatusBadRequest, "airlock egress: bad host in URL: "+err.Error())
		return false
	}
	if !p.allow.allows(t) {
		p.answerDialError(c, t, &refusal{target: t})
		return false
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Stalled either way, the exchange is given up: the cancel ends the
	// upstream side, the deadline the client's.
	idle := newIdleTimer(p.lim.idle, func() {
		cancel()
		_ = c.SetDeadline(time.Now())
	})
	defer idle.stop()

	out := req.Clone(ctx)
	out.RequestURI = ""
	out.Host = req.URL.Host
	if req.Body != nil && req.Body != http.NoBody {
		out.Body = touchReader{r: req.Body, idle: idle}
	}
	dropHopHeaders(out.Header)
	// A client gone while the answer is awaited or sent ends the exchange
	// at once. A request with a body is not watched: the transport reads
	// the client's connection for it, and a client gone fails that read;
	// once the body is sent, only the idle timeout ends a stalled answer.
	bodiless := out.Body == nil || out.Body == http.NoBody
	if bodiless {
		stop := watchClient(c, br, cancel)
		defer stop()
	}
	resp, err := p.transport(t).RoundTrip(out)
	if err != nil {
		if ctx.Err() == nil {
			p.answerDialError(c, t, err)
		}
		return false
	}
	defer resp.Body.Close()
	dropHopHeaders(resp.Header)
	resp.Body = touchReader{r: resp.Body, idle: idle}
	// The client's connection is ours, not the upstream one's (which
	// closes after every request): it stays open when the answer has a
	// known end and the request has no body that may still be being
	// read.
	delimited := resp.ContentLength >= 0 || slices.Contains(resp.TransferEncoding, "chunked")
	keep := !req.Close && req.ContentLength == 0 && len(req.TransferEncoding) == 0 && delimited
	resp.Close = !keep
	resp.Proto, resp.ProtoMajor, resp.ProtoMinor = "HTTP/1.1", 1, 1
	if err := resp.Write(touchWriter{c: c, idle: idle, timeout: p.lim.idle}); err != nil {
		return false
	}
	return keep
}

// transport sends one request to t. Its dial goes through the allow list
// and name checks (dial); it keeps no idle connections, so nothing of it
// outlives the request; it leaves the client's content encoding alone.
func (p *Proxy) transport(t target) *http.Transport {
	return &http.Transport{
		Proxy: nil,
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return p.dial(ctx, t)
		},
		DisableKeepAlives:      true,
		DisableCompression:     true,
		ResponseHeaderTimeout:  p.lim.idle,
		MaxResponseHeaderBytes: p.lim.headerBytes,
	}
}

// hopHeaders belong to one connection, never forwarded (RFC 9110 7.6.1).
var hopHeaders = []string{
	"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade",
}

func dropHopHeaders(h http.Header) {
	for _, v := range h.Values("Connection") {
		for name := range strings.SplitSeq(v, ",") {
			h.Del(strings.TrimSpace(name))
		}
	}
	for _, name := range hopHeaders {
		h.Del(name)
	}
}

// touchReader and touchWriter touch an idle timer for every chunk.
type touchReader struct {
	r    io.ReadCloser
	idle *idleTimer
}

func (t touchReader) Read(b []byte) (int, error) {
	n, err := t.r.Read(b)
	t.idle.touch()
	return n, err
}

func (t touchReader) Close() error { return t.r.Close() }

type touchWriter struct {
	c       net.Conn
	idle    *idleTimer
	timeout time.Duration
}

func (t touchWriter) Write(b []byte) (int, error) {
	if err := t.c.SetWriteDeadline(time.Now().Add(t.timeout)); err != nil {
		return 0, err
	}
	n, err := t.c.Write(b)
	t.idle.touch()
	return n, err
}
