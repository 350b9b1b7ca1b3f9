package native

import (
	"net"
	"os"

	"golang.org/x/sys/unix"
)

// stdio holds a run's pipes: the program's ends go to the keeper. A
// prepared program also gets one end of a socket pair, its job channel.
type stdio struct {
	inR, inW, outR, outW, errR, errW, jobR *os.File
	job                                    *net.UnixConn
}

func newStdio(withJob bool) (*stdio, error) {
	var s stdio
	for _, p := range [][2]**os.File{{&s.inR, &s.inW}, {&s.outR, &s.outW}, {&s.errR, &s.errW}} {
		var err error
		if *p[0], *p[1], err = os.Pipe(); err != nil {
			s.close()
			return nil, err
		}
	}
	if withJob {
		if err := s.jobChannel(); err != nil {
			s.close()
			return nil, err
		}
	}
	return &s, nil
}

func (s *stdio) jobChannel() error {
	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	s.jobR = os.NewFile(uintptr(pair[1]), "job")
	ours := os.NewFile(uintptr(pair[0]), "job")
	defer ours.Close()
	conn, err := net.FileConn(ours)
	if err != nil {
		return err
	}
	s.job = conn.(*net.UnixConn)
	return nil
}

// programEnds are the program's descriptors 0, 1, 2 (and JobFD), in order.
func (s *stdio) programEnds(mergeStderr bool) []*os.File {
	stderr := s.errW
	if mergeStderr {
		stderr = s.outW
	}
	ends := []*os.File{s.inR, s.outW, stderr}
	if s.jobR != nil {
		ends = append(ends, s.jobR)
	}
	return ends
}

func (s *stdio) closeProgramEnds() { closeFiles(nonNil(s.inR, s.outW, s.errW, s.jobR)) }

func (s *stdio) close() {
	closeFiles(nonNil(s.inR, s.inW, s.outR, s.outW, s.errR, s.errW, s.jobR))
	if s.job != nil {
		s.job.Close()
	}
}
