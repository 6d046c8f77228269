package sqlitedb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"
	"sync"

	"github.com/spf13/afero"

	"github.com/atocore/atocore-backup/internal/durable"
	sqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
	"modernc.org/sqlite/vfs"
)

// Integrity is the outcome of PRAGMA integrity_check.
type Integrity struct {
	OK bool
	// Detail is empty when OK, else the first problems SQLite reported (or
	// why the file could not be read as a database), on one line.
	Detail string
}

// maxIntegrityErrors caps how many problems integrity_check collects.
const maxIntegrityErrors = 10

// IntegrityCheck runs PRAGMA integrity_check on the database file at path,
// opened read-only and immutable (no sidecars are created or read). A file
// that is not a database is reported as not OK, not as an error; err is
// only for cancellation.
//
// The file is read through SQLite only, never opened and closed beside it:
// path may be a live database that a connection of this process has open
// (restore checks the file it put in place), and closing any descriptor of
// its inode would drop that connection's POSIX locks (see liveFiles).
// SQLite's own close keeps them (unixClose defers it).
func IntegrityCheck(ctx context.Context, path string) (Integrity, error) {
	// A device or a FIFO is never opened: stat only, no descriptor.
	if _, err := durable.StatRegular(path); err != nil {
		return Integrity{Detail: oneLine(err.Error())}, nil
	}
	db, err := openReadOnly(path)
	if err != nil {
		return Integrity{Detail: err.Error()}, nil
	}
	defer db.Close()
	if bad, ok, err := checkPages(ctx, db); err != nil || !ok {
		return bad, err
	}
	return integrity(ctx, db)
}

// checkPages is checkHeader through SQLite: a file that is not a database
// fails to open its first page, and an empty file has no pages (which
// SQLite, unlike a snapshot, accepts as an empty database).
func checkPages(ctx context.Context, db *sql.DB) (bad Integrity, ok bool, err error) {
	var pages int64
	if err := db.QueryRowContext(ctx, "PRAGMA page_count").Scan(&pages); err != nil {
		if ctx.Err() != nil {
			return Integrity{}, false, ctx.Err()
		}
		var se *sqlite.Error
		if errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_NOTADB {
			return Integrity{Detail: notADatabase}, false, nil
		}
		return Integrity{Detail: oneLine(err.Error())}, false, nil
	}
	if pages == 0 {
		return Integrity{Detail: emptyFile}, false, nil
	}
	return Integrity{}, true, nil
}

// What checkHeader and checkPages report.
const (
	emptyFile    = "the file is empty: not a SQLite database"
	notADatabase = "file is not a database (no SQLite header)"
)

// vfsMu serialises VFS registration: each check registers its own.
var vfsMu sync.Mutex

// OpenSnapshotDB opens the database name on fsys read-only and immutable:
// in place when fsys has OS paths, else through a read-only SQLite VFS over
// fsys (an in-memory filesystem, say). Call closeFn when done.
func OpenSnapshotDB(fsys afero.Fs, name string) (db *sql.DB, closeFn func(), err error) {
	if p, ok := durable.OSPath(fsys, name); ok {
		db, err := openReadOnly(p)
		if err != nil {
			return nil, nil, err
		}
		return db, func() { db.Close() }, nil
	}
	// io/fs names have no leading slash; afero's MemMapFs keeps "/a" and
	// "a" apart, so root the view explicitly.
	var iofs fs.FS = afero.NewIOFS(afero.NewBasePathFs(fsys, "/"))
	vfsMu.Lock()
	id, v, err := vfs.New(iofs)
	vfsMu.Unlock()
	if err != nil {
		return nil, nil, fmt.Errorf("register read-only VFS: %w", err)
	}
	name = strings.TrimPrefix(path.Clean("/"+name), "/")
	db, err = sql.Open("sqlite", "file:"+name+"?vfs="+id+"&mode=ro&immutable=1")
	if err != nil {
		v.Close()
		return nil, nil, err
	}
	db.SetMaxOpenConns(1)
	return db, func() { db.Close(); v.Close() }, nil
}

// IntegrityCheckFS runs PRAGMA integrity_check on the database name on
// fsys, opened as OpenSnapshotDB does.
func IntegrityCheckFS(ctx context.Context, fsys afero.Fs, name string) (Integrity, error) {
	if bad, ok := checkHeader(fsys.Open(name)); !ok {
		return bad, nil
	}
	db, closeFn, err := OpenSnapshotDB(fsys, name)
	if err != nil {
		return Integrity{Detail: err.Error()}, nil
	}
	defer closeFn()
	return integrity(ctx, db)
}

// sqliteHeader starts every SQLite database file.
const sqliteHeader = "SQLite format 3\x00"

// checkHeader reads the start of an opened file and reports whether it is
// a SQLite database; when not, bad says why. SQLite itself takes an empty
// file for an empty database and passes it: a snapshot's database is
// never empty, so an empty or truncated-to-nothing copy fails here.
func checkHeader(f io.ReadCloser, err error) (bad Integrity, ok bool) {
	if err != nil {
		return Integrity{Detail: oneLine(err.Error())}, false
	}
	defer f.Close()
	head := make([]byte, len(sqliteHeader))
	n, err := io.ReadFull(f, head)
	switch {
	case n == 0:
		return Integrity{Detail: emptyFile}, false
	case err != nil && !errors.Is(err, io.ErrUnexpectedEOF):
		return Integrity{Detail: oneLine(err.Error())}, false
	case string(head[:n]) != sqliteHeader:
		return Integrity{Detail: notADatabase}, false
	}
	return Integrity{}, true
}

func integrity(ctx context.Context, db *sql.DB) (Integrity, error) {
	rows, err := db.QueryContext(ctx, fmt.Sprintf("PRAGMA integrity_check(%d)", maxIntegrityErrors))
	if err != nil {
		if ctx.Err() != nil {
			return Integrity{}, ctx.Err()
		}
		return Integrity{Detail: oneLine(err.Error())}, nil
	}
	defer rows.Close()
	var lines []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return Integrity{Detail: oneLine(err.Error())}, nil
		}
		lines = append(lines, s)
	}
	if err := rows.Err(); err != nil {
		if ctx.Err() != nil {
			return Integrity{}, ctx.Err()
		}
		return Integrity{Detail: oneLine(err.Error())}, nil
	}
	if len(lines) == 1 && lines[0] == "ok" {
		return Integrity{OK: true}, nil
	}
	if len(lines) == 0 {
		return Integrity{Detail: "integrity_check returned nothing"}, nil
	}
	return Integrity{Detail: oneLine(strings.Join(lines, "; "))}, nil
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return s
}
