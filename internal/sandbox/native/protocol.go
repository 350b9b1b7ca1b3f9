package native

// The keeper protocol. A Runner and each of its keepers talk over a
// stream socket pair (controlFD in the keeper): the Runner sends a
// keeperConfig, answered by a report; then, per run, a runRequest,
// answered by two reports (the program started, the program ended).
// Every message is a 4-byte big-endian length and that many bytes of
// JSON; descriptors ride with its first byte (SCM_RIGHTS).

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"

	"golang.org/x/sys/unix"

	"github.com/airlock-dev/airlock/internal/sandbox"
)

// controlFD is the keeper's end of its control socket.
const controlFD = 3

// keeperConfig is the first message to a new keeper.
type keeperConfig struct {
	RootDir string // empty host directory the root is mounted on, in the keeper's namespace
	Binds   []sandbox.Mount
}

// runRequest asks a keeper for one run. Attached, in order: the
// program's descriptors (stdin, stdout, stderr, and for a prepared
// sandbox the job channel), the data of Tree when it has entries, then
// the files that join the run's cgroup (see cgroup.Group.OpenJoin).
type runRequest struct {
	Files    []sandbox.File
	Tree     []entry // placed after Files, their data read from the attached file
	TmpBytes int64
	Argv     []string
	Env      []string
	Dir      string
	Rlimits  []rlimit
	Collect  []string
	Bounds   sandbox.CollectBounds // of Collect, defaults filled in
	Inherit  int                   // how many attached descriptors the program gets: 3, or 4 with sandbox.JobFD
}

// runFDs are a runRequest's attached descriptors, by role.
type runFDs struct {
	program []int // its descriptors 0, 1, 2 (and JobFD)
	tree    int   // -1 when the request has no Tree
	join    []int
}

// split sorts the descriptors attached to req by role.
func (req *runRequest) split(fds []int) (runFDs, error) {
	if req.Inherit != 3 && req.Inherit != sandbox.JobFD+1 {
		return runFDs{}, fmt.Errorf("run request passes %d descriptors to the program, want 3 or %d", req.Inherit, sandbox.JobFD+1)
	}
	fixed := req.Inherit
	if len(req.Tree) > 0 {
		fixed++
	}
	if len(fds) < fixed+1 {
		return runFDs{}, fmt.Errorf("run request carries %d descriptors, want at least %d", len(fds), fixed+1)
	}
	parts := runFDs{program: fds[:req.Inherit], tree: -1, join: fds[fixed:]}
	if len(req.Tree) > 0 {
		parts.tree = fds[req.Inherit]
	}
	return parts, nil
}

// report answers keeperConfig (ready, or why not) and, twice, each
// runRequest: an empty one once the program is started (or failed to
// start), then how it ended.
//
// What the run collected comes as a Tree: its entries here, its data in
// a memfd attached to the report, never in the JSON.
type report struct {
	Error    string  `json:"error,omitempty"`
	Exited   bool    `json:"exited"`
	ExitCode int     `json:"exit_code"`
	Signal   int     `json:"signal"`
	Files    []entry `json:"files,omitempty"`
	// Refused says why what the program left could not be collected.
	Refused string   `json:"refused,omitempty"`
	data    *os.File // the collected data, attached
}

// entry is a sandbox.Entry on the control channel: its name as bytes,
// which JSON carries as they are, UTF-8 or not.
type entry struct {
	Name    []byte
	Mode    uint32
	Size    int64
	Extents []sandbox.Extent
}

func toWire(entries []sandbox.Entry) []entry {
	wire := make([]entry, len(entries))
	for i, e := range entries {
		wire[i] = entry{Name: []byte(e.Name), Mode: e.Mode, Size: e.Size, Extents: e.Extents}
	}
	return wire
}

func fromWire(wire []entry) []sandbox.Entry {
	entries := make([]sandbox.Entry, len(wire))
	for i, e := range wire {
		entries[i] = sandbox.Entry{Name: string(e.Name), Mode: e.Mode, Size: e.Size, Extents: e.Extents}
	}
	return entries
}

