package sqlitedb

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// SQLite's lock bytes (os_unix.c): in the database file the pending,
// reserved and shared bytes from PENDING_BYTE (0x40000000) on; in the -shm
// the eight WAL locks and the DMS byte, which every open connection holds
// a read lock on (UNIX_SHM_BASE 120 to UNIX_SHM_DMS 128).
const (
	dbLockStart  = 0x40000000
	dbLockLen    = 2 + 510
	shmLockStart = 120
	shmLockLen   = 9
)

// Holder is a process that holds a SQLite lock on a live database, as the
// kernel's lock table shows it.
type Holder struct {
	Path string // the file the lock is on (the database or its -shm)
	// PID is the holder as this process sees it; 0 when it is in a PID
	// namespace this process cannot see (a container), -1 for an open
	// file description lock.
	PID int
}

// LockHolder returns a process other than this one that holds a SQLite
// lock on the live database at path: a lock byte of the database file, or
// (a connection of a WAL database, even an idle one) the -shm's. It asks
// the kernel (fcntl F_OFD_GETLK), which sees every process whatever its PID
// namespace, so a service in a container is found even where /proc does
// not show it. nil when there is none.
//
// The files are read through the descriptors this process keeps open for
// their inodes (liveFile) and never closes: a probe must not drop a lock
// of this process's own connections.
func LockHolder(path string) (*Holder, error) {
	for _, p := range []struct {
		name       string
		start, len int64
	}{{path, dbLockStart, dbLockLen}, {path + "-shm", shmLockStart, shmLockLen}} {
		fi, err := os.Stat(p.name)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if !fi.Mode().IsRegular() {
			continue
		}
		f, err := liveFile(p.name, fi)
		if errors.Is(err, ErrReplaced) {
			continue // replaced meanwhile: the next look sees the new file
		}
		if err != nil {
			return nil, err
		}
		pid, locked, err := probeLock(f, p.start, p.len)
		if err != nil {
			return nil, fmt.Errorf("look at the locks on %s: %w", p.name, err)
		}
		if locked && pid != os.Getpid() {
			return &Holder{Path: p.name, PID: pid}, nil
		}
	}
	return nil, nil
}
