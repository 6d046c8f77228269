// Package faultfs wraps an afero.Fs to inject the failures that real
// targets produce and tests cannot easily provoke: a disk that fills up
// mid-upload (ENOSPC after N bytes), or any chosen operation failing.
//
//	fsys := faultfs.New(t.FS(), faultfs.Options{FailWriteAfterBytes: 1 << 20, Err: syscall.ENOSPC})
//	_, err := target.WriteFileFrom(fsys, "/snapshots/x", r, 0o600)
//	errors.Is(err, syscall.ENOSPC) // true once 1 MiB has been written
//
// The wrapper hides the wrapped filesystem's optional capabilities (it is
// a plain afero.Fs), so that every byte goes through its Write.
package faultfs

import (
	"io"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/afero"
)

// Options choose the faults.
type Options struct {
	// FailWriteAfterBytes, when positive, is how many bytes all files
	// together may receive; the write that would go past it writes what
	// fits and fails with Err, as a full disk does, and so does every
	// write after it.
	FailWriteAfterBytes int64
	// Err is the error of a failed write; nil means syscall.ENOSPC.
	Err error
	// FailOn, when set, is asked before every operation that changes the
	// filesystem (op is "create", "open", "mkdir", "remove", "rename",
	// "chmod", "chtimes", "chown", "write"; "open" only for opens that can
	// write); a non-nil result fails the operation with that error.
	FailOn func(op, name string) error
}

// Fs is an afero.Fs with injected faults.
type Fs struct {
	inner afero.Fs
	o     Options

	mu      sync.Mutex
	written int64
}

var _ afero.Fs = (*Fs)(nil)

// New wraps fsys.
func New(fsys afero.Fs, o Options) *Fs {
	if o.Err == nil {
		o.Err = syscall.ENOSPC
	}
	return &Fs{inner: fsys, o: o}
}

// Written is the number of bytes written through the wrapper so far.
func (f *Fs) Written() int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.written
}

// allow reserves up to n bytes of the write budget and returns how many
// may be written, and whether the write must then fail.
func (f *Fs) allow(n int) (int, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.o.FailWriteAfterBytes <= 0 {
		f.written += int64(n)
		return n, false
	}
	left := max(f.o.FailWriteAfterBytes-f.written, 0)
	if int64(n) <= left {
		f.written += int64(n)
		return n, false
	}
	f.written += left
	return int(left), true
}

func (f *Fs) check(op, name string) error {
	if f.o.FailOn == nil {
		return nil
	}
	if err := f.o.FailOn(op, name); err != nil {
		return &os.PathError{Op: op, Path: name, Err: err}
	}
	return nil
}

// Name names the wrapper and what it wraps.
func (f *Fs) Name() string { return "faultfs(" + f.inner.Name() + ")" }

// Create fails when FailOn says so; the file's writes are budgeted.
func (f *Fs) Create(name string) (afero.File, error) {
	if err := f.check("create", name); err != nil {
		return nil, err
	}
	file, err := f.inner.Create(name)
	if err != nil {
		return nil, err
	}
	return &File{File: file, fs: f}, nil
}

// OpenFile fails when FailOn says so (for opens that can write).
func (f *Fs) OpenFile(name string, flag int, perm os.FileMode) (afero.File, error) {
	if flag&(os.O_WRONLY|os.O_RDWR|os.O_CREATE|os.O_TRUNC|os.O_APPEND) != 0 {
		if err := f.check("open", name); err != nil {
			return nil, err
		}
	}
	file, err := f.inner.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &File{File: file, fs: f}, nil
}

// Open is never faulted.
func (f *Fs) Open(name string) (afero.File, error) {
	file, err := f.inner.Open(name)
	if err != nil {
		return nil, err
	}
	return &File{File: file, fs: f}, nil
}

// Mkdir fails when FailOn("mkdir") says so.
func (f *Fs) Mkdir(name string, perm os.FileMode) error {
	if err := f.check("mkdir", name); err != nil {
		return err
	}
	return f.inner.Mkdir(name, perm)
}

// MkdirAll fails when FailOn("mkdir") says so.
func (f *Fs) MkdirAll(name string, perm os.FileMode) error {
	if err := f.check("mkdir", name); err != nil {
		return err
	}
	return f.inner.MkdirAll(name, perm)
}

// Remove fails when FailOn("remove") says so.
func (f *Fs) Remove(name string) error {
	if err := f.check("remove", name); err != nil {
		return err
	}
	return f.inner.Remove(name)
}

// RemoveAll fails when FailOn("remove") says so.
func (f *Fs) RemoveAll(name string) error {
	if err := f.check("remove", name); err != nil {
		return err
	}
	return f.inner.RemoveAll(name)
}

// Rename fails when FailOn("rename", oldname) says so.
func (f *Fs) Rename(oldname, newname string) error {
	if err := f.check("rename", oldname); err != nil {
		return err
	}
	return f.inner.Rename(oldname, newname)
}

// Stat is never faulted.
func (f *Fs) Stat(name string) (os.FileInfo, error) { return f.inner.Stat(name) }

// Chmod fails when FailOn("chmod") says so.
func (f *Fs) Chmod(name string, mode os.FileMode) error {
	if err := f.check("chmod", name); err != nil {
		return err
	}
	return f.inner.Chmod(name, mode)
}

// Chown fails when FailOn("chown") says so.
func (f *Fs) Chown(name string, uid, gid int) error {
	if err := f.check("chown", name); err != nil {
		return err
	}
	return f.inner.Chown(name, uid, gid)
}

// Chtimes fails when FailOn("chtimes") says so.
func (f *Fs) Chtimes(name string, atime, mtime time.Time) error {
	if err := f.check("chtimes", name); err != nil {
		return err
	}
	return f.inner.Chtimes(name, atime, mtime)
}

// File is a file of Fs: its writes count against the budget.
type File struct {
	afero.File
	fs *Fs
}

func (f *File) fail(op string) error {
	return &os.PathError{Op: op, Path: f.Name(), Err: f.fs.o.Err}
}

// Write writes what the budget allows, then fails with Options.Err.
func (f *File) Write(p []byte) (int, error) {
	if err := f.fs.check("write", f.Name()); err != nil {
		return 0, err
	}
	n, full := f.fs.allow(len(p))
	w, err := f.File.Write(p[:n])
	if err == nil && full {
		err = f.fail("write")
	}
	return w, err
}

// WriteAt is budgeted as Write is.
func (f *File) WriteAt(p []byte, off int64) (int, error) {
	if err := f.fs.check("write", f.Name()); err != nil {
		return 0, err
	}
	n, full := f.fs.allow(len(p))
	w, err := f.File.WriteAt(p[:n], off)
	if err == nil && full {
		err = f.fail("write")
	}
	return w, err
}

// WriteString is budgeted as Write is.
func (f *File) WriteString(s string) (int, error) { return f.Write([]byte(s)) }

// ReadFrom keeps io.Copy on the budgeted Write path.
func (f *File) ReadFrom(r io.Reader) (int64, error) {
	return io.Copy(struct{ io.Writer }{f}, r)
}