// send sends the report on the keeper's control socket with its data
// attached, which it then closes.
func (r report) send() error {
	if r.data == nil {
		return send(controlFD, r, nil)
	}
	defer r.data.Close()
	return send(controlFD, r, []int{int(r.data.Fd())})
}

// maxAttached bounds the descriptors one message may carry.
const maxAttached = 16

// Bounds of a message's JSON. A report holds at most
// sandbox.MaxCollectFiles entries with their extents, a few MiB: a longer
// one comes from a keeper gone wrong, which must not make the Runner
// allocate what it says. A request carries the run's files, bounded by
// the caller (the API's body limit), and only the frame's length field
// bounds it here.
const (
	maxReport  = 64 << 20
	maxRequest = math.MaxUint32
)

// send writes v as one length-prefixed JSON message on the stream socket
// fd, with fds attached to its first byte.
func send(fd int, v any, fds []int) error {
	body, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if uint64(len(body)) > math.MaxUint32 {
		return fmt.Errorf("send: a message of %d bytes does not fit its frame", len(body))
	}
	msg := binary.BigEndian.AppendUint32(make([]byte, 0, 4+len(body)), uint32(len(body)))
	msg = append(msg, body...)
	var oob []byte
	if len(fds) > 0 {
		oob = unix.UnixRights(fds...)
	}
	// MSG_NOSIGNAL: a dead peer is an error here, not a SIGPIPE.
	n, err := unix.SendmsgN(fd, msg, oob, nil, unix.MSG_NOSIGNAL)
	for err == nil && n < len(msg) {
		var m int
		m, err = unix.SendmsgN(fd, msg[n:], nil, nil, unix.MSG_NOSIGNAL)
		n += m
	}
	if err != nil {
		return fmt.Errorf("send: %w", err)
	}
	return nil
}

// recv reads one message sent by send into v, its JSON no longer than
// limit, and returns the descriptors that came with it (close-on-exec).
// io.EOF means the peer is gone. On an error the stream is no longer
// framed: the caller gives the channel up.
func recv(fd int, v any, limit uint32) ([]int, error) {
	var hdr [4]byte
	oob := make([]byte, unix.CmsgSpace(maxAttached*4))
	n, oobn, flags, _, err := unix.Recvmsg(fd, hdr[:], oob, unix.MSG_CMSG_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("recv: %w", err)
	}
	if n == 0 {
		return nil, io.EOF
	}
	fds, err := parseRights(oob[:oobn])
	if err != nil {
		return nil, err
	}
	if flags&unix.MSG_CTRUNC != 0 {
		// The kernel closed the descriptors that did not fit.
		closeAll(fds)
		return nil, fmt.Errorf("recv: a message with more than %d descriptors", maxAttached)
	}
	if err := readFull(fd, hdr[n:]); err != nil {
		closeAll(fds)
		return nil, err
	}
	size := binary.BigEndian.Uint32(hdr[:])
	if size > limit {
		closeAll(fds)
		return nil, fmt.Errorf("recv: a message of %d bytes, over the bound of %d", size, limit)
	}
	body := make([]byte, size)
	if err := readFull(fd, body); err != nil {
		closeAll(fds)
		return nil, err
	}
	if err := json.Unmarshal(body, v); err != nil {
		closeAll(fds)
		return nil, err
	}
	return fds, nil
}

func parseRights(oob []byte) ([]int, error) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, err
	}
	var fds []int
	for _, m := range msgs {
		got, err := unix.ParseUnixRights(&m)
		if err != nil {
			closeAll(fds)
			return nil, err
		}
		fds = append(fds, got...)
	}
	return fds, nil
}

func readFull(fd int, buf []byte) error {
	for len(buf) > 0 {
		n, err := unix.Read(fd, buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("recv: %w", err)
		}
		if n == 0 {
			return errors.New("recv: message cut short")
		}
		buf = buf[n:]
	}
	return nil
}
