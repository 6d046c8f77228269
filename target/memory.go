package target

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"syscall"

	"github.com/spf13/afero"
)

// Memory is an empty in-memory target for tests, rooted at "/", with URL
// "mem://". Each call returns a new, independent one.
//
// Its filesystem is afero's MemMapFs made to behave like a disk where
// push code could otherwise pass tests and fail in production: creating a
// file or directory in a missing directory fails with os.ErrNotExist
// (MemMapFs creates the parents silently), and renaming a directory onto an
// existing one fails with os.ErrExist (MemMapFs merges the two). Removing a
// non-empty directory fails, MkdirAll does not pass through a file, and
// files' ReadAt and WriteAt behave as *os.File's.
func Memory() Target {
	return &memTarget{fs: &memFS{MemMapFs: afero.NewMemMapFs().(*afero.MemMapFs)}}
}

type memTarget struct{ fs *memFS }

var _ Target = (*memTarget)(nil)

func (t *memTarget) FS() afero.Fs { return t.fs }
func (t *memTarget) Root() string { return "/" }
func (t *memTarget) URL() string  { return "mem://" }
func (t *memTarget) Close() error { return nil }

type memFS struct {
	*afero.MemMapFs
}

var (
	_ afero.Fs     = (*memFS)(nil)
	_ PosixRenamer = (*memFS)(nil)
)

func (m *memFS) Name() string { return "MemoryFS" }

// needParent fails unless the directory that would hold name exists.
func (m *memFS) needParent(op, name string) error {
	dir := filepath.Dir(filepath.Clean(name))
	if dir == "." || dir == name {
		return nil
	}
	fi, err := m.MemMapFs.Stat(dir)
	if err != nil {
		return &os.PathError{Op: op, Path: name, Err: os.ErrNotExist}
	}
	if !fi.IsDir() {
		return &os.PathError{Op: op, Path: name, Err: syscall.ENOTDIR}
	}
	return nil
}

func (m *memFS) Create(name string) (afero.File, error) {
	return m.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o666)
}

func (m *memFS) Open(name string) (afero.File, error) {
	return m.OpenFile(name, os.O_RDONLY, 0)
}

func (m *memFS) OpenFile(name string, flag int, perm os.FileMode) (afero.File, error) {
	if flag&os.O_CREATE != 0 {
		if err := m.needParent("open", name); err != nil {
			return nil, err
		}
	}
	f, err := m.MemMapFs.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &memFile{File: f}, nil
}

func (m *memFS) Mkdir(name string, perm os.FileMode) error {
	if err := m.needParent("mkdir", name); err != nil {
		return err
	}
	return m.MemMapFs.Mkdir(name, perm)
}

// MkdirAll fails when a component of name is a file.
func (m *memFS) MkdirAll(name string, perm os.FileMode) error {
	for p := filepath.Clean(name); ; p = filepath.Dir(p) {
		if fi, err := m.MemMapFs.Stat(p); err == nil {
			if !fi.IsDir() {
				return &os.PathError{Op: "mkdir", Path: name, Err: syscall.ENOTDIR}
			}
			break
		}
		if p == filepath.Dir(p) {
			break
		}
	}
	return m.MemMapFs.MkdirAll(name, perm)
}

// Remove refuses a non-empty directory (MemMapFs would orphan its children).
func (m *memFS) Remove(name string) error {
	if fi, err := m.MemMapFs.Stat(name); err == nil && fi.IsDir() {
		if names, _ := afero.ReadDir(m.MemMapFs, name); len(names) > 0 {
			return &os.PathError{Op: "remove", Path: name, Err: syscall.ENOTEMPTY}
		}
	}
	return m.MemMapFs.Remove(name)
}

// memFile fixes two differences of MemMapFs files from *os.File: ReadAt
// past the end returns io.EOF, and WriteAt leaves the offset alone.
type memFile struct {
	afero.File
}

func (f *memFile) ReadAt(b []byte, off int64) (int, error) {
	n, err := f.File.ReadAt(b, off)
	if errors.Is(err, io.ErrUnexpectedEOF) {
		err = io.EOF
	}
	return n, err
}

func (f *memFile) WriteAt(b []byte, off int64) (int, error) {
	cur, err := f.File.Seek(0, io.SeekCurrent)
	if err != nil {
		return 0, err
	}
	n, err := f.File.WriteAt(b, off)
	if _, serr := f.File.Seek(cur, io.SeekStart); err == nil {
		err = serr
	}
	return n, err
}

// Rename follows rename(2) for files, and never replaces a directory.
func (m *memFS) Rename(oldname, newname string) error {
	return m.rename(oldname, newname, false)
}

// PosixRename is rename(2): an existing file, or an empty directory when
// oldname is a directory, is replaced.
func (m *memFS) PosixRename(oldname, newname string) error {
	return m.rename(oldname, newname, true)
}

func (m *memFS) rename(oldname, newname string, posix bool) error {
	fail := func(err error) error { return &os.LinkError{Op: "rename", Old: oldname, New: newname, Err: err} }
	src, err := m.MemMapFs.Stat(oldname)
	if err != nil {
		return fail(os.ErrNotExist)
	}
	if filepath.Clean(oldname) == filepath.Clean(newname) {
		return nil
	}
	if err := m.needParent("rename", newname); err != nil {
		return fail(os.ErrNotExist)
	}
	if dst, err := m.MemMapFs.Stat(newname); err == nil {
		switch {
		case src.IsDir() && !dst.IsDir():
			return fail(syscall.ENOTDIR)
		case !src.IsDir() && dst.IsDir():
			return fail(syscall.EISDIR)
		case src.IsDir() && !posix:
			return fail(os.ErrExist)
		case src.IsDir():
			names, _ := afero.ReadDir(m.MemMapFs, newname)
			if len(names) > 0 {
				return fail(syscall.ENOTEMPTY)
			}
			if err := m.MemMapFs.Remove(newname); err != nil {
				return fail(err)
			}
		}
	}
	return m.MemMapFs.Rename(oldname, newname)
}

var (
	_ Target       = (*memTarget)(nil)
	_ PosixRenamer = (*memFS)(nil)
)
