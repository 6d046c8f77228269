package sqlitedb

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/atocore/atocore-backup/internal/durable"
	sqlite "modernc.org/sqlite"
)

// The ways of copying a live database that docs/design.md ("The online
// copy") compares, each ending in a DELETE-mode file as OnlineCopy does:
//
//	ATOCORE_BENCH_DB=/var/tmp/root/data/db/atocore.db go test -run '^$' -bench CopyWays -benchtime 3x ./internal/sqlitedb
//
// "open-close" is the copy OnlineCopy made before it kept its descriptors
// (it drops the read transaction's locks: do not use it on a live database).
func BenchmarkCopyWays(b *testing.B) {
	src := benchDB(b)
	for _, w := range []struct {
		name string
		copy func(ctx context.Context, conn *sql.Conn, src, dst string) error
	}{
		{"open-close", func(ctx context.Context, _ *sql.Conn, src, dst string) error {
			return durable.CopyRaw(ctx, src, dst, 0o600)
		}},
		{"kept-fd", func(ctx context.Context, _ *sql.Conn, src, dst string) error {
			fi, err := os.Stat(src)
			if err != nil {
				return err
			}
			f, err := liveFile(src, fi)
			if err != nil {
				return err
			}
			return durable.CopyRawFrom(ctx, f, dst, 0o600)
		}},
		{"backup-all", func(ctx context.Context, conn *sql.Conn, _, dst string) error {
			return backupAPI(conn, dst, -1)
		}},
		{"backup-64MiB-steps", func(ctx context.Context, conn *sql.Conn, _, dst string) error {
			return backupAPI(conn, dst, 16384)
		}},
		{"dbpage", func(ctx context.Context, conn *sql.Conn, _, dst string) error {
			return dbpageCopy(ctx, conn, dst)
		}},
	} {
		b.Run(w.name, func(b *testing.B) {
			dir := b.TempDir()
			for range b.N {
				dst := filepath.Join(dir, "copy.db")
				if err := copyWay(src, dst, w.copy); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				if n, err := ReadContent(context.Background(), dst); err != nil || len(n.Rows) == 0 {
					b.Fatalf("copy unreadable: %v", err)
				}
				RemoveWithSidecars(dst)
				b.StartTimer()
			}
		})
	}
}

// copyWay runs copy under one read transaction on src, then switches dst to
// journal_mode=DELETE.
func copyWay(src, dst string, copy func(context.Context, *sql.Conn, string, string) error) error {
	ctx := context.Background()
	db, err := openReadWrite(src)
	if err != nil {
		return err
	}
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := beginRead(ctx, conn); err != nil {
		return err
	}
	err = copy(ctx, conn, src, dst)
	if _, rerr := conn.ExecContext(ctx, "ROLLBACK"); err == nil {
		err = rerr
	}
	if err != nil {
		return err
	}
	return SetJournalMode(ctx, dst, "delete")
}

// backupAPI copies conn's database to dst with SQLite's backup API, step
// pages at a time (-1: all in one step).
func backupAPI(conn *sql.Conn, dst string, step int32) error {
	return conn.Raw(func(dc any) error {
		bc, ok := dc.(interface {
			NewBackup(string) (*sqlite.Backup, error)
		})
		if !ok {
			return fmt.Errorf("driver connection %T has no NewBackup", dc)
		}
		bk, err := bc.NewBackup(dsn(dst, "_pragma=synchronous(off)", "_pragma=journal_mode(off)"))
		if err != nil {
			return err
		}
		for {
			more, err := bk.Step(step)
			if err != nil {
				bk.Finish()
				return err
			}
			if !more {
				return bk.Finish()
			}
		}
	})
}

// dbpageCopy writes every page of conn's database, read through SQLite
// (the sqlite_dbpage virtual table), to dst.
func dbpageCopy(ctx context.Context, conn *sql.Conn, dst string) (err error) {
	f, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}()
	w := bufio.NewWriterSize(f, durable.BufferSize)
	rows, err := conn.QueryContext(ctx, "SELECT data FROM sqlite_dbpage ORDER BY pgno")
	if err != nil {
		return err
	}
	defer rows.Close()
	var page sql.RawBytes
	for rows.Next() {
		if err := rows.Scan(&page); err != nil {
			return err
		}
		if _, err := w.Write(page); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	return w.Flush()
}
