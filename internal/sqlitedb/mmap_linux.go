//go:build linux

package sqlitedb

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
)

var mappedResidentBudget = envInt("MMBUDGET", 32<<20)
var residentCheckEvery = envInt("MMEVERY", 256)
var madvRandom = os.Getenv("MMRANDOM") != ""

func envInt(k string, d int64) int64 {
	if v, err := strconv.ParseInt(os.Getenv(k), 10, 64); err == nil {
		return v
	}
	return d
}

type mappedFS struct{ dir string }

func (m mappedFS) Open(name string) (fs.File, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrInvalid}
	}
	f, err := os.Open(filepath.Join(m.dir, filepath.FromSlash(name)))
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	mf := &mappedFile{f: f, fi: fi}
	if fi.Mode().IsRegular() && fi.Size() > 0 && fi.Size() == int64(int(fi.Size())) {
		data, err := syscall.Mmap(int(f.Fd()), 0, int(fi.Size()), syscall.PROT_READ, syscall.MAP_SHARED)
		if err == nil {
			mf.data = data
			if madvRandom {
				_ = syscall.Madvise(data, syscall.MADV_RANDOM)
			}
			mf.statm, _ = os.Open("/proc/self/statm")
			mf.baseline = mf.residentFile()
		}
	}
	return mf, nil
}

type mappedFile struct {
	f        *os.File
	fi       fs.FileInfo
	data     []byte
	off      int64
	reads    int64
	drops    int
	statm    *os.File
	baseline int64
}

func (m *mappedFile) Stat() (fs.FileInfo, error) { return m.fi, nil }

func (m *mappedFile) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += m.off
	case io.SeekEnd:
		offset += m.fi.Size()
	default:
		return 0, fs.ErrInvalid
	}
	if offset < 0 {
		return 0, fs.ErrInvalid
	}
	m.off = offset
	return offset, nil
}

func (m *mappedFile) Read(p []byte) (n int, err error) {
	if m.data == nil {
		n, err = m.f.ReadAt(p, m.off)
		m.off += int64(n)
		return n, err
	}
	if m.off >= int64(len(m.data)) {
		return 0, io.EOF
	}
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			n, err = 0, fmt.Errorf("read %s: the file changed while it was being checked", m.fi.Name())
		}
	}()
	n = copy(p, m.data[m.off:])
	m.off += int64(n)
	if m.reads++; m.reads%residentCheckEvery == 0 && m.statm != nil {
		if m.residentFile()-m.baseline > mappedResidentBudget {
			_ = syscall.Madvise(m.data, syscall.MADV_DONTNEED)
			m.drops++
		}
	}
	return n, nil
}

func (m *mappedFile) residentFile() int64 {
	var buf [128]byte
	n, err := m.statm.ReadAt(buf[:], 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return 0
	}
	f := strings.Fields(string(buf[:n]))
	if len(f) < 3 {
		return 0
	}
	pages, err := strconv.ParseInt(f[2], 10, 64)
	if err != nil {
		return 0
	}
	return pages * int64(os.Getpagesize())
}

func (m *mappedFile) Close() error {
	if os.Getenv("MMDEBUG") != "" {
		println("reads", m.reads, "drops", m.drops)
	}
	if m.data != nil {
		_ = syscall.Munmap(m.data)
		m.data = nil
	}
	if m.statm != nil {
		m.statm.Close()
	}
	return m.f.Close()
}
