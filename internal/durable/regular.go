package durable

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

// ErrNotRegular is matched by errors.Is when a file that must hold data
// (a live database, the registry, a Chroma file) is a device, a FIFO, a
// socket or a directory. Reading one can block forever (a FIFO) or never
// end (/dev/zero), so such files are refused before they are opened.
var ErrNotRegular = errors.New("not a regular file")

// NotRegularError names the file that is not a regular file and what it is.
type NotRegularError struct {
	Path string
	Mode fs.FileMode
}

func (e *NotRegularError) Error() string {
	return fmt.Sprintf("%s is %s, not a regular file", e.Path, describeType(e.Mode))
}

// Is makes errors.Is(err, ErrNotRegular) match.
func (e *NotRegularError) Is(target error) bool { return target == ErrNotRegular }

func describeType(m fs.FileMode) string {
	switch {
	case m&fs.ModeDir != 0:
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a FIFO (named pipe)"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a block device"
	case m&fs.ModeSymlink != 0:
		return "a symbolic link"
	default:
		return "a special file (" + m.Type().String() + ")"
	}
}

// CheckRegular returns a *NotRegularError for fi, named p, when fi is not a
// regular file.
func CheckRegular(p string, fi fs.FileInfo) error {
	if fi.Mode().IsRegular() {
		return nil
	}
	return &NotRegularError{Path: p, Mode: fi.Mode()}
}

// StatRegular stats name, following symbolic links, and returns a
// *NotRegularError when what it names is not a regular file. Nothing is
// opened.
func StatRegular(name string) (fs.FileInfo, error) {
	fi, err := os.Stat(name)
	if err != nil {
		return nil, err
	}
	return fi, CheckRegular(name, fi)
}

// OpenRegular opens name for reading, only if it is a regular file. It is
// stat'd first, so that a device or a FIFO is never opened (opening one
// can block or act on hardware); then opened with O_NONBLOCK, so that a
// FIFO put in its place meanwhile cannot block the open; then what was
// opened is checked again to be a regular file. O_NONBLOCK does not change
// how a regular file is read.
func OpenRegular(name string) (*os.File, fs.FileInfo, error) {
	if _, err := StatRegular(name); err != nil {
		return nil, nil, err
	}
	f, err := os.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, nil, err
	}
	fi, err := f.Stat()
	if err == nil {
		err = CheckRegular(name, fi)
	}
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return f, fi, nil
}
