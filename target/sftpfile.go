package target

import (
	"errors"
	"io"
	"os"
	"slices"
	"strings"
	"syscall"

	"github.com/pkg/sftp"
	"github.com/spf13/afero"
)

// sftpFile is an afero.File over an *sftp.File. A directory opened on a
// server that refuses to open directories has no handle (f is nil): it can
// only be listed, stat'ed and closed.
type sftpFile struct {
	fs   *sftpFS
	name string
	f    *sftp.File

	dir    []os.FileInfo // Readdir's listing, read on first use
	dirOff int
	listed bool
}

var (
	_ afero.File    = (*sftpFile)(nil)
	_ io.ReaderFrom = (*sftpFile)(nil)
	_ io.WriterTo   = (*sftpFile)(nil)
)

func (f *sftpFile) handle(op string) (*sftp.File, error) {
	if f.f == nil {
		return nil, &os.PathError{Op: op, Path: f.name, Err: syscall.EISDIR}
	}
	return f.f, nil
}

func (f *sftpFile) Name() string { return f.name }

func (f *sftpFile) Close() error {
	if f.f == nil {
		return nil
	}
	return pathErr("close", f.name, f.f.Close())
}

// Read, ReadAt and Write return io.EOF and short counts as *os.File does;
// other errors are *os.PathError.
func (f *sftpFile) Read(b []byte) (int, error) {
	h, err := f.handle("read")
	if err != nil {
		return 0, err
	}
	n, err := h.Read(b)
	return n, ioErr("read", f.name, err)
}

func (f *sftpFile) ReadAt(b []byte, off int64) (int, error) {
	h, err := f.handle("read")
	if err != nil {
		return 0, err
	}
	n, err := h.ReadAt(b, off)
	return n, ioErr("read", f.name, err)
}

func (f *sftpFile) Seek(offset int64, whence int) (int64, error) {
	h, err := f.handle("seek")
	if err != nil {
		return 0, err
	}
	n, err := h.Seek(offset, whence)
	return n, pathErr("seek", f.name, err)
}

func (f *sftpFile) Write(b []byte) (int, error) {
	h, err := f.handle("write")
	if err != nil {
		return 0, err
	}
	n, err := h.Write(b)
	return n, pathErr("write", f.name, err)
}

func (f *sftpFile) WriteAt(b []byte, off int64) (int, error) {
	h, err := f.handle("write")
	if err != nil {
		return 0, err
	}
	n, err := h.WriteAt(b, off)
	return n, pathErr("write", f.name, err)
}

func (f *sftpFile) WriteString(s string) (int, error) { return f.Write([]byte(s)) }

// ReadFrom makes io.Copy onto the file concurrent whatever the source is:
// see WriteFileFrom.
func (f *sftpFile) ReadFrom(r io.Reader) (int64, error) {
	h, err := f.handle("write")
	if err != nil {
		return 0, err
	}
	n, err := h.ReadFromWithConcurrency(r, 0)
	return n, pathErr("write", f.name, err)
}

// WriteTo makes io.Copy from the file use concurrent reads.
func (f *sftpFile) WriteTo(w io.Writer) (int64, error) {
	h, err := f.handle("read")
	if err != nil {
		return 0, err
	}
	n, err := h.WriteTo(w)
	return n, pathErr("read", f.name, err)
}

func (f *sftpFile) Truncate(size int64) error {
	h, err := f.handle("truncate")
	if err != nil {
		return err
	}
	return pathErr("truncate", f.name, h.Truncate(size))
}

func (f *sftpFile) Stat() (os.FileInfo, error) {
	if f.f == nil {
		return f.fs.Stat(f.name)
	}
	fi, err := f.f.Stat()
	return fi, pathErr("stat", f.name, err)
}

// Sync is fsync@openssh.com. When the server does not offer it, Sync does
// nothing and returns nil: the data is on the server once Close returns,
// but may sit in its page cache. A directory that cannot be synced is not
// an error either (fsync on a directory handle is best effort).
func (f *sftpFile) Sync() error {
	if f.f == nil || !f.fs.fsync {
		return nil
	}
	err := f.f.Sync()
	if err == nil {
		return nil
	}
	if fi, serr := f.fs.c.Stat(f.name); serr == nil && fi.IsDir() {
		return nil
	}
	return pathErr("sync", f.name, err)
}

// Readdir lists the directory in name order, as os.File.Readdir does
// (count > 0: at most count entries per call, io.EOF at the end).
func (f *sftpFile) Readdir(count int) ([]os.FileInfo, error) {
	if !f.listed {
		entries, err := f.fs.c.ReadDir(f.name)
		if err != nil {
			return nil, pathErr("readdir", f.name, err)
		}
		slices.SortFunc(entries, func(a, b os.FileInfo) int { return strings.Compare(a.Name(), b.Name()) })
		f.dir, f.listed = entries, true
	}
	rest := f.dir[f.dirOff:]
	if count <= 0 {
		f.dirOff = len(f.dir)
		return rest, nil
	}
	if len(rest) == 0 {
		return nil, io.EOF
	}
	n := min(count, len(rest))
	f.dirOff += n
	return rest[:n], nil
}

func (f *sftpFile) Readdirnames(n int) ([]string, error) {
	fis, err := f.Readdir(n)
	names := make([]string, len(fis))
	for i, fi := range fis {
		names[i] = fi.Name()
	}
	return names, err
}

// ioErr leaves io.EOF alone, as callers compare it with ==.
func ioErr(op, name string, err error) error {
	if err == nil || errors.Is(err, io.EOF) {
		return err
	}
	return pathErr(op, name, err)
}
