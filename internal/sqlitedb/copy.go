package sqlitedb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"time"

	"github.com/atocore/atocore-backup/internal/durable"
	sqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// maxBusyRetries bounds how often starting the read transaction of a copy
// is retried after SQLite reported the database busy or locked.
const maxBusyRetries = 20

// OnlineCopy writes a consistent copy of the live database src to the new
// file dst while other connections keep reading and writing src, and
// returns src's journal mode ("wal", "delete", ...). The copy is one
// self-contained file in journal_mode=DELETE, so that `cp` can restore it.
// It is not synced: the caller syncs what it builds.
//
// The copy holds one SQLite read transaction on src while it copies the
// file's bytes (the kernel copies them: copy_file_range where it can),
// which is several times faster than SQLite's backup API page by page.
// It is consistent because of what a read transaction guarantees:
//
//   - journal_mode DELETE, TRUNCATE or PERSIST: the transaction's SHARED
//     lock keeps every writer from changing the database file until it
//     ends, so its bytes are one committed state.
//   - WAL: writers only append to the -wal file. A checkpoint may copy
//     frames into the database file meanwhile, but only frames the read
//     transaction already sees (its read mark), and the -wal cannot be
//     restarted under it. The -wal is copied after the database file; on
//     the copy, SQLite's WAL recovery replays every whole committed frame
//     over pages as they were read, before or after such a checkpoint,
//     and stops at the first frame that was being written (checksums), so
//     the copy is the last commit whose frames were complete when the -wal
//     was read. The copy is then checkpointed and switched to DELETE. (A
//     -wal restarted during the copy is dropped: see copyUnderRead.)
//
// On any error dst (and its sidecars) is removed.
func OnlineCopy(ctx context.Context, src, dst string) (journalMode string, err error) {
	if err := requireRegular(src); err != nil {
		return "", err
	}
	before, err := os.Stat(src)
	if err != nil {
		return "", err
	}
	if _, err := os.Lstat(dst); err == nil {
		return "", fmt.Errorf("copy destination %s already exists", dst)
	}
	defer func() {
		if err != nil {
			RemoveWithSidecars(dst)
		}
	}()
	// Open read-write (no mode=ro): a read-only connection cannot recover a
	// hot journal or create the -shm a WAL reader needs. The copy reads only.
	db, err := openReadWrite(src)
	if err != nil {
		return "", err
	}
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		return "", fmt.Errorf("open %s: %w", src, err)
	}
	defer conn.Close()
	if err := conn.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&journalMode); err != nil {
		return "", fmt.Errorf("read %s: %w", src, err)
	}
	if err := beginRead(ctx, conn); err != nil {
		return "", fmt.Errorf("read %s: %w", src, err)
	}
	reach(atBegun)
	err = copyUnderRead(ctx, src, dst, before, journalMode == "wal")
	if _, rerr := conn.ExecContext(context.Background(), "ROLLBACK"); err == nil && rerr != nil {
		err = fmt.Errorf("end the read transaction on %s: %w", src, rerr)
	}
	if err != nil {
		return "", fmt.Errorf("copy %s: %w", src, err)
	}
	if journalMode == "wal" {
		// Replays the copied -wal, checkpoints it and removes the sidecars.
		if err := SetJournalMode(ctx, dst, "delete"); err != nil {
			return "", err
		}
	}
	return journalMode, nil
}

// beginRead starts a read transaction on conn and reads the schema, which
// takes the SHARED lock (or the WAL read mark) the copy relies on. A
// writer in the middle of a commit can make that busy for a moment.
func beginRead(ctx context.Context, conn *sql.Conn) error {
	var err error
	for attempt := 0; attempt <= maxBusyRetries; attempt++ {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Duration(attempt) * 50 * time.Millisecond):
			}
		}
		if _, err = conn.ExecContext(ctx, "BEGIN"); err != nil {
			return err
		}
		var n int
		err = conn.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_schema").Scan(&n)
		if err == nil {
			return nil
		}
		_, _ = conn.ExecContext(context.Background(), "ROLLBACK")
		if !IsBusy(err) {
			return err
		}
	}
	return err
}

// copyUnderRead copies the database file, then (in WAL mode) its -wal.
// The database file is read through the process's kept descriptor of the
// inode SQLite has open (liveFile: never closed, so no lock of any
// connection of this process is dropped); before is its state from before
// SQLite opened it. The -wal carries no lock of SQLite's (see liveFiles)
// and is opened and closed as any file.
func copyUnderRead(ctx context.Context, src, dst string, before os.FileInfo, wal bool) error {
	// The path still names the inode stat saw before SQLite opened it, now
	// that SQLite holds a lock on what it opened: that inode is SQLite's.
	now, err := os.Stat(src)
	if err != nil {
		return err
	}
	if !os.SameFile(before, now) {
		return fmt.Errorf("%w: %s", ErrReplaced, src)
	}
	f, err := liveFile(src, now)
	if err != nil {
		return err
	}
	if err := durable.CopyRawFrom(ctx, f, dst, 0o600); err != nil {
		return err
	}
	reach(atMainCopied)
	if !wal {
		return nil
	}
	err = durable.CopyRaw(ctx, src+"-wal", dst+"-wal", 0o600)
	reach(atWALCopied)
	if errors.Is(err, fs.ErrNotExist) {
		return nil // no -wal: everything is in the database file
	}
	if err != nil {
		return err
	}
	// A writer restarts the -wal (rewrites it from its start, under a new
	// header) only while no reader uses a frame of it: if that happened
	// during the copy, this transaction read the database file alone,
	// which therefore holds its whole snapshot, and the copied -wal may mix
	// two generations of frames. Keep the database file alone then.
	if !sameWALHeader(src+"-wal", dst+"-wal") {
		return os.Remove(dst + "-wal")
	}
	return nil
}

// walHeaderSize is the size of a -wal file's header; it changes (salts,
// checkpoint sequence) exactly when the -wal restarts.
const walHeaderSize = 32

// sameWALHeader reports whether the -wal files a and b start with the
// same header; a file too short to have one has no frames to replay and
// counts as the same.
func sameWALHeader(a, b string) bool {
	ha, erra := readHead(a)
	hb, errb := readHead(b)
	if errb == nil && len(hb) < walHeaderSize {
		return true
	}
	return erra == nil && errb == nil && string(ha) == string(hb)
}

// readHead reads the start of a -wal file, which carries no SQLite lock.
func readHead(name string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	buf := make([]byte, walHeaderSize)
	n, err := io.ReadFull(f, buf)
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		err = nil
	}
	return buf[:n], err
}

// IsBusy reports whether err is SQLite's BUSY or LOCKED, which a retry cures.
func IsBusy(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		c := se.Code() & 0xff
		return c == sqlite3.SQLITE_BUSY || c == sqlite3.SQLITE_LOCKED
	}
	return false
}
