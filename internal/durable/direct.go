package durable

import (
	"context"
	"crypto/sha256"
	"fmt"
	"github.com/spf13/afero"
	"io"
	"io/fs"
	"os"
	"sync"

	"github.com/atocore/atocore-backup/internal/progress"
)

// Direct I/O. A restore writes gigabytes that nothing reads back soon: the
// service reads its files after the restore, and the staged copies are
// verified by the digest of the bytes written (taken as they pass), not by
// reading them again. Written through the page cache, those bytes cost a
// kernel copy into freshly allocated cache pages and a write-back later;
// written with O_DIRECT they go from our buffer to the disk. On the
// development VM, whose freed memory goes back to the host, filling new
// cache pages cost 1.4-3 s of system time per GiB against 0.1 s with
// O_DIRECT (docs/performance.md, "Restore").

const (
	// directChunk is the size of one direct write; two are in flight
	// (one being filled and hashed, one being written).
	directChunk = 4 << 20
	// directAlign is the alignment O_DIRECT wants of buffers, offsets and
	// lengths: the logical block size, at most a page on the filesystems
	// we write to.
	directAlign = 4096
)

// directBufs holds page-aligned buffers (anonymous memory maps, which are
// always page-aligned), reused across copies.
var directBufs = &sync.Pool{New: func() any {
	b, err := mapAnon(directChunk)
	if err != nil {
		return nil
	}
	return &b
}}

// CopyFileDirect copies src into a new OS file dst (created with O_EXCL
// and perm), hashing the bytes as they pass, and writes it with O_DIRECT
// where the platform and the filesystem allow it, else through the page
// cache as CopyFileUnsynced does. The file is not synced: the caller syncs
// it (its size and blocks, and the disk's write cache) before relying on
// it. It checks ctx between chunks; on any error dst is removed.
func CopyFileDirect(ctx context.Context, dst string, src io.Reader, perm fs.FileMode) (Digest, error) {
	f, direct, err := openDirect(dst, perm)
	if err != nil {
		return Digest{}, fmt.Errorf("create %s: %w", dst, err)
	}
	var d Digest
	if direct {
		d, err = writeDirect(ctx, f, src)
	} else {
		d, err = copyHashed(ctx, f, src)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(dst)
		return Digest{}, fmt.Errorf("copy to %s: %w", dst, err)
	}
	return d, nil
}

// directMinSize is the smallest file CopyFileSized writes around the page
// cache: one direct write waits for the disk, once per file, and for
// hundreds of small Chroma files those waits cost more than their pages.
const directMinSize = 4 << 20

// CopyFileSized is CopyFileDirect for a file the caller expects to be
// size bytes long (a manifest's size; negative when unknown): one under 4 MiB is written through
// the page cache instead, its writeback started at once (see writeback),
// and, as with CopyFileDirect, not synced.
func CopyFileSized(ctx context.Context, dst string, src io.Reader, perm fs.FileMode, size int64) (Digest, error) {
	if size < 0 || size >= directMinSize {
		return CopyFileDirect(ctx, dst, src, perm)
	}
	return CopyFileUnsynced(ctx, afero.NewOsFs(), dst, src, perm)
}

// writeDirect writes src to f, opened with O_DIRECT, in aligned chunks: one
// is written while the next is read and hashed. The last chunk is padded
// with zeros to the alignment and the file truncated to its true size.
func writeDirect(ctx context.Context, f *os.File, src io.Reader) (Digest, error) {
	var bufs [2][]byte
	for i := range bufs {
		bp, _ := directBufs.Get().(*[]byte)
		if bp == nil { // no aligned memory: write through the page cache
			if err := clearDirect(f); err != nil {
				return Digest{}, err
			}
			return copyHashed(ctx, f, src)
		}
		defer directBufs.Put(bp)
		bufs[i] = *bp
	}
	h := sha256.New()
	var total int64
	written := make(chan error, 1)
	inFlight := false
	wait := func() error {
		if !inFlight {
			return nil
		}
		inFlight = false
		return <-written
	}
	defer wait() // an early return waits for the write still using a buffer
	for i := 0; ; i ^= 1 {
		if err := ctx.Err(); err != nil {
			return Digest{}, err
		}
		buf := bufs[i]
		n, rerr := io.ReadFull(src, buf)
		if rerr != nil && rerr != io.EOF && rerr != io.ErrUnexpectedEOF {
			return Digest{}, rerr
		}
		h.Write(buf[:n])
		total += int64(n)
		progress.Add(ctx, int64(n))
		if err := wait(); err != nil {
			return Digest{}, err
		}
		if n > 0 {
			padded := (n + directAlign - 1) / directAlign * directAlign
			clear(buf[n:padded])
			inFlight = true
			go func(b []byte) {
				w, err := writeDirectChunk(f, b)
				if err == nil && w != len(b) {
					err = io.ErrShortWrite
				}
				written <- err
			}(buf[:padded])
		}
		if rerr != nil { // the end of src
			break
		}
	}
	if err := wait(); err != nil {
		return Digest{}, err
	}
	if total%directAlign != 0 {
		if err := f.Truncate(total); err != nil {
			return Digest{}, err
		}
	}
	return Digest{Size: total, SHA256: hexSum(h)}, nil
}
