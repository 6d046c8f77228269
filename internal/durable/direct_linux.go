package durable

import (
	"errors"
	"io/fs"
	"os"
	"syscall"
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
