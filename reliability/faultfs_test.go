package reliability_test

import (
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"sync"
	"syscall"

	"github.com/spf13/afero"
)

var osFS = afero.NewOsFs()

// Operation kinds a faultFS counts and can fail.
const (
	opCreate = "create" // OpenFile with O_CREATE, Create
	opOpen   = "open"   // Open, OpenFile without O_CREATE (files and directories)
	opMkdir  = "mkdir"  // Mkdir, MkdirAll
	opWrite  = "write"  // File.Write, WriteAt, WriteString
	opRead   = "read"   // File.Read, ReadAt
	opSync   = "sync"   // File.Sync (files and directories)
	opClose  = "close"  // File.Close
	opRename = "rename"
	opRemove = "remove" // Remove, RemoveAll (counted, never failed)
)

// FailOn makes a faultFS fail the Nth call (1-based) of one operation kind.
type FailOn struct {
	Op string
	N  int
	// Err is the errno returned, wrapped in *os.PathError as the OS does;
	// nil means EIO.
	Err error
	// Sticky fails every call of Op from the Nth on, as a full disk does.
	Sticky bool
	// ShortWrite (Op "write") writes half the buffer and returns
	// io.ErrShortWrite, as a writer that ran out of room mid-call.
	ShortWrite bool
	// Silent (with ShortWrite) returns a nil error for the short write:
	// a writer that breaks io.Writer's contract. Code that ignores the
	// count Write returns then writes a torn file without noticing.
	Silent bool
}

func (f FailOn) String() string {
	s := fmt.Sprintf("%s#%d", f.Op, f.N)
	if f.Sticky {
		s += "+"
	}
	switch {
	case f.ShortWrite && f.Silent:
		s += " silent short write"
	case f.ShortWrite:
		s += " short write"
	default:
		s += " " + f.errno().Error()
	}
	return s
}

func (f FailOn) errno() error {
	if f.Err == nil {
		return syscall.EIO
	}
	return f.Err
}

// faultFS wraps an afero.Fs and its files, counts operations by kind and
// fails the ones its rules name. It is deliberately neither *afero.OsFs
// nor a durable.OSPather, so the code under test takes its afero paths
// (temporary file plus stream copy for SQLite, no hardlinks) and every
// byte it writes into the backup directory passes through here.
type faultFS struct {
	afero.Fs
	mu     sync.Mutex
	counts map[string]int
	rules  []FailOn
	hits   []string // faults injected: "op#n path"
}

func newFaultFS(base afero.Fs, rules ...FailOn) *faultFS {
	return &faultFS{Fs: base, counts: map[string]int{}, rules: rules}
}

func (f *faultFS) Name() string { return "faultFS(" + f.Fs.Name() + ")" }

// tick counts one call of op on name and returns the rule to apply, if any.
func (f *faultFS) tick(op, name string) (FailOn, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.counts[op]++
	n := f.counts[op]
	for _, r := range f.rules {
		if r.Op == op && (n == r.N || (r.Sticky && n > r.N)) {
			f.hits = append(f.hits, fmt.Sprintf("%s#%d %s", op, n, name))
			return r, true
		}
	}
	return FailOn{}, false
}

// Counts returns a copy of the operation counts.
func (f *faultFS) Counts() map[string]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make(map[string]int, len(f.counts))
	for k, v := range f.counts {
		out[k] = v
	}
	return out
}

// Hits returns the faults injected so far.
func (f *faultFS) Hits() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.hits...)
}

func countsString(c map[string]int) string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteString(" ")
		}
		fmt.Fprintf(&b, "%s=%d", k, c[k])
	}
	return b.String()
}

func pathErr(op, name string, r FailOn) error {
	return &os.PathError{Op: op, Path: name, Err: r.errno()}
}

func (f *faultFS) Create(name string) (afero.File, error) {
	if r, hit := f.tick(opCreate, name); hit {
		return nil, pathErr("open", name, r)
	}
	file, err := f.Fs.Create(name)
	return f.wrap(file, name, err)
}

func (f *faultFS) Open(name string) (afero.File, error) {
	if r, hit := f.tick(opOpen, name); hit {
		return nil, pathErr("open", name, r)
	}
	file, err := f.Fs.Open(name)
	return f.wrap(file, name, err)
}

