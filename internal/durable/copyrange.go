package durable

import (
	"context"
	"fmt"
	"io/fs"
	"os"
)

// CopyRawFrom copies the open file in, from offset 0 to its end, to the
// new OS file dst (created with perm, not synced), and lets the kernel move
// the bytes (copy_file_range(2) where the filesystem has it). It reads at
// explicit offsets: in's file offset is neither used nor moved, so several
// copies may share one descriptor. It never closes in: the caller may hold
// the only descriptor that keeps a POSIX lock on in's inode alive (see
// sqlitedb's liveFile). A failed copy removes dst.
func CopyRawFrom(ctx context.Context, in *os.File, dst string, perm fs.FileMode) (err error) {
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return fmt.Errorf("create %s: %w", dst, err)
	}
	defer func() {
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			_ = os.Remove(dst)
		}
	}()
	if err := copyRange(ctx, in, out); err != nil {
		return fmt.Errorf("copy %s to %s: %w", in.Name(), dst, err)
	}
	return nil
}
