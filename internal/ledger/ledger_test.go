package ledger

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestRunLogsEveryCommitAndRowsReadThemBack(t *testing.T) {
	dir := t.TempDir()
	db, log := filepath.Join(dir, "live.db"), filepath.Join(dir, "ledger.log")
	w, err := Open(db, "ledger")
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Run(log, 5*time.Millisecond, time.Now().Add(100*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	// A writer killed while writing leaves a torn last line.
	f, err := os.OpenFile(log, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("999 17")
	f.Close()

	entries, err := ReadLog(log)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := Rows(db, "ledger")
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) < 2 || len(entries) != len(rows) {
		t.Fatalf("%d log entries, %d rows: want the same, at least 2", len(entries), len(rows))
	}
	for i, e := range entries {
		if e.N != i+1 || !rows[e.N] || e.After.Before(e.Before) {
			t.Fatalf("entry %d: %+v (in the table: %v)", i, e, rows[e.N])
		}
	}

	// Opened again, the writer goes on from the highest row.
	w, err = Open(db, "ledger")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	n, _, _, err := w.Commit()
	if err != nil || n != len(entries)+1 {
		t.Fatalf("commit after reopening: row %d, %v; want row %d", n, err, len(entries)+1)
	}
}
