package durable

import (
	"context"
	"errors"
	"os"

	"golang.org/x/sys/unix"

	"github.com/atocore/atocore-backup/internal/progress"
)

// copyRange copies in from offset 0 to its end onto out (empty, offset 0)
// with copy_file_range(2) at explicit offsets, copyRawChunk at a time,
// looking at ctx between chunks. Where the kernel or filesystem refuses it
// (cross-device before Linux 5.3, some network filesystems), the rest is
// copied with pread and write.
func copyRange(ctx context.Context, in, out *os.File) error {
	var off int64
	wb := newWriteback(out)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		roff, woff := off, off
		n, err := unix.CopyFileRange(int(in.Fd()), &roff, int(out.Fd()), &woff, copyRawChunk, 0)
		if err == unix.EINTR {
			continue
		}
		if errors.Is(err, unix.EXDEV) || errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EINVAL) ||
			errors.Is(err, unix.EOPNOTSUPP) {
			return copyReadAt(ctx, in, out, off)
		}
		if err != nil {
			return err
		}
		if n == 0 {
			wb.finish(off)
			return nil
		}
		off += int64(n)
		wb.wrote(off)
		progress.Add(ctx, int64(n))
	}
}
