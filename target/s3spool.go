package target

import (
	"io"
	"os"
)

// s3Spool is a file opened on S3 for more than a streamed write
// (read-write, append, write without truncation): a local temporary copy
// that is read and written freely and uploaded whole, through an
// s3Writer, at Close when it changed. Nothing in push, pull or prune opens
// a target file this way; the conformance suite and a test that damages a
// snapshot on purpose do.
type s3Spool struct {
	*os.File
	w     *s3Writer
	dirty bool
}

func newSpool(w *s3Writer, src *s3Reader, flag int) (*s3Spool, error) {
	tmp, err := os.CreateTemp("", "atocore-s3-*")
	if err != nil {
		return nil, err
	}
	_ = os.Remove(tmp.Name()) // unnamed: gone with the descriptor
	sp := &s3Spool{File: tmp, w: w, dirty: src == nil}
	if src != nil {
		_, err = io.Copy(tmp, src)
		src.Close()
		if err == nil {
			_, err = tmp.Seek(0, io.SeekStart)
		}
		if err != nil {
			tmp.Close()
			return nil, err
		}
	}
	if flag&os.O_APPEND != 0 {
		if _, err := tmp.Seek(0, io.SeekEnd); err != nil {
			tmp.Close()
			return nil, err
		}
	}
	return sp, nil
}

func (f *s3Spool) Name() string { return f.w.Name() }

func (f *s3Spool) Write(p []byte) (int, error) { f.dirty = true; return f.File.Write(p) }
func (f *s3Spool) WriteAt(p []byte, off int64) (int, error) {
	f.dirty = true
	return f.File.WriteAt(p, off)
}
func (f *s3Spool) WriteString(s string) (int, error) { return f.Write([]byte(s)) }
func (f *s3Spool) Truncate(size int64) error         { f.dirty = true; return f.File.Truncate(size) }

func (f *s3Spool) Stat() (os.FileInfo, error) {
	fi, err := f.File.Stat()
	if err != nil {
		return nil, err
	}
	return &s3Info{name: baseName(f.w.r), size: fi.Size(), mode: f.w.perm, mtime: fi.ModTime()}, nil
}

// Sync uploads nothing yet: the object is made at Close.
func (f *s3Spool) Sync() error { return nil }

// Close uploads the copy when it changed (or is new) and removes it.
func (f *s3Spool) Close() error {
	if f.File == nil {
		return nil
	}
	defer func() { f.File.Close(); f.File = nil }()
	if !f.dirty {
		return nil
	}
	if _, err := f.File.Seek(0, io.SeekStart); err != nil {
		return err
	}
	if _, err := f.w.ReadFrom(f.File); err != nil {
		f.w.discard()
		return err
	}
	return f.w.Close()
}

func (f *s3Spool) Readdir(int) ([]os.FileInfo, error) { return f.w.Readdir(0) }
func (f *s3Spool) Readdirnames(int) ([]string, error) { return f.w.Readdirnames(0) }
