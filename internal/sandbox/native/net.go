package native

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/airlock-dev/airlock/internal/sandbox"
)

// egressListener is a run's one way out of its slot's network namespace
// (sandbox.Spec.Egress): a listener at sandbox.ProxyAddr on the
// namespace's loopback, brought up for the run, whose connections are
// each handed to the spec's Egress on the host. Without it a slot's
// loopback is down and the namespace has no other interface: no network
// at all.
type egressListener struct {
	ln      net.Listener
	ctl     int // a socket of the slot's namespace, for its loopback's flags
	handle  func(net.Conn)
	accept  sync.WaitGroup
	serving sync.WaitGroup

	mu    sync.Mutex
	conns map[net.Conn]struct{} // being served
}

// openEgress brings up the loopback of k's network namespace, listens at
// sandbox.ProxyAddr in it and hands each connection to handle, until
// close. A namespace whose loopback it brought up and cannot take down
// again marks k broken.
func openEgress(k *keeper, handle func(net.Conn)) (*egressListener, error) {
	lnFD, ctl, err := socketsIn(k.pidfd)
	if err != nil {
		return nil, fmt.Errorf("egress: %w", err)
	}
	lnFile := os.NewFile(uintptr(lnFD), "airlock-egress")
	defer lnFile.Close() // the listener has its own descriptor
	if err := setLoopback(ctl, true); err != nil {
		unix.Close(ctl)
		return nil, fmt.Errorf("egress: bring the loopback up: %w", err)
	}
	ln, err := listen(lnFile)
	if err != nil {
		if loopbackDown(ctl) != nil {
			k.broken = true
		}
		unix.Close(ctl)
		return nil, fmt.Errorf("egress: listen at %s: %w", sandbox.ProxyAddr, err)
	}
	e := &egressListener{ln: ln, ctl: ctl, handle: handle, conns: map[net.Conn]struct{}{}}
	e.accept.Go(e.loop)
	return e, nil
}

// socketsIn creates, inside the network namespace of the process pidfd
// refers to, a TCP socket for the listener and a datagram socket for
// ioctls. A socket stays in the namespace it was made in; only its
// creation needs the thread to be there. The thread goes back to its own
// namespace after; one that cannot is never unlocked, so it ends with
// its goroutine instead of running other goroutines in the sandbox's.
func socketsIn(pidfd int) (listener, ctl int, err error) {
	if pidfd < 0 {
		return -1, -1, errors.New("the slot's keeper has no pidfd")
	}
	type result struct {
		listener, ctl int
		err           error
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		own, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			done <- result{err: fmt.Errorf("open own network namespace: %w", err)}
			return
		}
		defer unix.Close(own)
		if err := unix.Setns(pidfd, unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			done <- result{err: fmt.Errorf("enter the slot's network namespace: %w", err)}
			return
		}
		r := result{listener: -1, ctl: -1}
		r.listener, r.err = unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
		if r.err == nil {
			r.ctl, r.err = unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		}
		if err := unix.Setns(own, unix.CLONE_NEWNET); err != nil {
			closeAll([]int{r.listener, r.ctl})
			done <- result{err: fmt.Errorf("leave the slot's network namespace: %w", err)}
			return // still locked: the thread dies with the goroutine
		}
		runtime.UnlockOSThread()
		if r.err != nil {
			closeAll([]int{r.listener, r.ctl})
		}
		done <- r
	}()
	r := <-done
	return r.listener, r.ctl, r.err
}

// listen binds f, a TCP socket, to sandbox.ProxyAddr and listens.
// SO_REUSEADDR: the connections of the slot's last run may linger in
// TIME_WAIT there.
func listen(f *os.File) (net.Listener, error) {
	fd := int(f.Fd())
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		return nil, err
	}
	addr, err := netip.ParseAddrPort(sandbox.ProxyAddr)
	if err != nil {
		return nil, err
	}
	if err := unix.Bind(fd, &unix.SockaddrInet4{Port: int(addr.Port()), Addr: addr.Addr().As4()}); err != nil {
		return nil, err
	}
	if err := unix.Listen(fd, 128); err != nil {
		return nil, err
	}
	return net.FileListener(f)
}

// loopbackDown puts the loopback of ctl's namespace back as a new
// namespace has it: down and without addresses. Down alone is not that:
// the kernel keeps the 127.0.0.1 it added on the way up, and its local
// routes, so a connection there would wait for packets that never go
// instead of failing at once (network unreachable).
func loopbackDown(ctl int) error {
	if err := setLoopback(ctl, false); err != nil {
		return err
	}
	// Setting an interface's address to 0.0.0.0 deletes it; each call
	// takes one, and there is one unless the keeper added more.
	for range 16 {
		ifr, err := unix.NewIfreq("lo")
		if err != nil {
			return err
		}
		err = unix.IoctlIfreq(ctl, unix.SIOCGIFADDR, ifr)
		if err == unix.EADDRNOTAVAIL {
			return nil
		}
		if err != nil {
			return err
		}
		if err := ifr.SetInet4Addr(net.IPv4zero.To4()); err != nil {
			return err
		}
		if err := unix.IoctlIfreq(ctl, unix.SIOCSIFADDR, ifr); err != nil {
			return err
		}
	}
	return errors.New("the loopback keeps its addresses")
}

// setLoopback brings the "lo" interface of ctl's namespace up or down.
func setLoopback(ctl int, up bool) error {
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(ctl, unix.SIOCGIFFLAGS, ifr); err != nil {
		return err
	}
	flags := ifr.Uint16()
	if up {
		flags |= unix.IFF_UP
	} else {
		flags &^= unix.IFF_UP
	}
	ifr.SetUint16(flags)
	return unix.IoctlIfreq(ctl, unix.SIOCSIFFLAGS, ifr)
}

// loop accepts connections until the listener is closed, each served on
// its own goroutine.
func (e *egressListener) loop() {
	for {
		c, err := e.ln.Accept()
		if err != nil {
			return
		}
		e.mu.Lock()
		e.conns[c] = struct{}{}
		e.mu.Unlock()
		e.serving.Go(func() {
			e.handle(c)
			e.mu.Lock()
			delete(e.conns, c)
			e.mu.Unlock()
		})
	}
}

// close ends the run's way out: no more connections, those still open
// closed under their handlers (the program that made them is gone), the
// handlers returned, and the loopback down again with no address, so the
// slot's next run has no network. An error means the namespace may still have its
// loopback up: its keeper must not serve another run.
func (e *egressListener) close() error {
	e.ln.Close()
	e.accept.Wait()
	e.mu.Lock()
	for c := range e.conns {
		c.Close()
	}
	e.mu.Unlock()
	e.serving.Wait()
	err := loopbackDown(e.ctl)
	unix.Close(e.ctl)
	if err != nil {
		return fmt.Errorf("egress: take the loopback down: %w", err)
	}
	return nil
}
