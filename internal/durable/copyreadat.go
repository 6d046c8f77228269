package durable

import (
	"context"
	"errors"
	"io"
	"os"

	"github.com/atocore/atocore-backup/internal/progress"
)

// copyReadAt copies in from offset off to its end onto out (whose offset
// is off) through one pooled buffer, with ReadAt: in's file offset is
// neither used nor moved.
func copyReadAt(ctx context.Context, in, out *os.File, off int64) error {
	if _, err := out.Seek(off, io.SeekStart); err != nil {
		return err
	}
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	buf := *bp
	wb := newWriteback(out)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		n, err := in.ReadAt(buf, off)
		if n > 0 {
			if _, werr := out.Write(buf[:n]); werr != nil {
				return werr
			}
			off += int64(n)
			wb.wrote(off)
			progress.Add(ctx, int64(n))
		}
		if errors.Is(err, io.EOF) {
			wb.finish(off)
			return nil
		}
		if err != nil {
			return err
		}
	}
}
