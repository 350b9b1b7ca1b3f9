package native

import (
	"encoding/binary"
	"errors"
	"io"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/airlock-dev/airlock/internal/sandbox"
)

// socketPair is a control channel like a keeper's, both ends closed at
// the test's end.
func socketPair(t *testing.T) (runner, keeper int) {
	t.Helper()
	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeAll(pair[:]) })
	return pair[0], pair[1]
}

// roundTrip sends v from one end and receives it into got at the other.
func roundTrip(t *testing.T, v, got any) {
	t.Helper()
	a, b := socketPair(t)
	if err := send(a, v, nil); err != nil {
		t.Fatal(err)
	}
	fds, err := recv(b, got, maxReport)
	if err != nil {
		t.Fatal(err)
	}
	if len(fds) != 0 {
		t.Fatalf("%d descriptors came with a message sent without", len(fds))
	}
}

// TestProtocolMessages: each message comes out as it went in, names that
// are not UTF-8 included.
func TestProtocolMessages(t *testing.T) {
	t.Run("config", func(t *testing.T) {
		want := keeperConfig{RootDir: "/run/airlock/root", Binds: []sandbox.Mount{{Source: "/usr"}, {Source: "/opt/py", Target: "/usr/local"}}}
		var got keeperConfig
		roundTrip(t, want, &got)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("got %+v, want %+v", got, want)
		}
	})
	t.Run("request", func(t *testing.T) {
		want := runRequest{
			Files:    []sandbox.File{{Name: "main.py", Content: []byte("print(1)\n"), Mode: 0o644}, {Name: "lib/"}},
			Tree:     toWire([]sandbox.Entry{{Name: "out/\xff\xfe", Mode: 0o600, Size: 9000, Extents: []sandbox.Extent{{Offset: 4096, Length: 10, At: 0}}}}),
			TmpBytes: 64 << 20,
			Argv:     []string{"/usr/bin/python3", "/box/main.py"},
			Env:      []string{"PATH=/usr/bin"},
			Dir:      "/box",
			Rlimits:  []rlimit{{unix.RLIMIT_NOFILE, 64, 64}},
			Collect:  []string{"out"},
			Inherit:  3,
		}
		var got runRequest
		roundTrip(t, want, &got)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("got %+v, want %+v", got, want)
		}
		if name := fromWire(got.Tree)[0].Name; name != "out/\xff\xfe" {
			t.Fatalf("entry name %q came back as %q", "out/\xff\xfe", name)
		}
	})
	t.Run("report", func(t *testing.T) {
		want := report{Exited: true, ExitCode: 3, Signal: 0, Refused: "too many files", Error: "",
			Files: toWire([]sandbox.Entry{{Name: "out/", Mode: 0o755}})}
		var got report
		roundTrip(t, want, &got)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("got %+v, want %+v", got, want)
		}
	})
}

// TestProtocolFraming: messages sent back to back come out one by one,
// and one larger than the socket's buffer comes out whole.
func TestProtocolFraming(t *testing.T) {
	a, b := socketPair(t)
	big := strings.Repeat("x", 4<<20)
	sent := make(chan error, 1)
	go func() {
		for _, code := range []int{1, 2} {
			if err := send(a, report{ExitCode: code}, nil); err != nil {
				sent <- err
				return
			}
		}
		sent <- send(a, report{Error: big}, nil)
	}()
	for _, want := range []report{{ExitCode: 1}, {ExitCode: 2}, {Error: big}} {
		var got report
		if _, err := recv(b, &got, maxReport); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("got a report of exit %d, error of %d bytes; want exit %d, %d bytes", got.ExitCode, len(got.Error), want.ExitCode, len(want.Error))
		}
	}
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
}

// TestProtocolDescriptors: descriptors attached to a message arrive with
// it, close-on-exec, and work.
func TestProtocolDescriptors(t *testing.T) {
	a, b := socketPair(t)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := send(a, report{ExitCode: 7}, fdsOf([]*os.File{w})); err != nil {
		t.Fatal(err)
	}
	w.Close()
	var got report
	fds, err := recv(b, &got, maxReport)
	if err != nil {
		t.Fatal(err)
	}
	if got.ExitCode != 7 || len(fds) != 1 {
		t.Fatalf("got exit %d with %d descriptors, want exit 7 with 1", got.ExitCode, len(fds))
	}
	if flags, err := unix.FcntlInt(uintptr(fds[0]), unix.F_GETFD, 0); err != nil || flags&unix.FD_CLOEXEC == 0 {
		t.Errorf("received descriptor flags %#x (%v), want close-on-exec", flags, err)
	}
	received := os.NewFile(uintptr(fds[0]), "received")
	if _, err := received.WriteString("through"); err != nil {
		t.Fatal(err)
	}
	received.Close()
	if data, err := io.ReadAll(r); err != nil || string(data) != "through" {
		t.Fatalf("read %q (%v) through the received pipe end", data, err)
	}
}

// frame writes a frame header claiming size bytes, then body, with fds
// attached, as a peer that does not keep to the protocol would.
func frame(t *testing.T, fd int, size uint32, body string, fds ...int) {
	t.Helper()
	msg := append(binary.BigEndian.AppendUint32(nil, size), body...)
	var oob []byte
	if len(fds) > 0 {
		oob = unix.UnixRights(fds...)
	}
	if err := unix.Sendmsg(fd, msg, oob, nil, 0); err != nil {
		t.Fatal(err)
	}
}

