package durable

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"sync"

	"github.com/spf13/afero"

	"github.com/atocore/atocore-backup/internal/progress"
)

// BufferSize is the size of the copy buffers: large enough that a copy costs
// few system calls, small enough that memory stays flat whatever the file.
const BufferSize = 1 << 20

var bufPool = sync.Pool{New: func() any { b := make([]byte, BufferSize); return &b }}

// Copy is io.Copy through a pooled buffer of BufferSize bytes: a push or a
// restore copies hundreds of files, and a fresh megabyte for each one costs
// page faults and the collector's work.
func Copy(dst io.Writer, src io.Reader) (int64, error) {
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	return io.CopyBuffer(dst, src, *bp)
}

// Digest is what a hashed copy or read learned about a file.
type Digest struct {
	Size   int64
	SHA256 string
}

// CopyFile copies src into a new file dst on fsys (created with O_EXCL and
// perm), hashing the bytes as they pass, and fsyncs dst. It checks ctx
// between buffers; on any error dst is removed.
func CopyFile(ctx context.Context, fsys afero.Fs, dst string, src io.Reader, perm fs.FileMode) (Digest, error) {
	return copyFile(ctx, fsys, dst, src, perm, true)
}

// CopyFileUnsynced is CopyFile without the fsync, for callers that write
// many files and then make them all durable at once with SyncTree before
// they become visible (one flush instead of one wait per file).
func CopyFileUnsynced(ctx context.Context, fsys afero.Fs, dst string, src io.Reader, perm fs.FileMode) (Digest, error) {
	return copyFile(ctx, fsys, dst, src, perm, false)
}

func copyFile(ctx context.Context, fsys afero.Fs, dst string, src io.Reader, perm fs.FileMode, sync bool) (Digest, error) {
	f, err := fsys.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return Digest{}, fmt.Errorf("create %s: %w", dst, err)
	}
	d, err := copyHashed(ctx, f, src)
	if err == nil && sync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = fsys.Remove(dst)
		return Digest{}, fmt.Errorf("copy to %s: %w", dst, err)
	}
	return d, nil
}

// HashFile reads name from fsys and returns its size and SHA-256.
func HashFile(ctx context.Context, fsys afero.Fs, name string) (Digest, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return Digest{}, err
	}
	defer f.Close()
	d, err := copyHashed(ctx, io.Discard, f)
	if err != nil {
		return Digest{}, fmt.Errorf("read %s: %w", name, err)
	}
	return d, nil
}

// copyHashed copies src to dst through one pooled buffer, feeding a SHA-256
// with the same bytes.
func copyHashed(ctx context.Context, dst io.Writer, src io.Reader) (Digest, error) {
	h := sha256.New()
	n, err := copyHashedWith(ctx, dst, src, h)
	if err != nil {
		return Digest{}, err
	}
	return Digest{Size: n, SHA256: hexSum(h)}, nil
}

// copyHashedWith is copyHashed into the hash h; it returns the bytes copied.
func copyHashedWith(ctx context.Context, dst io.Writer, src io.Reader, h hash.Hash) (int64, error) {
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	buf := *bp
	wb := newWriteback(dst)
	var n int64
	for {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		r, rerr := io.ReadFull(src, buf)
		if r > 0 {
			h.Write(buf[:r])
			if dst != io.Discard {
				// A writer that takes fewer bytes than given without an
				// error breaks io.Writer's contract; some network
				// filesystems do it. Never count such a copy as complete.
				if w, err := dst.Write(buf[:r]); err != nil {
					return 0, err
				} else if w != r {
					return 0, io.ErrShortWrite
				}
			}
			n += int64(r)
			wb.wrote(n)
			progress.Add(ctx, int64(r))
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			wb.finish(n)
			break
		}
		if rerr != nil {
			return 0, rerr
		}
	}
	return n, nil
}

func hexSum(h hash.Hash) string { return hex.EncodeToString(h.Sum(nil)) }

// copyRawChunk is how much a raw copy moves between two looks at ctx.
const copyRawChunk = 64 << 20

// CopyRaw copies the OS file src to the new OS file dst (created with
// perm, not synced) and lets the kernel move the bytes: copy_file_range(2)
// where the filesystem has it, no user-space buffer. The caller hashes or
// checks what it needs to; a failed copy removes dst. A src that is not a
// regular file is refused (ErrNotRegular) before it is opened. It closes
// src when done: never use it on a live SQLite file (CopyRawFrom).
func CopyRaw(ctx context.Context, src, dst string, perm fs.FileMode) (err error) {
	in, _, err := OpenRegular(src)
	if err != nil {
		return err
	}
	defer in.Close()
	return CopyRawFrom(ctx, in, dst, perm)
}
