package sqlitedb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"time"

	sqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

type backuper interface {
	NewBackup(dstURI string) (*sqlite.Backup, error)
}

// maxBusyRetries bounds how often a copy that met a lock is started again.
const maxBusyRetries = 20

// OnlineCopy writes a consistent copy of the live database src to the new
// file dst while other connections keep reading and writing src, and
// returns src's journal mode ("wal", "delete", ...).
//
// It uses SQLite's online backup API with Step(-1): the whole copy runs
// under one read transaction, so in WAL mode writers keep committing and
// the copy is the database as of the moment the copy began. (A step-wise
// copy restarts every time another connection writes, and under a steady
// writer never finishes.) The copy is then switched to journal_mode=DELETE
// so that it is one self-contained file that `cp` can restore.
//
// Cancellation is checked before and after the copy; the copy itself is
// one SQLite call. On any error dst is removed.
func OnlineCopy(ctx context.Context, src, dst string) (journalMode string, err error) {
	if _, err := os.Stat(src); err != nil {
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
	if err := db.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&journalMode); err != nil {
		return "", fmt.Errorf("read %s: %w", src, err)
	}
	for attempt := 0; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return "", err
		}
		err = backupOnce(ctx, db, dst)
		if err == nil || !isBusy(err) || attempt >= maxBusyRetries {
			break
		}
		RemoveWithSidecars(dst)
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(time.Duration(attempt+1) * 50 * time.Millisecond):
		}
	}
	if err != nil {
		return "", fmt.Errorf("online copy of %s: %w", src, err)
	}
	if err := ctx.Err(); err != nil {
		return "", err
	}
	if err := SetJournalMode(ctx, dst, "delete"); err != nil {
		return "", err
	}
	return journalMode, nil
}

func backupOnce(ctx context.Context, db *sql.DB, dst string) error {
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.Raw(func(dc any) error {
		b, ok := dc.(backuper)
		if !ok {
			return errors.New("the sqlite driver offers no backup API")
		}
		bk, err := b.NewBackup(dst)
		if err != nil {
			return err
		}
		for {
			more, err := bk.Step(-1)
			if err != nil {
				_ = bk.Finish()
				return err
			}
			if !more {
				break
			}
		}
		return bk.Finish()
	})
}

// isBusy reports whether err is SQLite's BUSY or LOCKED, which a retry cures.
func isBusy(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		c := se.Code() & 0xff
		return c == sqlite3.SQLITE_BUSY || c == sqlite3.SQLITE_LOCKED
	}
	return false
}
