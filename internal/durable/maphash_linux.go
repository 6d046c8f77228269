package durable

import (
	"context"
	"errors"
	"hash"
	"os"
	"runtime/debug"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/atocore/atocore-backup/internal/progress"
)

// hashMapped maps f's bytes [off, off+n) read-only and feeds them to h.
// The kernel maps whole pages: the window starts at the page that holds
// off. A file truncated under the mapping faults (SIGBUS); the fault is
// caught and reported as errShrunk, not a crash.
func hashMapped(f *os.File, off, n int64, h hash.Hash) (err error) {
	page := int64(os.Getpagesize())
	start := off &^ (page - 1)
	b, err := unix.Mmap(int(f.Fd()), start, int(off+n-start), unix.PROT_READ, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		if errors.Is(err, syscall.ENODEV) || errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.EINVAL) {
			return errNoMap
		}
		return err
	}
	defer unix.Munmap(b)
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			// A memory fault is a runtime.Error with the faulting address.
			if _, fault := r.(interface{ Addr() uintptr }); fault {
				err = errShrunk
				return
			}
			panic(r)
		}
	}()
	h.Write(b[off-start:])
	return nil
}

// copyRangeHashed copies in from offset 0 to its end onto out (empty)
// with copy_file_range(2), copyChunk at a time, hashing each chunk from
// out's pages on a goroutine of its own while the next one is copied, and
// handing it to the disk. Where the kernel or the filesystem refuses
// copy_file_range, the rest goes through a buffer.
func copyRangeHashed(ctx context.Context, in, out *os.File, h hash.Hash) (n int64, err error) {
	ranges := make(chan [2]int64, 2)
	hashed := make(chan error, 1)
	go func() {
		var err error
		for r := range ranges {
			if err == nil {
				err = hashRange(ctx, out, r[0], r[1], h)
			}
		}
		hashed <- err
	}()
	// wait ends the hashing of the chunks copied so far.
	waited := false
	wait := func() error {
		if waited {
			return nil
		}
		waited = true
		close(ranges)
		return <-hashed
	}
	defer func() {
		if herr := wait(); err == nil && herr != nil {
			n, err = 0, herr
		}
	}()
	var off int64
	wb := newWriteback(out)
	for {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		roff, woff := off, off
		n, err := unix.CopyFileRange(int(in.Fd()), &roff, int(out.Fd()), &woff, copyChunk, 0)
		if err == unix.EINTR {
			continue
		}
		if errors.Is(err, unix.EXDEV) || errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EINVAL) ||
			errors.Is(err, unix.EOPNOTSUPP) {
			if err := wait(); err != nil {
				return 0, err
			}
			return copyReadAtHashed(ctx, in, out, off, h)
		}
		if err != nil {
			return 0, err
		}
		if n == 0 {
			wb.finish(off)
			return off, nil
		}
		ranges <- [2]int64{off, off + int64(n)}
		off += int64(n)
		wb.wrote(off)
		progress.Add(ctx, int64(n))
	}
}

// copyChunk is what one copy_file_range asks for: small enough that its
// hash, one chunk behind, ends soon after the copy.
const copyChunk = 4 << 20
