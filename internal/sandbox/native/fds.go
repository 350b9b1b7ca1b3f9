package native

import (
	"os"
	"slices"

	"golang.org/x/sys/unix"
)

// fdsOf are the descriptors of files, which stay theirs.
func fdsOf(files []*os.File) []int {
	fds := make([]int, len(files))
	for i, f := range files {
		fds[i] = int(f.Fd())
	}
	return fds
}

// closeFiles and closeAll close descriptors that are only read from, or
// handed on: Linux releases a descriptor even when close reports an
// error, so there is nothing left to do about one.
func closeFiles(files []*os.File) {
	for _, f := range files {
		f.Close()
	}
}

func closeAll(fds []int) {
	for _, fd := range fds {
		unix.Close(fd)
	}
}

func nonNil(files ...*os.File) []*os.File {
	return slices.DeleteFunc(files, func(f *os.File) bool { return f == nil })
}
