package replica

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"path/filepath"

	"github.com/spf13/afero"

	"github.com/atocore/atocore-backup/internal/durable"
	"github.com/atocore/atocore-backup/internal/snapshot"
	"github.com/atocore/atocore-backup/internal/sqlitedb"
)

// maxManifest bounds what is read of a manifest.json.
const maxManifest = 64 << 20

// loadBase reads every page of snapshot stamp's database through SQLite
// (read-only, immutable) into a table, and checks that the pages, in
// order, are the bytes its manifest lists: a chain never starts on a base
// that is not the snapshot's.
func loadBase(ctx context.Context, backupDir, stamp string) (*table, error) {
	t, _, err := loadBaseDigest(ctx, backupDir, stamp)
	return t, err
}

// loadBaseDigest is loadBase, with the digest the pages were checked
// against.
func loadBaseDigest(ctx context.Context, backupDir, stamp string) (*table, string, error) {
	dir := snapshot.Dir(backupDir, stamp)
	want, err := manifestDigest(dir)
	if err != nil {
		return nil, "", fmt.Errorf("base snapshot %s: %w", stamp, err)
	}
	t, digest, err := scanDB(ctx, filepath.Join(dir, filepath.FromSlash(snapshot.DBFile)))
	if err != nil {
		return nil, "", fmt.Errorf("base snapshot %s: %w", stamp, err)
	}
	if digest != want {
		return nil, "", fmt.Errorf("base snapshot %s: its database's pages are not the bytes its manifest lists (validate it)", stamp)
	}
	return t, digest, nil
}

// manifestDigest returns the SHA-256 the manifest of the snapshot in dir
// lists for its database.
func manifestDigest(dir string) (string, error) {
	b, err := durable.ReadFileNoLinks(afero.NewOsFs(), dir, snapshot.ManifestFile, maxManifest)
	if err != nil {
		return "", err
	}
	m, err := snapshot.DecodeManifest(b)
	if err != nil {
		return "", err
	}
	for _, f := range m.Files {
		if f.Path == snapshot.DBFile {
			return f.SHA256, nil
		}
	}
	return "", fmt.Errorf("its manifest lists no %s", snapshot.DBFile)
}

// scanDB reads a database file that does not change (a snapshot's, or a
// rebuilt copy) into a table, and returns the SHA-256 of its pages.
func scanDB(ctx context.Context, path string) (*table, string, error) {
	db, closeFn, err := sqlitedb.OpenSnapshotDB(afero.NewOsFs(), path)
	if err != nil {
		return nil, "", err
	}
	defer closeFn()
	var size, count int64
	if err := db.QueryRowContext(ctx, "PRAGMA page_size").Scan(&size); err != nil {
		return nil, "", fmt.Errorf("read %s: %w", path, err)
	}
	if err := db.QueryRowContext(ctx, "PRAGMA page_count").Scan(&count); err != nil {
		return nil, "", fmt.Errorf("read %s: %w", path, err)
	}
	if size < 512 || size > 65536 || size&(size-1) != 0 || count < 1 || count > 1<<31 {
		return nil, "", fmt.Errorf("read %s: page size %d, %d pages: not a database", path, size, count)
	}
	t := newTable(uint32(size))
	t.pages = make([]pageSum, 0, count)
	rows, err := db.QueryContext(ctx, "SELECT pgno, data FROM sqlite_dbpage")
	if err != nil {
		return nil, "", fmt.Errorf("read %s: %w", path, err)
	}
	defer rows.Close()
	h := sha256.New()
	sm := newSummer()
	var data sql.RawBytes
	for next := uint32(1); rows.Next(); next++ {
		var pgno int64
		if err := rows.Scan(&pgno, &data); err != nil {
			return nil, "", fmt.Errorf("read %s: %w", path, err)
		}
		if uint32(pgno) != next || int64(len(data)) != size {
			return nil, "", fmt.Errorf("read %s: page %d came as page %d of %d bytes", path, next, pgno, len(data))
		}
		h.Write(data)
		if next == t.lock {
			t.pages = append(t.pages, pageSum{})
			continue
		}
		t.set(next, sm.sum(next, data))
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("read %s: %w", path, err)
	}
	if t.count() != uint32(count) {
		return nil, "", fmt.Errorf("read %s: %d pages, page_count says %d", path, t.count(), count)
	}
	return t, hex.EncodeToString(h.Sum(nil)), nil
}
