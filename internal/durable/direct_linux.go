package durable

import (
	"errors"
	"io/fs"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// directWrites can be turned off by tests, to run the buffered path.
var directWrites = true

// openDirect creates name (O_EXCL) for writing with O_DIRECT, or without
// it (direct false) where the filesystem refuses O_DIRECT (tmpfs before
// Linux 6.6, some network filesystems).
func openDirect(name string, perm fs.FileMode) (f *os.File, direct bool, err error) {
	flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
	if directWrites {
		f, err = os.OpenFile(name, flags|syscall.O_DIRECT, perm)
		if err == nil {
			return f, true, nil
		}
		if !errors.Is(err, syscall.EINVAL) {
			return nil, false, err
		}
		// Refused after the file was made, on some filesystems; O_EXCL
		// says it did not exist before this call.
		_ = os.Remove(name)
	}
	f, err = os.OpenFile(name, flags, perm)
	return f, false, err
}

// mapAnon returns n bytes of page-aligned anonymous memory.
func mapAnon(n int) ([]byte, error) {
	return syscall.Mmap(-1, 0, n, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
}

// writeDirectChunk writes b to f, opened with O_DIRECT. A device whose
// blocks are larger than directAlign refuses the write (EINVAL); f then
// goes on without O_DIRECT, through the page cache, rather than fail.
func writeDirectChunk(f *os.File, b []byte) (int, error) {
	n, err := f.Write(b)
	if n != 0 || !errors.Is(err, syscall.EINVAL) {
		return n, err
	}
	if clearDirect(f) != nil {
		return 0, err
	}
	return f.Write(b)
}

// clearDirect turns O_DIRECT off on f: its writes go through the page
// cache from then on, with no alignment to keep.
func clearDirect(f *os.File) error {
	flags, err := unix.FcntlInt(f.Fd(), unix.F_GETFL, 0)
	if err == nil {
		_, err = unix.FcntlInt(f.Fd(), unix.F_SETFL, flags&^unix.O_DIRECT)
	}
	return err
}
