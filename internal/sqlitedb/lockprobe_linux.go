package sqlitedb

import (
	"os"

	"golang.org/x/sys/unix"
)

// probeLock asks whether a write lock on [start, start+n) of f would
// conflict with a lock someone holds, and whose (F_OFD_GETLK: open file
// description locks conflict with every POSIX lock, this process's too).
func probeLock(f *os.File, start, n int64) (pid int, locked bool, err error) {
	lk := unix.Flock_t{Type: unix.F_WRLCK, Whence: 0, Start: start, Len: n}
	if err := unix.FcntlFlock(f.Fd(), unix.F_OFD_GETLK, &lk); err != nil {
		return 0, false, err
	}
	return int(lk.Pid), lk.Type != unix.F_UNLCK, nil
}
