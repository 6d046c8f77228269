package replica

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/atocore/atocore-backup/backup"
	"github.com/atocore/atocore-backup/internal/sample"
	"github.com/atocore/atocore-backup/internal/snapshot"
	"github.com/atocore/atocore-backup/internal/sqlitedb"
	"github.com/atocore/atocore-backup/internal/testutil"

	_ "modernc.org/sqlite"
)

// commitLog is what a writer records of each transaction: its number and
// the moments just before COMMIT and just after it returned.
type commitLog struct {
	n             int
	before, after time.Time
}

// writer commits numbered rows into a ledger table of the live database
// until stop is closed, with the pragmas a service might use.
type writer struct {
	db    *sql.DB
	mu    sync.Mutex
	log   []commitLog
	every time.Duration
	// truncateEvery, when set, has the writer run a TRUNCATE checkpoint
	// every that many commits (a service that keeps its -wal at zero bytes).
	truncateEvery int
	// rowBytes is the payload of each row.
	rowBytes int
}

func openWriter(t *testing.T, path string, autockpt int) *writer {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(wal)&_pragma=wal_autocheckpoint("+fmt.Sprint(autockpt)+")")
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	if _, err := db.Exec("CREATE TABLE IF NOT EXISTS ledger (n INTEGER PRIMARY KEY, payload BLOB)"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return &writer{db: db, every: 5 * time.Millisecond, rowBytes: 300}
}

func (w *writer) run(t *testing.T, stop <-chan struct{}) {
	payload := make([]byte, w.rowBytes)
	for n := 1; ; n++ {
		select {
		case <-stop:
			return
		case <-time.After(w.every):
		}
		tx, err := w.db.Begin()
		if err != nil {
			t.Error(err)
			return
		}
		payload[n%len(payload)]++
		if _, err := tx.Exec("INSERT INTO ledger (n, payload) VALUES (?, ?)", n, payload); err != nil {
			t.Error(err)
			return
		}
		before := time.Now()
		if err := tx.Commit(); err != nil {
			t.Error(err)
			return
		}
		after := time.Now()
		w.mu.Lock()
		w.log = append(w.log, commitLog{n, before, after})
		w.mu.Unlock()
		if w.truncateEvery > 0 && n%w.truncateEvery == 0 {
			if _, err := w.db.Exec("PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
				t.Error(err)
				return
			}
		}
	}
}

// rows returns the ledger numbers in the database at path.
func rows(t *testing.T, path string) map[int]bool {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rs, err := db.Query("SELECT n FROM ledger")
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	out := map[int]bool{}
	for rs.Next() {
		var n int
		if err := rs.Scan(&n); err != nil {
			t.Fatal(err)
		}
		out[n] = true
	}
	return out
}

// setup makes a sample root with a ledger table and a snapshot of it.
func setup(t *testing.T, autockpt int) (*sample.Root, backup.Config, *writer) {
	t.Helper()
	r := testutil.Root(t)
	w := openWriter(t, r.DBPath, autockpt)
	testutil.Create(t, r, backup.CreateOptions{})
	return r, testutil.Config(r), w
}

// runFor runs a replicator and the writer together for d.
func runFor(t *testing.T, cfg backup.Config, w *writer, opts Options, d time.Duration) *Replicator {
	t.Helper()
	rep, err := New(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- rep.Run(ctx) }()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { w.run(t, stop) })
	time.Sleep(d)
	close(stop)
	wg.Wait()
	// Let a tick see the writer's last commit.
	time.Sleep(3 * opts.Interval)
	cancel()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	return rep
}

// rebuildAt rebuilds the database at `at` into a file of its own.
func rebuildAt(t *testing.T, backupDir string, at time.Time) (string, *Plan) {
	t.Helper()
	p, err := PlanAt(context.Background(), backupDir, at)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "rebuilt.db")
	in, err := os.Open(filepath.Join(snapshot.Dir(backupDir, p.Window.Base), filepath.FromSlash(snapshot.DBFile)))
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := io.Copy(f, in); err != nil {
		t.Fatal(err)
	}
	if err := p.Rebuild(context.Background(), f); err != nil {
		t.Fatal(err)
	}
	ic, err := sqlitedb.IntegrityCheck(context.Background(), out)
	if err != nil || !ic.OK {
		t.Fatalf("integrity_check of the database rebuilt at %s: %v %s", at, err, ic.Detail)
	}
	return out, p
}

// checkAt checks that the database rebuilt at the plan's Seen holds
// every commit that had returned before it and none begun after it.
func checkAt(t *testing.T, w *writer, got map[int]bool, seen time.Time) {
	t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, c := range w.log {
		switch {
		case c.after.Before(seen.Add(-20*time.Millisecond)) && !got[c.n]:
			t.Errorf("commit %d (returned %s) is not in the database seen at %s", c.n, c.after.Format(time.StampMicro), seen.Format(time.StampMicro))
		case c.before.After(seen) && got[c.n]:
			t.Errorf("commit %d (begun %s) is in the database seen at %s", c.n, c.before.Format(time.StampMicro), seen.Format(time.StampMicro))
		}
	}
}

func TestReplicateRestoreAtAnyTime(t *testing.T) {
	for _, c := range []struct {
		name     string
		autockpt int
		truncate int
	}{
		{"default checkpoints", 1000, 0},
		{"frequent restarts", 8, 0},
		{"truncating service", 1000, 25},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			r, cfg, w := setup(t, c.autockpt)
			w.truncateEvery = c.truncate
			rep := runFor(t, cfg, w, Options{Interval: 100 * time.Millisecond}, 2500*time.Millisecond)
			st := rep.Status()
			t.Logf("status: %+v", st)
			if st.Segments < 5 || st.Errors != 0 {
				t.Fatalf("status %+v: want several segments and no error", st)
			}
			ws, err := Windows(context.Background(), r.BackupDir)
			if err != nil || len(ws) != 1 {
				t.Fatalf("windows %v, %v", ws, err)
			}
			// Every tick's time, and the end: the rebuilt database holds
			// exactly what was committed then.
			from, to := ws[0].From, ws[0].To
			for at := from; !at.After(to); at = at.Add(130 * time.Millisecond) {
				db, p := rebuildAt(t, r.BackupDir, at)
				checkAt(t, w, rows(t, db), p.Seen)
			}
			db, _ := rebuildAt(t, r.BackupDir, to)
			if got, want := testutil.Fingerprint(t, db), testutil.Fingerprint(t, r.DBPath); got != want {
				t.Errorf("the database rebuilt at the window's end is not the live one")
			}
		})
	}
}

// A chain holds its first segment as soon as the replicator has started,
// not at the first multiple of the interval: with an interval of an hour,
// a replicator killed in its first seconds would otherwise leave nothing.
func TestFirstSegmentDoesNotWaitForTheInterval(t *testing.T) {
	_, cfg, _ := setup(t, 1000)
	rep, err := New(cfg, Options{Interval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- rep.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}()
	deadline := time.Now().Add(20 * time.Second)
	for rep.Status().Segments == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no segment 20 s after the start (interval 1 h): %+v", rep.Status())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
