package egress

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// tunnel serves a CONNECT request: it dials the target if allowed,
// answers 200 and copies bytes both ways until the tunnel ends or is
// idle too long. The target's end (EOF) only half-closes the client's
// side, which may still be sending; the client's end, or an error on
// either side, ends both: a client gone (its run over) must not leave
// the proxy waiting on a target that says nothing.
func (p *Proxy) tunnel(c net.Conn, br *bufio.Reader, req *http.Request) {
	t, err := parseTarget(req.URL.Host)
	if err != nil {
		reply(c, http.StatusBadRequest, "airlock egress: CONNECT needs host:port: "+err.Error())
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stop := watchClient(c, br, cancel)
	up, err := p.dial(ctx, t)
	stop()
	if err != nil {
		p.answerDialError(c, t, err)
		return
	}
	defer up.Close()
	_ = c.SetWriteDeadline(time.Now().Add(replyTimeout))
	if _, err := io.WriteString(c, "HTTP/1.1 200 Connection established\r\n\r\n"); err != nil {
		return
	}
	_ = c.SetWriteDeadline(time.Time{})
	closeBoth := func() {
		c.Close()
		up.Close()
	}
	idle := newIdleTimer(p.lim.idle, closeBoth)
	defer idle.stop()
	var wg sync.WaitGroup
	// What the client sent after its CONNECT header is already in br.
	wg.Go(func() { splice(up, br, false, idle, closeBoth) })
	wg.Go(func() { splice(c, up, true, idle, closeBoth) })
	wg.Wait()
}

// splice copies src to dst, touching idle for every chunk. At src's end
// it closes dst for writing if halfClose, or else calls fail, as it does
// on any error.
func splice(dst net.Conn, src io.Reader, halfClose bool, idle *idleTimer, fail func()) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			idle.touch()
			if _, werr := dst.Write(buf[:n]); werr != nil {
				fail()
				return
			}
			idle.touch()
		}
		if errors.Is(err, io.EOF) && halfClose {
			if cw, ok := dst.(interface{ CloseWrite() error }); ok && cw.CloseWrite() == nil {
				return
			}
			fail()
			return
		}
		if err != nil {
			fail()
			return
		}
	}
}
