package durable

import (
	"os"

	"golang.org/x/sys/unix"
)

// startWrite asks the kernel to start writing the dirty pages of f's byte
// range [off, off+n) to the disk, without waiting for them
// (sync_file_range(2) with SYNC_FILE_RANGE_WRITE). Its error is ignored:
// it only starts what the caller's later sync completes and checks.
func startWrite(f *os.File, off, n int64) {
	_ = unix.SyncFileRange(int(f.Fd()), off, n, unix.SYNC_FILE_RANGE_WRITE)
}
