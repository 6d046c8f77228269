package sqlitedb

import (
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"strings"

	"github.com/atocore/atocore-backup/internal/durable"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// busyTimeoutMS is how long a statement waits for another connection's lock.
const busyTimeoutMS = 10000

// dsn builds a URI filename. SQLite honours URI parameters (mode, immutable)
// only when the name starts with "file:", so every open goes through here.
func dsn(path string, params ...string) string {
	u := "file:" + (&url.URL{Path: path}).EscapedPath()
	q := append([]string{fmt.Sprintf("_pragma=busy_timeout(%d)", busyTimeoutMS)}, params...)
	return u + "?" + strings.Join(q, "&")
}

// openReadOnly opens a database that must not change. immutable=1 also
// keeps SQLite from creating -shm or -journal files next to it, and lets it
// read a single file whose header still says WAL (as copies made by the
// earlier Python implementation do).
func openReadOnly(path string) (*sql.DB, error) {
	db, err := sql.Open("sqlite", dsn(path, "mode=ro", "immutable=1"))
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	return db, nil
}

// requireRegular refuses a live database, or a -wal or -journal beside it,
// that is not a regular file (following symbolic links), before SQLite
// opens it: SQLite reading a FIFO blocks forever, and the raw copy of
// /dev/zero never ends. A missing sidecar is fine; a missing database is
// reported as fs.ErrNotExist.
func requireRegular(path string) error {
	if _, err := durable.StatRegular(path); err != nil {
		return err
	}
	for _, s := range []string{"-wal", "-journal"} {
		if _, err := durable.StatRegular(path + s); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}

// openReadWrite opens a database for the few writes this package makes to
// files it owns (journal mode of a fresh copy, a checkpoint).
func openReadWrite(path string, params ...string) (*sql.DB, error) {
	db, err := sql.Open("sqlite", dsn(path, params...))
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	return db, nil
}

// OpenLive opens the live database at path read-write for a few statements
// of this tool's own (the drill's marker table), with the same busy
// timeout and a properly escaped URI: a path with '?', '#' or '%' is still
// that path. mode=rw: it never creates a database that is not there.
func OpenLive(path string) (*sql.DB, error) {
	return openReadWrite(path, "mode=rw")
}
