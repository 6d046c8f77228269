package durable

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"

	"github.com/atocore/atocore-backup/internal/progress"
)

// hashWindow is how much of a file is mapped at a time to be hashed: the
// process's resident memory grows by at most this much, whatever the file.
const hashWindow = 16 << 20

// errShrunk is what hashing a mapped file reports when the file became
// shorter than the range being read (the kernel's SIGBUS, turned into an
// error): someone truncated a file this process was copying or checking.
var errShrunk = errors.New("the file became shorter while it was read (is another program writing it?)")

// hashRange feeds h with f's bytes [off, end) as the page cache holds
// them, without copying them into a buffer where it can (a read-only
// mapping, hashWindow at a time, on Linux), else with ReadAt.
func hashRange(ctx context.Context, f *os.File, off, end int64, h hash.Hash) error {
	for off < end {
		if err := ctx.Err(); err != nil {
			return err
		}
		n := min(end-off, hashWindow)
		if err := hashMapped(f, off, n, h); err != nil {
			if !errors.Is(err, errNoMap) {
				return err
			}
			return hashReadAt(ctx, f, off, end, h)
		}
		off += n
	}
	return nil
}

// errNoMap says the file cannot be mapped here (not Linux, or a
// filesystem without mmap): hashRange reads it instead.
var errNoMap = errors.New("no mapping")

// hashReadAt is hashRange through a pooled buffer.
func hashReadAt(ctx context.Context, f *os.File, off, end int64, h hash.Hash) error {
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	buf := *bp
	for off < end {
		if err := ctx.Err(); err != nil {
			return err
		}
		n, err := f.ReadAt(buf[:min(int64(len(buf)), end-off)], off)
		h.Write(buf[:n])
		off += int64(n)
		if errors.Is(err, io.EOF) && off < end {
			return errShrunk
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return err
		}
	}
	return nil
}

// HashOSFile returns the size and SHA-256 of the OS file name, read as
// hashRange does. The size is the file's when it was opened; a file that
// grows meanwhile is hashed to that size, one that shrinks is an error.
func HashOSFile(ctx context.Context, name string) (Digest, error) {
	f, err := os.Open(name)
	if err != nil {
		return Digest{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return Digest{}, err
	}
	h := sha256.New()
	if err := hashRange(ctx, f, 0, fi.Size(), counted{h, ctx}); err != nil {
		return Digest{}, fmt.Errorf("read %s: %w", name, err)
	}
	return Digest{Size: fi.Size(), SHA256: hexSum(h)}, nil
}

// counted is a hash that counts the bytes it is fed on ctx's progress
// meter (HashOSFile's; a copy counts its bytes where it writes them).
type counted struct {
	hash.Hash
	ctx context.Context
}

func (c counted) Write(b []byte) (int, error) {
	progress.Add(c.ctx, int64(len(b)))
	return c.Hash.Write(b)
}

// CopyFileKernel copies the open file in, from offset 0 to its end, to
// the new OS file dst (created with perm, not synced: SyncTree makes it
// durable) and returns the digest of dst as written. The kernel moves the
// bytes (copy_file_range(2), no user-space buffer); each chunk is then
// hashed from dst's own pages, as hashRange reads them, and handed to the
// disk (writeback). Where copy_file_range is refused, the rest is copied
// and hashed through a buffer. It reads in at explicit offsets and never
// closes it. A failed copy removes dst.
func CopyFileKernel(ctx context.Context, in *os.File, dst string, perm fs.FileMode) (d Digest, err error) {
	// Read-write: dst's pages are mapped to be hashed.
	out, err := os.OpenFile(dst, os.O_RDWR|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return Digest{}, fmt.Errorf("create %s: %w", dst, err)
	}
	defer func() {
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			_ = os.Remove(dst)
			d = Digest{}
		}
	}()
	h := sha256.New()
	n, err := copyRangeHashed(ctx, in, out, h)
	if err != nil {
		return Digest{}, fmt.Errorf("copy %s to %s: %w", in.Name(), dst, err)
	}
	return Digest{Size: n, SHA256: hexSum(h)}, nil
}

// copyReadAtHashed copies in from offset off to its end onto out at off
// through one pooled buffer, hashing the bytes as they pass, and returns
// the size of the copy.
func copyReadAtHashed(ctx context.Context, in, out *os.File, off int64, h hash.Hash) (int64, error) {
	if _, err := out.Seek(off, io.SeekStart); err != nil {
		return 0, err
	}
	n, err := copyHashedWith(ctx, out, io.NewSectionReader(in, off, 1<<62), h)
	if err != nil {
		return 0, err
	}
	return off + n, nil
}
