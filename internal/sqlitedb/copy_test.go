package sqlitedb

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// ledgerDB makes a database in journal mode mode whose every transaction
// appends one row to entries and adds its amount to the single row of
// total: in any committed state, sum(entries) = total.
func ledgerDB(t *testing.T, mode string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "live.db")
	db, err := sql.Open("sqlite", dsn(p, fmt.Sprintf("_pragma=journal_mode(%s)", mode)))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range []string{
		"CREATE TABLE entries(id INTEGER PRIMARY KEY, amount INTEGER, pad BLOB)",
		"CREATE INDEX entries_amount ON entries(amount)",
		"CREATE TABLE total(n INTEGER)",
		"INSERT INTO total VALUES (0)",
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2000 {
		if _, err := tx.Exec("INSERT INTO entries(amount, pad) VALUES (?, zeroblob(3000))", i+1); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := tx.Exec("UPDATE total SET n = 2000*2001/2"); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	return p
}

// ledgerWrite commits n ledger transactions, each of the amount i+1.
func ledgerWrite(db *sql.DB, from, n int) error {
	for i := from; i < from+n; i++ {
		tx, err := db.Begin()
		if err != nil {
			return err
		}
		if _, err := tx.Exec("INSERT INTO entries(amount, pad) VALUES (?, zeroblob(3000))", i+1); err != nil {
			tx.Rollback()
			return err
		}
		if _, err := tx.Exec("UPDATE total SET n = n + ?", i+1); err != nil {
			tx.Rollback()
			return err
		}
		if err := tx.Commit(); err != nil {
			return err
		}
	}
	return nil
}

// ledgerConsistent fails t unless the copy at p is one committed state:
// integrity_check passes, sum(entries) = total, and the file is alone in
// journal_mode DELETE.
func ledgerConsistent(t *testing.T, p string) (rows int) {
	t.Helper()
	if res, err := IntegrityCheck(context.Background(), p); err != nil || !res.OK {
		t.Fatalf("copy integrity: %+v, %v", res, err)
	}
	if m, err := JournalModeOf(p); err != nil || m != "delete" {
		t.Fatalf("copy journal mode = %q, %v; want delete", m, err)
	}
	for _, s := range []string{"-wal", "-shm", "-journal"} {
		if _, err := os.Stat(p + s); !os.IsNotExist(err) {
			t.Fatalf("copy left %s%s", p, s)
		}
	}
	db, err := openReadOnly(p)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var sum, total int64
	if err := db.QueryRow("SELECT count(*), coalesce(sum(amount), 0) FROM entries").Scan(&rows, &sum); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow("SELECT n FROM total").Scan(&total); err != nil {
		t.Fatal(err)
	}
	if sum != total {
		t.Fatalf("copy is no committed state: sum(entries) = %d, total = %d", sum, total)
	}
	return rows
}

// Frames still in the -wal (no checkpoint since they were committed, the
// writer's connection open) are part of the copy.
func TestOnlineCopyIncludesUncheckpointedWAL(t *testing.T) {
	src := ledgerDB(t, "wal")
	w, err := sql.Open("sqlite", dsn(src, "_pragma=wal_autocheckpoint(0)", "_pragma=synchronous(0)"))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	w.SetMaxOpenConns(1)
	if err := ledgerWrite(w, 2000, 500); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(src + "-wal"); err != nil || fi.Size() < 500*4096 {
		t.Fatalf("the test needs a large -wal: %v, %v", fi, err)
	}
	dst := filepath.Join(t.TempDir(), "copy.db")
	mode, err := OnlineCopy(context.Background(), src, dst)
	if err != nil || mode != "wal" {
		t.Fatalf("OnlineCopy = %q, %v", mode, err)
	}
	if n := ledgerConsistent(t, dst); n != 2500 {
		t.Fatalf("copy has %d entries; want 2500 (the -wal's frames were lost)", n)
	}
}

// Writers keep committing while copies run, in WAL mode with checkpoints
// running all the time and in rollback-journal mode: the writers never
// fail and every copy is one committed state, at least as new as when
// the copy began.
func TestOnlineCopyUnderLedgerWriter(t *testing.T) {
	for _, mode := range []string{"wal", "delete"} {
		t.Run(mode, func(t *testing.T) {
			src := ledgerDB(t, mode)
			w, err := sql.Open("sqlite", dsn(src, "_pragma=wal_autocheckpoint(8)", "_pragma=synchronous(0)"))
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			w.SetMaxOpenConns(1)
			var committed atomic.Int64
			committed.Store(2000)
			var werr error
			stop := make(chan struct{})
			var wg sync.WaitGroup
			wg.Go(func() {
				deadline := time.Now().Add(20 * time.Second)
				for i := 2000; i < 200000 && time.Now().Before(deadline); i++ {
					select {
					case <-stop:
						return
					default:
					}
					if werr = ledgerWrite(w, i, 1); werr != nil {
						return
					}
					committed.Add(1)
				}
			})
			dir := t.TempDir()
			for i := range 8 {
				before := committed.Load()
				dst := filepath.Join(dir, fmt.Sprintf("copy%d.db", i))
				if _, err := OnlineCopy(context.Background(), src, dst); err != nil {
					t.Fatalf("copy %d: %v", i, err)
				}
				after := committed.Load()
				n := ledgerConsistent(t, dst)
				if int64(n) < before || int64(n) > after+1 {
					t.Fatalf("copy %d has %d entries; want between %d and %d", i, n, before, after+1)
				}
				time.Sleep(10 * time.Millisecond)
			}
			close(stop)
			wg.Wait()
			if werr != nil {
				t.Fatalf("writer failed during the copies: %v", werr)
			}
			if committed.Load() == 2000 {
				t.Fatal("the writer committed nothing: the test proved nothing")
			}
		})
	}
}

// A cancelled copy leaves nothing behind.
func TestOnlineCopyCancelled(t *testing.T) {
	src := ledgerDB(t, "wal")
	dst := filepath.Join(t.TempDir(), "copy.db")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := OnlineCopy(ctx, src, dst); err == nil {
		t.Fatal("a cancelled copy succeeded")
	}
	for _, s := range []string{"", "-wal", "-shm"} {
		if _, err := os.Stat(dst + s); !os.IsNotExist(err) {
			t.Fatalf("cancelled copy left %s%s", dst, s)
		}
	}
}

func TestSameWALHeader(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	head := make([]byte, walHeaderSize+100)
	for i := range head {
		head[i] = byte(i)
	}
	restarted := append([]byte(nil), head...)
	restarted[16]++ // salt-1
	a := write("a-wal", head)
	same := write("b-wal", append(append([]byte(nil), head[:walHeaderSize]...), 7, 7))
	other := write("c-wal", restarted)
	empty := write("d-wal", nil)
	if !sameWALHeader(a, same) {
		t.Error("equal headers reported different")
	}
	if sameWALHeader(a, other) {
		t.Error("a restarted -wal (new salt) reported the same")
	}
	if !sameWALHeader(a, empty) {
		t.Error("an empty copy has nothing to replay: want same")
	}
	if sameWALHeader(filepath.Join(dir, "gone-wal"), same) {
		t.Error("a -wal removed during the copy reported the same")
	}
}
