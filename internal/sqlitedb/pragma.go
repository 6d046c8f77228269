package sqlitedb

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
)

// Sidecars are the files SQLite keeps next to a database. A stale -wal
// left beside a replaced database is replayed onto it at the next open
// (silently mixing two databases), so restore removes them first.
var Sidecars = []string{"-wal", "-shm", "-journal"}

// RemoveSidecars removes path's -wal, -shm and -journal files, if any.
func RemoveSidecars(path string) error {
	var errs []error
	for _, s := range Sidecars {
		if err := os.Remove(path + s); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// RemoveWithSidecars removes path and its sidecars, ignoring errors: it
// cleans up files this program created.
func RemoveWithSidecars(path string) {
	_ = os.Remove(path)
	_ = RemoveSidecars(path)
}

// SetJournalMode switches the database file at path, which nobody else has
// open, to mode ("delete" or "wal") and closes it, leaving no sidecars.
//
// It does not sync: the file is a fresh copy that its caller syncs (with
// the rest of a snapshot or a restore) before relying on it. With SQLite's
// default synchronous=FULL the switch ended in an fsync that wrote back the
// whole copy just made, on the critical path of create (0.87 s of 1 GiB).
func SetJournalMode(ctx context.Context, path, mode string) error {
	db, err := openReadWrite(path, "_pragma=synchronous(off)")
	if err != nil {
		return err
	}
	var got string
	err = db.QueryRowContext(ctx, "PRAGMA journal_mode="+quoteMode(mode)).Scan(&got)
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("set journal_mode=%s on %s: %w", mode, path, err)
	}
	if !strings.EqualFold(got, mode) {
		return fmt.Errorf("set journal_mode=%s on %s: SQLite kept %q", mode, path, got)
	}
	return nil
}

func quoteMode(mode string) string {
	switch strings.ToLower(mode) {
	case "wal", "delete", "truncate", "persist", "memory", "off":
		return strings.ToLower(mode)
	}
	return "delete"
}

// ErrInUse is matched by errors.Is when another process holds the database
// open and busy, so a checkpoint cannot finish.
var ErrInUse = errors.New("the database is in use by another process; stop the AtoCore service first")

// Checkpoint moves every committed WAL frame of the database at path into
// the database file and truncates the WAL, so that its sidecars hold
// nothing of value. It is a no-op for a database not in WAL mode. A path
// that is not a regular file (nor its -wal) is refused with
// durable.ErrNotRegular, unopened.
func Checkpoint(ctx context.Context, path string) error {
	if err := requireRegular(path); err != nil {
		return err
	}
	db, err := openReadWrite(path)
	if err != nil {
		return err
	}
	defer db.Close()
	var busy, logFrames, done int
	if err := db.QueryRowContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)").Scan(&busy, &logFrames, &done); err != nil {
		return fmt.Errorf("checkpoint %s: %w", path, err)
	}
	if busy != 0 {
		return fmt.Errorf("%w: %s", ErrInUse, path)
	}
	return db.Close()
}

// JournalModeOf reads the journal mode from a database file's header without
// opening it through SQLite: bytes 18 and 19 are 2 for WAL, 1 otherwise.
// It opens and closes path outside SQLite, which drops every POSIX lock
// this process holds on the file (see liveFiles): use it only on files no
// connection of this process may have open (copies, snapshots), never on
// a live database.
func JournalModeOf(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	var hdr [20]byte
	if _, err := f.ReadAt(hdr[:], 0); err != nil {
		return "", fmt.Errorf("read header of %s: %w", path, err)
	}
	if string(hdr[:16]) != "SQLite format 3\x00" {
		return "", fmt.Errorf("%s is not a SQLite database", path)
	}
	if hdr[18] == 2 && hdr[19] == 2 {
		return "wal", nil
	}
	return "delete", nil
}

// Content is a logical summary of a database: rows per table and one
// digest over every row of every ordinary table in rowid order. Two
// databases with equal Content hold the same data whatever their page
// layout. Virtual tables (and their shadow tables' contents through them)
// are left out; their shadow tables are ordinary tables and are included.
type Content struct {
	Rows   map[string]int64
	Digest string
}

// ReadContent computes the Content of the database file at path, opened
// read-only and immutable: it reads the file as it is, ignoring any -wal,
// so use it on snapshot copies and on databases nobody has open.
func ReadContent(ctx context.Context, path string) (Content, error) {
	db, err := openReadOnly(path)
	if err != nil {
		return Content{}, err
	}
	defer db.Close()
	return readContent(ctx, db)
}
