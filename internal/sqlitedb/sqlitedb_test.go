package sqlitedb

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spf13/afero"
)

func makeWALDB(t *testing.T, rows int) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "live.db")
	db, err := sql.Open("sqlite", dsn(p, "_pragma=journal_mode(wal)"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)"); err != nil {
		t.Fatal(err)
	}
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < rows; i++ {
		if _, err := tx.Exec("INSERT INTO t(v) VALUES (?)", "row"); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	return p
}

func count(t *testing.T, path string) int {
	t.Helper()
	db, err := openReadOnly(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow("SELECT count(*) FROM t").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestOnlineCopyIsOneDeleteModeFile(t *testing.T) {
	src := makeWALDB(t, 50)
	dst := filepath.Join(t.TempDir(), "copy.db")
	mode, err := OnlineCopy(context.Background(), src, dst)
	if err != nil {
		t.Fatal(err)
	}
	if mode != "wal" {
		t.Fatalf("source journal mode = %q, want wal", mode)
	}
	if m, _ := JournalModeOf(dst); m != "delete" {
		t.Fatalf("copy journal mode = %q, want delete", m)
	}
	for _, s := range Sidecars {
		if _, err := os.Stat(dst + s); err == nil {
			t.Fatalf("copy left sidecar %s", s)
		}
	}
	if n := count(t, dst); n != 50 {
		t.Fatalf("copy has %d rows, want 50", n)
	}
	if res, err := IntegrityCheck(context.Background(), dst); err != nil || !res.OK {
		t.Fatalf("integrity = %+v, %v", res, err)
	}
	if _, err := OnlineCopy(context.Background(), src, dst); err == nil {
		t.Fatal("copy onto an existing file succeeded")
	}
}

// A writer keeps inserting while the copy runs: the writer never fails and
// the copy is a consistent prefix of its writes.
func TestOnlineCopyUnderConcurrentWriter(t *testing.T) {
	src := makeWALDB(t, 20000)
	w, err := sql.Open("sqlite", dsn(src))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	var inserted atomic.Int64
	var werr atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		deadline := time.After(20 * time.Second)
		for i := 0; i < 100000; i++ {
			select {
			case <-stop:
				return
			case <-deadline:
				return
			default:
			}
			if _, err := w.Exec("INSERT INTO t(v) VALUES ('w')"); err != nil {
				werr.Store(err)
				return
			}
			inserted.Add(1)
		}
	}()
	time.Sleep(20 * time.Millisecond)
	dst := filepath.Join(t.TempDir(), "copy.db")
	_, cerr := OnlineCopy(context.Background(), src, dst)
	close(stop)
	wg.Wait()
	if cerr != nil {
		t.Fatal(cerr)
	}
	if e := werr.Load(); e != nil {
		t.Fatalf("writer failed during the copy: %v", e)
	}
	n := count(t, dst)
	if n < 20000 || int64(n) > 20000+inserted.Load() {
		t.Fatalf("copy has %d rows; want between 20000 and %d", n, 20000+inserted.Load())
	}
	if res, _ := IntegrityCheck(context.Background(), dst); !res.OK {
		t.Fatalf("copy integrity: %s", res.Detail)
	}
}

func TestIntegrityCheckReportsDamage(t *testing.T) {
	src := makeWALDB(t, 3000)
	dst := filepath.Join(t.TempDir(), "copy.db")
	if _, err := OnlineCopy(context.Background(), src, dst); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(dst)
	// Flip the b-tree page header of page 2 (the table's root or first leaf).
	for i := 4096; i < 4108; i++ {
		data[i] ^= 0xA5
	}
	bad := filepath.Join(t.TempDir(), "bad.db")
	_ = os.WriteFile(bad, data, 0o600)
	res, err := IntegrityCheck(context.Background(), bad)
	if err != nil || res.OK || res.Detail == "" {
		t.Fatalf("damaged db: %+v, %v", res, err)
	}
	notDB := filepath.Join(t.TempDir(), "x.db")
	_ = os.WriteFile(notDB, []byte("hello, not a database at all, really not........................................................................................"), 0o600)
	if res, _ := IntegrityCheck(context.Background(), notDB); res.OK {
		t.Fatal("a text file passed integrity_check")
	}
}

func TestIntegrityCheckFSOnMemMapFs(t *testing.T) {
	src := makeWALDB(t, 10)
	data, _ := os.ReadFile(src)
	mem := afero.NewMemMapFs()
	_ = afero.WriteFile(mem, "/snap/db/atocore.db", data, 0o600)
	res, err := IntegrityCheckFS(context.Background(), mem, "/snap/db/atocore.db")
	if err != nil || !res.OK {
		t.Fatalf("in-memory check: %+v, %v", res, err)
	}
}

func TestCheckpointAndSidecars(t *testing.T) {
	src := makeWALDB(t, 10)
	if err := Checkpoint(context.Background(), src); err != nil {
		t.Fatal(err)
	}
	_ = os.WriteFile(src+"-wal", []byte("stale"), 0o600)
	if err := RemoveSidecars(src); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(src + "-wal"); !os.IsNotExist(err) {
		t.Fatal("-wal survived RemoveSidecars")
	}
	if err := SetJournalMode(context.Background(), src, "wal"); err != nil {
		t.Fatal(err)
	}
	if m, _ := JournalModeOf(src); m != "wal" {
		t.Fatalf("mode = %s", m)
	}
}