func (f *faultFS) OpenFile(name string, flag int, perm os.FileMode) (afero.File, error) {
	op := opOpen
	if flag&os.O_CREATE != 0 {
		op = opCreate
	}
	if r, hit := f.tick(op, name); hit {
		return nil, pathErr("open", name, r)
	}
	file, err := f.Fs.OpenFile(name, flag, perm)
	return f.wrap(file, name, err)
}

func (f *faultFS) Mkdir(name string, perm os.FileMode) error {
	if r, hit := f.tick(opMkdir, name); hit {
		return pathErr("mkdir", name, r)
	}
	return f.Fs.Mkdir(name, perm)
}

func (f *faultFS) MkdirAll(name string, perm os.FileMode) error {
	if r, hit := f.tick(opMkdir, name); hit {
		return pathErr("mkdir", name, r)
	}
	return f.Fs.MkdirAll(name, perm)
}

func (f *faultFS) Rename(oldname, newname string) error {
	if r, hit := f.tick(opRename, newname); hit {
		return &os.LinkError{Op: "rename", Old: oldname, New: newname, Err: r.errno()}
	}
	return f.Fs.Rename(oldname, newname)
}

func (f *faultFS) Remove(name string) error {
	f.tick(opRemove, name)
	return f.Fs.Remove(name)
}

func (f *faultFS) RemoveAll(name string) error {
	f.tick(opRemove, name)
	return f.Fs.RemoveAll(name)
}

// LstatIfPossible keeps the base's Lstat, so that walks see symbolic links
// as the code under test would on the bare filesystem.
func (f *faultFS) LstatIfPossible(name string) (os.FileInfo, bool, error) {
	if l, ok := f.Fs.(afero.Lstater); ok {
		return l.LstatIfPossible(name)
	}
	fi, err := f.Fs.Stat(name)
	return fi, false, err
}

func (f *faultFS) wrap(file afero.File, name string, err error) (afero.File, error) {
	if err != nil {
		return file, err
	}
	return &faultFile{File: file, fs: f, name: name}, nil
}

// faultFile is a file of a faultFS. Only afero.File's methods are
// exposed, so io.Copy cannot bypass Write through ReadFrom.
type faultFile struct {
	afero.File
	fs   *faultFS
	name string
}

func (w *faultFile) write(p []byte, do func([]byte) (int, error)) (int, error) {
	r, hit := w.fs.tick(opWrite, w.name)
	if !hit {
		return do(p)
	}
	if r.ShortWrite && len(p) > 1 {
		n, err := do(p[:len(p)/2])
		if err != nil {
			return n, err
		}
		if r.Silent {
			return n, nil
		}
		return n, io.ErrShortWrite
	}
	return 0, pathErr("write", w.name, r)
}

func (w *faultFile) Write(p []byte) (int, error) { return w.write(p, w.File.Write) }

func (w *faultFile) WriteAt(p []byte, off int64) (int, error) {
	return w.write(p, func(b []byte) (int, error) { return w.File.WriteAt(b, off) })
}

func (w *faultFile) WriteString(s string) (int, error) { return w.write([]byte(s), w.File.Write) }

func (w *faultFile) Read(p []byte) (int, error) {
	if r, hit := w.fs.tick(opRead, w.name); hit {
		return 0, pathErr("read", w.name, r)
	}
	return w.File.Read(p)
}

func (w *faultFile) ReadAt(p []byte, off int64) (int, error) {
	if r, hit := w.fs.tick(opRead, w.name); hit {
		return 0, pathErr("read", w.name, r)
	}
	return w.File.ReadAt(p, off)
}

// Sync is counted and can fail, but a sync that passes is not forwarded:
// these tests are about errors, not power loss, and skipping the real
// fsync makes them several times faster on a busy disk.
func (w *faultFile) Sync() error {
	if r, hit := w.fs.tick(opSync, w.name); hit {
		return pathErr("sync", w.name, r)
	}
	return nil
}

func (w *faultFile) Close() error {
	if r, hit := w.fs.tick(opClose, w.name); hit {
		_ = w.File.Close() // the descriptor is gone either way, as with close(2)
		return pathErr("close", w.name, r)
	}
	return w.File.Close()
}

// errnoText is what an injected error looks like in a message.
func errnoText(r FailOn) string {
	if r.ShortWrite {
		return io.ErrShortWrite.Error()
	}
	return r.errno().Error()
}
