package replica

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/atocore/atocore-backup/internal/testutil"
)

// stepper drives a replicator one tick at a time, for the cases where
// the order of the service's commits, checkpoints and restarts against
// the ticks matters.
type stepper struct {
	t    *testing.T
	rep  *Replicator
	ch   *chain
	f    *follower
	db   *sql.DB // the "service": one connection
	live string
	n    int
}

func newStepper(t *testing.T) *stepper {
	t.Helper()
	r, cfg, _ := setup(t, 1000)
	db, err := sql.Open("sqlite", "file:"+r.DBPath+"?_pragma=busy_timeout(10000)&_pragma=wal_autocheckpoint(0)")
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	rep, err := New(cfg, Options{Interval: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ch, tbl, err := rep.startChain(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	f, err := openFollower(context.Background(), r.DBPath, tbl)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.close)
	return &stepper{t: t, rep: rep, ch: ch, f: f, db: db, live: r.DBPath}
}

// commit commits k rows of the given size.
func (s *stepper) commit(k, size int) {
	s.t.Helper()
	for range k {
		s.n++
		if _, err := s.db.Exec("INSERT INTO ledger (n, payload) VALUES (?, randomblob(?))", s.n, size); err != nil {
			s.t.Fatal(err)
		}
	}
}

func (s *stepper) exec(q string) {
	s.t.Helper()
	if _, err := s.db.Exec(q); err != nil {
		s.t.Fatalf("%s: %v", q, err)
	}
}

// tick runs one tick and returns why it compared every page ("" when
// the -wal said what changed).
func (s *stepper) tick() string {
	s.t.Helper()
	before := s.rep.Status()
	if err := s.rep.tick(context.Background(), s.f, s.ch); err != nil {
		s.t.Fatal(err)
	}
	after := s.rep.Status()
	if after.FullComparisons > before.FullComparisons {
		return after.LastFullReason
	}
	return ""
}

// check rebuilds the chain's end and compares it with the live database.
func (s *stepper) check() {
	s.t.Helper()
	backupDir := filepath.Dir(filepath.Dir(filepath.Dir(s.ch.dir)))
	ws, err := Windows(context.Background(), backupDir)
	if err != nil || len(ws) != 1 {
		s.t.Fatalf("windows %v: %v", ws, err)
	}
	db, _ := rebuildAt(s.t, backupDir, ws[0].To)
	if got, want := testutil.Fingerprint(s.t, db), testutil.Fingerprint(s.t, s.live); got != want {
		s.t.Fatalf("the chain's end is not the live database")
	}
}

func TestFollowerAcrossRestarts(t *testing.T) {
	s := newStepper(t)
	if why := s.tick(); !strings.Contains(why, "first tick") {
		t.Fatalf("first tick: %q, want a full comparison", why)
	}
	s.check()

	// Plain appends: the -wal says which pages.
	s.commit(20, 300)
	if why := s.tick(); why != "" {
		t.Fatalf("appends: full comparison (%s)", why)
	}
	s.check()

	// The service commits, checkpoints and restarts the -wal between two
	// ticks: the old generation's frames after the position are still in
	// the file past the new one's end.
	s.commit(30, 300)
	s.exec("PRAGMA wal_checkpoint(PASSIVE)")
	s.commit(1, 10) // restarts the -wal: a few frames from its start
	if why := s.tick(); why != "" {
		t.Fatalf("one restart, tail intact: full comparison (%s)", why)
	}
	s.check()

	// The new generation outgrows the position before the tick: the old
	// frames are overwritten, and the tick compares every page.
	s.commit(5, 300)
	s.tick()
	s.exec("PRAGMA wal_checkpoint(PASSIVE)")
	s.commit(200, 300)
	if why := s.tick(); !strings.Contains(why, "overwrote") {
		t.Fatalf("restart past the position: %q, want a full comparison", why)
	}
	s.check()

	// Two restarts between ticks.
	s.commit(3, 300)
	s.tick()
	for range 2 {
		s.exec("PRAGMA wal_checkpoint(PASSIVE)")
		s.commit(1, 10)
	}
	if why := s.tick(); !strings.Contains(why, "more than once") {
		t.Fatalf("two restarts: %q, want a full comparison", why)
	}
	s.check()

	// A TRUNCATE checkpoint empties the -wal.
	s.commit(10, 300)
	s.tick()
	s.commit(10, 300)
	s.exec("PRAGMA wal_checkpoint(TRUNCATE)")
	if why := s.tick(); !strings.Contains(why, "emptied") {
		t.Fatalf("truncated -wal: %q, want a full comparison", why)
	}
	s.check()
	// Still empty, nothing written: nothing to do, no comparison.
	if why := s.tick(); why != "" {
		t.Fatalf("empty -wal, no change: full comparison (%s)", why)
	}
	// The first generation after it: its frames hold everything.
	s.commit(10, 300)
	if why := s.tick(); why != "" {
		t.Fatalf("first generation after a truncate: full comparison (%s)", why)
	}
	s.check()

	// The database shrinks (VACUUM): the segment's size cuts the rest.
	s.exec("DELETE FROM ledger WHERE n % 2 = 0")
	s.tick()
	s.exec("VACUUM")
	s.tick()
	s.check()
}

// A tick never writes the live database nor its -wal: the database
// file's size and modification time, and the -wal's bytes, are the same
// before and after (the service is idle meanwhile). (The database file is
// not read here: closing a descriptor of it would drop this process's
// SQLite locks on it.)
func TestTickReadsOnly(t *testing.T) {
	s := newStepper(t)
	s.commit(50, 300)
	read := func() (os.FileInfo, []byte) {
		fi, err := os.Stat(s.live)
		if err != nil {
			t.Fatal(err)
		}
		wal, err := os.ReadFile(s.live + "-wal")
		if err != nil {
			t.Fatal(err)
		}
		return fi, wal
	}
	db0, wal0 := read()
	s.tick()
	s.tick()
	db1, wal1 := read()
	if db0.Size() != db1.Size() || !db0.ModTime().Equal(db1.ModTime()) || string(wal0) != string(wal1) {
		t.Fatal("a tick changed the live database or its -wal")
	}
}
