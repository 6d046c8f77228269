package sqlitedb

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"
)

// ErrReplaced is matched by errors.Is when a live database file was
// replaced (renamed over, or deleted and made again) while it was being
// copied: try the copy again.
var ErrReplaced = errors.New("the database file was replaced during the copy; try again")

// Why the live database file is read through descriptors that are never
// closed:
//
// POSIX advisory locks (fcntl F_SETLK, which SQLite's unix VFS uses) belong
// to a (process, inode) pair, not to a descriptor: close(2) of ANY
// descriptor of the inode drops every lock this process holds on it
// (https://sqlite.org/howtocorrupt.html §2.2). SQLite's own connections
// hold such locks: in WAL mode a connection keeps a SHARED lock on the
// database file for as long as it is open (pager_unlock does not release it
// in WAL mode), and the last connection to close in any process checkpoints
// and deletes the -wal only if it can take an EXCLUSIVE lock on the
// database file (sqlite3WalClose). An os.Open and Close of the live file
// while OnlineCopy's read transaction is open therefore drops that SHARED
// lock, and so would drop those of an embedding server's own connections in
// this process: another process closing its last connection then finds no
// other reader, checkpoints, and deletes the -wal that the copy still needs.
// SQLite itself avoids this by keeping one unixInodeInfo per inode and
// deferring the close of a descriptor while the inode has locks
// (unixClose, setPendingFd); this package cannot see those locks, so it
// never closes: closing is never known to be safe, since any *sql.DB of the
// process may hold a lock on the inode at that moment.
//
// The files this concerns, checked in SQLite's os_unix.c and wal.c (as
// compiled into modernc.org/sqlite v1.62.0):
//
//   - the database file: the pager's locks (sqlite3OsLock on Pager.fd) and
//     sqlite3WalClose's EXCLUSIVE test (on Wal.pDbFd) are on it;
//   - the -shm: the WAL locks (read marks, writer, checkpointer) are fcntl
//     locks on the -shm file (unixShmSystemLock on unixShmNode.hShm), held
//     through a descriptor SQLite opens once per inode. Nothing here opens
//     the -shm;
//   - not the -wal, nor a -journal: unixOpen gives every file other than a
//     main database UNIXFILE_NOLOCK (noLock = eType!=SQLITE_OPEN_MAIN_DB),
//     so no lock of SQLite's is ever on them, and opening and closing them
//     is harmless.
//
// The bound: one descriptor per database-file inode this process has
// copied and that still has a name. A deployment has two live database
// files (atocore.db and chroma.sqlite3); their inodes change only when a
// restore renames a new file over them. A descriptor whose inode has no
// name left (link count 0: replaced by a restore, or deleted) is closed at
// the next use of the registry: that file can no longer be anybody's live
// database, so the locks a close drops protect nothing (a connection still
// open on it writes into a file no one can open again), and keeping it
// would pin one old copy of each database per restore on disk for the
// life of a long-running process.
var liveFiles struct {
	mu sync.Mutex
	m  map[fileID]*os.File
}

// fileID names an inode.
type fileID struct{ dev, ino uint64 }

func idOf(fi os.FileInfo) (fileID, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fileID{}, false
	}
	return fileID{dev: uint64(st.Dev), ino: uint64(st.Ino)}, true
}

// liveFile returns this process's read-only descriptor of the database
// file at path, which must be the inode want (the one SQLite has open, as
// stat saw it while SQLite held a lock on it). The descriptor is shared and
// must never be closed; read it at explicit offsets (ReadAt, pread,
// copy_file_range with an offset), never through its file offset.
//
// It opens path only when the process has no descriptor of want yet, and
// then checks with fstat that what it opened is want: a path replaced in
// between gives another inode, whose descriptor is kept too (it may be an
// inode SQLite in this process has open as well, so closing it is no safer)
// and ErrReplaced is returned.
func liveFile(path string, want os.FileInfo) (*os.File, error) {
	id, ok := idOf(want)
	if !ok {
		return nil, fmt.Errorf("read %s: no inode number on this system", path)
	}
	liveFiles.mu.Lock()
	defer liveFiles.mu.Unlock()
	closeUnlinked()
	if f, ok := liveFiles.m[id]; ok {
		// The kept descriptor pins its inode: its number cannot be given to
		// another file while it is open, so the same id is the same file.
		return f, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		// Kept unnamed: f is open on some inode of path, maybe one SQLite
		// has open; it cannot be closed, and without a stat it cannot be
		// filed. Leak it, once, rather than risk the locks.
		leaked = append(leaked, f)
		return nil, fmt.Errorf("stat %s: %w", path, err)
	}
	got, _ := idOf(fi)
	if liveFiles.m == nil {
		liveFiles.m = make(map[fileID]*os.File)
	}
	if prev, ok := liveFiles.m[got]; ok {
		// Another inode than want, already kept: the new descriptor is one
		// more on it; keep it too (a close would drop the inode's locks).
		leaked = append(leaked, f)
		f = prev
	} else {
		liveFiles.m[got] = f
	}
	if got != id {
		return nil, fmt.Errorf("%w: %s", ErrReplaced, path)
	}
	return f, nil
}

// leaked holds descriptors of live files that could be filed under no
// inode of liveFiles; they are never closed (see liveFiles). Guarded by
// liveFiles.mu.
var leaked []*os.File

// closeUnlinked closes the kept descriptors whose inode has no name left
// (see liveFiles). Called with liveFiles.mu held.
func closeUnlinked() {
	for id, f := range liveFiles.m {
		if unlinked(f) {
			_ = f.Close()
			delete(liveFiles.m, id)
		}
	}
	kept := leaked[:0]
	for _, f := range leaked {
		if unlinked(f) {
			_ = f.Close()
		} else {
			kept = append(kept, f)
		}
	}
	leaked = kept
}

func unlinked(f *os.File) bool {
	fi, err := f.Stat()
	if err != nil {
		return false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && st.Nlink == 0
}

// CloseLiveFile closes this process's kept descriptor of the database file
// at path, if it has one, so that the process no longer holds it open (a
// restore run by another process refuses while one does). Call it only
// when no SQLite connection of this process has that file open: the close
// drops every POSIX lock this process holds on it. Tests call it between
// a library operation and a command-line restore of the same root.
func CloseLiveFile(path string) {
	fi, err := os.Stat(path)
	if err != nil {
		return
	}
	id, ok := idOf(fi)
	if !ok {
		return
	}
	liveFiles.mu.Lock()
	defer liveFiles.mu.Unlock()
	if f, ok := liveFiles.m[id]; ok {
		_ = f.Close()
		delete(liveFiles.m, id)
	}
}
