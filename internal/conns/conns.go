// Package conns keeps a server's HTTP connections from taking it down: a
// bound on open connections that makes room for a new one by closing the
// connection idle the longest (an idle keep-alive, or one still sending
// its request's headers), so idle and slow clients cannot starve the
// others; and deadlines on reading a request's body and on writing its
// response that bound slow clients without cutting a handler that waits
// (a long poll) or a WebSocket.
package conns

import (
	"bufio"
	"container/list"
	"io"
	"net"
	"net/http"
	"sync"
	"syscall"
	"time"
)

// Listener bounds the open connections of an http.Server; set the
// server's ConnState to its ConnState, which tells it which connections
// are serving a request.
type Listener struct {
	net.Listener
	max int

	mu     sync.Mutex
	freed  *sync.Cond // a slot freed, or the listener closed
	open   int
	closed bool
	// idle are the open connections not serving a request, idle longest
	// first: a new one until its request's headers are in, and a
	// keep-alive between requests.
	idle list.List
}

// Limit bounds the connections accepted from ln to max open at once.
func Limit(ln net.Listener, max int) *Listener {
	l := &Listener{Listener: ln, max: max}
	l.freed = sync.NewCond(&l.mu)
	return l
}

// DefaultMax is the bound for a process allowed fds open files: half of
// them, the rest left to the store, the blobs and the sandboxes' pipes,
// and at most 10 000 (each connection holds buffers and a goroutine).
func DefaultMax() int {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 1000
	}
	return int(max(min(lim.Cur/2, 10000), 16))
}

// Accept takes the next connection. At the bound it first closes the
// connection idle the longest; when every connection is serving a
// request, it waits for one to close.
func (l *Listener) Accept() (net.Conn, error) {
	nc, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	c := &conn{Conn: nc, l: l}
	l.mu.Lock()
	var shed []*conn
	for l.open >= l.max && !l.closed {
		if oldest := l.idle.Front(); oldest != nil {
			victim := oldest.Value.(*conn)
			l.releaseLocked(victim)
			shed = append(shed, victim)
			continue
		}
		l.freed.Wait()
	}
	if l.closed {
		l.mu.Unlock()
		nc.Close()
		return nil, net.ErrClosed
	}
	l.open++
	c.elem = l.idle.PushBack(c)
	l.mu.Unlock()
	for _, victim := range shed {
		victim.Conn.Close()
	}
	return c, nil
}

// Close stops accepting; open connections stay.
func (l *Listener) Close() error {
	l.mu.Lock()
	l.closed = true
	l.freed.Broadcast()
	l.mu.Unlock()
	return l.Listener.Close()
}

// Open counts the open connections.
func (l *Listener) Open() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.open
}

// Idle counts the open connections that are not serving a request.
func (l *Listener) Idle() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.idle.Len()
}

// ConnState is the http.Server's ConnState hook: a connection serving a
// request (or hijacked) is never closed to make room.
func (l *Listener) ConnState(nc net.Conn, state http.ConnState) {
	c, ok := nc.(*conn)
	if !ok {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if c.released {
		return
	}
	switch state {
	case http.StateIdle:
		if c.elem != nil {
			l.idle.Remove(c.elem)
		}
		c.elem = l.idle.PushBack(c)
		// An Accept waiting at the bound may now close this one.
		l.freed.Signal()
	case http.StateActive, http.StateHijacked:
		if c.elem != nil {
			l.idle.Remove(c.elem)
			c.elem = nil
		}
	}
}

// releaseLocked frees c's slot, once.
func (l *Listener) releaseLocked(c *conn) {
	if c.released {
		return
	}
	c.released = true
	if c.elem != nil {
		l.idle.Remove(c.elem)
		c.elem = nil
	}
	l.open--
	l.freed.Signal()
}

// conn is an accepted connection, holding a slot until closed.
type conn struct {
	net.Conn
	l        *Listener
	elem     *list.Element // in l.idle while idle; guarded by l.mu
	released bool          // guarded by l.mu
}

func (c *conn) Close() error {
	c.l.mu.Lock()
	c.l.releaseLocked(c)
	c.l.mu.Unlock()
	return c.Conn.Close()
}

// Deadlines bounds the time a request's body may take to arrive (read,
// from the start of the handler) and the time each write of its response
// may take (write): a client that sends or takes data too slowly loses
// the connection. While the handler waits, between reading the body and
// writing the response, no deadline runs, so a long poll is not cut; a
// hijacked connection (a WebSocket) has none either, its protocol bounds
// its own reads and writes.
func Deadlines(h http.Handler, read, write time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		if r.Body == nil || r.Body == http.NoBody {
			rc.SetReadDeadline(time.Time{})
		} else {
			rc.SetReadDeadline(time.Now().Add(read))
			r.Body = &body{ReadCloser: r.Body, rc: rc}
		}
		rc.SetWriteDeadline(time.Time{})
		dw := &writer{ResponseWriter: w, rc: rc, d: write}
		h.ServeHTTP(dw, r)
		if !dw.hijacked {
			// The server writes what is buffered after the handler returns.
			rc.SetWriteDeadline(time.Now().Add(write))
		}
	})
}

// body lifts the read deadline once the body is read: the server then
// reads the connection only to notice the client leaving.
type body struct {
	io.ReadCloser
	rc   *http.ResponseController
	done bool
}

func (b *body) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF && !b.done {
		b.done = true
		b.rc.SetReadDeadline(time.Time{})
	}
	return n, err
}

// writer sets the write deadline before each write.
type writer struct {
	http.ResponseWriter
	rc       *http.ResponseController
	d        time.Duration
	hijacked bool
}

func (w *writer) WriteHeader(code int) {
	w.rc.SetWriteDeadline(time.Now().Add(w.d))
	w.ResponseWriter.WriteHeader(code)
}

func (w *writer) Write(p []byte) (int, error) {
	w.rc.SetWriteDeadline(time.Now().Add(w.d))
	return w.ResponseWriter.Write(p)
}

// Flush sends what is buffered.
func (w *writer) Flush() {
	w.rc.SetWriteDeadline(time.Now().Add(w.d))
	w.rc.Flush()
}

// Hijack hands the connection over without deadlines.
func (w *writer) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	nc, brw, err := w.rc.Hijack()
	if err == nil {
		w.hijacked = true
		nc.SetDeadline(time.Time{})
	}
	return nc, brw, err
}

// Unwrap lets http.ResponseController reach the server's writer.
func (w *writer) Unwrap() http.ResponseWriter { return w.ResponseWriter }
