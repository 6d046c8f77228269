package sqlitedb

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"path"
	"strings"
	"sync"

	"github.com/spf13/afero"
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
func IntegrityCheck(ctx context.Context, path string) (Integrity, error) {
	db, err := openReadOnly(path)
	if err != nil {
		return Integrity{Detail: err.Error()}, nil
	}
	defer db.Close()
	return integrity(ctx, db)
}

// vfsMu serialises VFS registration: each check registers its own.
var vfsMu sync.Mutex

// IntegrityCheckFS runs PRAGMA integrity_check on name inside fsys, a
// filesystem that has no OS paths (an in-memory one, say), through a
// read-only SQLite VFS.
func IntegrityCheckFS(ctx context.Context, fsys afero.Fs, name string) (Integrity, error) {
	// io/fs names have no leading slash; afero's MemMapFs keeps "/a" and
	// "a" apart, so root the view explicitly.
	var iofs fs.FS = afero.NewIOFS(afero.NewBasePathFs(fsys, "/"))
	vfsMu.Lock()
	id, v, err := vfs.New(iofs)
	vfsMu.Unlock()
	if err != nil {
		return Integrity{}, fmt.Errorf("register read-only VFS: %w", err)
	}
	defer v.Close()
	name = strings.TrimPrefix(path.Clean("/"+name), "/")
	db, err := sql.Open("sqlite", "file:"+name+"?vfs="+id+"&mode=ro&immutable=1")
	if err != nil {
		return Integrity{Detail: err.Error()}, nil
	}
	db.SetMaxOpenConns(1)
	res, err := integrity(ctx, db)
	db.Close()
	return res, err
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