// attachedPipe is a pipe whose write end goes with a bad message: once
// recv has closed the copy it received, the read end sees EOF.
func attachedPipe(t *testing.T) (r *os.File, w int) {
	t.Helper()
	r, wf, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(); wf.Close() })
	return r, int(wf.Fd())
}

// assertClosed checks that no copy of the pipe's write end is left open.
func assertClosed(t *testing.T, r *os.File, w int) {
	t.Helper()
	unix.Close(w)
	if err := r.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if n, err := r.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Fatalf("the descriptor that came with a refused message is still open (read %d, %v)", n, err)
	}
}

// TestProtocolErrors: a frame cut short, one over the bound, one of bad
// JSON or with too many descriptors is an error, and the descriptors that
// came with it are closed.
func TestProtocolErrors(t *testing.T) {
	cases := []struct {
		name  string
		write func(t *testing.T, fd int, attach int)
		want  string
	}{
		{"header cut short", func(t *testing.T, fd, attach int) {
			if err := unix.Sendmsg(fd, []byte{0, 0}, unix.UnixRights(attach), nil, 0); err != nil {
				t.Fatal(err)
			}
		}, "message cut short"},
		{"body cut short", func(t *testing.T, fd, attach int) { frame(t, fd, 100, `{"exit_code":`, attach) }, "message cut short"},
		{"over the bound", func(t *testing.T, fd, attach int) { frame(t, fd, maxReport+1, "{}", attach) }, "over the bound"},
		{"bad JSON", func(t *testing.T, fd, attach int) { frame(t, fd, 5, "{nope", attach) }, "invalid character"},
		{"wrong type", func(t *testing.T, fd, attach int) {
			body := `{"exit_code":"3"}`
			frame(t, fd, uint32(len(body)), body, attach)
		}, "cannot unmarshal"},
		{"too many descriptors", func(t *testing.T, fd, attach int) {
			fds := make([]int, maxAttached+1)
			for i := range fds {
				fds[i] = attach
			}
			frame(t, fd, 2, "{}", fds...)
		}, "more than 16 descriptors"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a, b := socketPair(t)
			r, w := attachedPipe(t)
			c.write(t, a, w)
			unix.Close(a) // the peer is gone after its message
			var got report
			fds, err := recv(b, &got, maxReport)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("recv = %v, %v; want an error saying %q", fds, err, c.want)
			}
			assertClosed(t, r, w)
		})
	}
}

// TestProtocolPeerGone: a closed channel is io.EOF, between messages.
func TestProtocolPeerGone(t *testing.T) {
	a, b := socketPair(t)
	if err := send(a, report{}, nil); err != nil {
		t.Fatal(err)
	}
	unix.Close(a)
	var got report
	if _, err := recv(b, &got, maxReport); err != nil {
		t.Fatal(err)
	}
	if _, err := recv(b, &got, maxReport); !errors.Is(err, io.EOF) {
		t.Fatalf("recv from a closed channel: %v, want io.EOF", err)
	}
	if err := send(b, report{}, nil); err == nil {
		t.Fatal("send to a closed channel succeeded")
	}
}

// TestKeeperWait: a report's first descriptor becomes its data, others
// are closed, and a failed channel marks the keeper broken.
func TestKeeperWait(t *testing.T) {
	a, b := socketPair(t)
	k := &keeper{conn: b}
	data, err := os.CreateTemp(t.TempDir(), "data")
	if err != nil {
		t.Fatal(err)
	}
	defer data.Close()
	r, extra := attachedPipe(t)
	if err := send(a, report{Exited: true}, []int{int(data.Fd()), extra}); err != nil {
		t.Fatal(err)
	}
	var rep report
	if err := k.wait(&rep); err != nil {
		t.Fatal(err)
	}
	if rep.data == nil || !rep.Exited || k.broken {
		t.Fatalf("report %+v, data %v, broken %v", rep, rep.data, k.broken)
	}
	rep.data.Close()
	assertClosed(t, r, extra)

	frame(t, a, 3, "{}")
	unix.Close(a)
	if err := k.wait(&rep); err == nil || !k.broken {
		t.Fatalf("a cut-short report: %v, broken %v; want an error and a broken keeper", err, k.broken)
	}
}

// TestRequestSplit sorts a request's descriptors by role.
func TestRequestSplit(t *testing.T) {
	tree := toWire([]sandbox.Entry{{Name: "a"}})
	cases := []struct {
		name string
		req  runRequest
		fds  []int
		want runFDs
		err  bool
	}{
		{"run", runRequest{Inherit: 3}, []int{10, 11, 12, 13}, runFDs{program: []int{10, 11, 12}, tree: -1, join: []int{13}}, false},
		{"prepared with a tree, cgroup v1", runRequest{Inherit: 4, Tree: tree}, []int{10, 11, 12, 13, 14, 15, 16}, runFDs{program: []int{10, 11, 12, 13}, tree: 14, join: []int{15, 16}}, false},
		{"no join file", runRequest{Inherit: 3, Tree: tree}, []int{10, 11, 12, 13}, runFDs{}, true},
		{"odd inherit", runRequest{Inherit: 2}, []int{10, 11, 12}, runFDs{}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := c.req.split(c.fds)
			if (err != nil) != c.err {
				t.Fatalf("error %v, want one: %v", err, c.err)
			}
			if !c.err && !reflect.DeepEqual(got, c.want) {
				t.Fatalf("got %+v, want %+v", got, c.want)
			}
		})
	}
}
