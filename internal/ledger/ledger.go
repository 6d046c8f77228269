// Package ledger is the numbered-commit writer that the crash tests and
// the replication bench run as a process of their own, beside the
// replicator under test, and the reading of what it wrote. After each
// commit the writer appends "n before after" (Unix nanoseconds around
// COMMIT) to its log and syncs it: the log is the truth of what was
// committed when, and the rows of a restored database are compared with
// it.
package ledger

import (
	"bufio"
	"database/sql"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	_ "modernc.org/sqlite" // the "sqlite" driver
)

// PayloadBytes is the size of each row's blob: about one AtoCore memory.
const PayloadBytes = 400

// Entry is one line of the log: row N was committed between Before and
// After.
type Entry struct {
	N             int
	Before, After time.Time
}

// Writer commits numbered rows into one table of a live database.
type Writer struct {
	db      *sql.DB
	table   string
	payload []byte
	next    int // the number of the next row
}

// Open opens the database at path the way a service does (WAL mode, the
// SQLite defaults otherwise: synchronous FULL, wal_autocheckpoint 1000,
// one connection), creates table when it is missing, and goes on from its
// highest row.
func Open(path, table string) (*Writer, error) {
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(wal)")
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	if _, err := db.Exec("CREATE TABLE IF NOT EXISTS " + table + " (n INTEGER PRIMARY KEY, payload BLOB)"); err != nil {
		db.Close()
		return nil, err
	}
	var last int
	if err := db.QueryRow("SELECT coalesce(max(n), 0) FROM " + table).Scan(&last); err != nil {
		db.Close()
		return nil, err
	}
	w := &Writer{db: db, table: table, payload: make([]byte, PayloadBytes), next: last + 1}
	for i := range w.payload {
		w.payload[i] = byte(i * 7)
	}
	return w, nil
}

// DB is the writer's connection pool.
func (w *Writer) DB() *sql.DB { return w.db }

// Close closes the database.
func (w *Writer) Close() error { return w.db.Close() }

// Commit inserts the next row in a transaction of its own; before and
// after are the times around its COMMIT.
func (w *Writer) Commit() (n int, before, after time.Time, err error) {
	n = w.next
	w.payload[n%len(w.payload)]++
	tx, err := w.db.Begin()
	if err != nil {
		return 0, before, after, err
	}
	if _, err := tx.Exec("INSERT INTO "+w.table+" (n, payload) VALUES (?, ?)", n, w.payload); err != nil {
		tx.Rollback()
		return 0, before, after, err
	}
	before = time.Now()
	err = tx.Commit()
	after = time.Now()
	if err == nil {
		w.next++
	}
	return n, before, after, err
}

// Run commits one row every `every` and logs each to the file at logPath
// (appended, synced after every line) until the time end, or for ever
// when end is zero.
func (w *Writer) Run(logPath string, every time.Duration, end time.Time) error {
	log, err := os.OpenFile(logPath, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	defer log.Close()
	next := time.Now()
	for end.IsZero() || time.Now().Before(end) {
		next = next.Add(every)
		time.Sleep(time.Until(next))
		n, before, after, err := w.Commit()
		if err != nil {
			return err
		}
		if _, err := fmt.Fprintf(log, "%d %d %d\n", n, before.UnixNano(), after.UnixNano()); err != nil {
			return err
		}
		if err := log.Sync(); err != nil {
			return err
		}
	}
	return nil
}

// ReadLog reads a writer's log; a torn last line (the writer was killed
// while writing it) is skipped.
func ReadLog(path string) ([]Entry, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []Entry
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) != 3 {
			continue
		}
		n, err1 := strconv.Atoi(fs[0])
		b, err2 := strconv.ParseInt(fs[1], 10, 64)
		a, err3 := strconv.ParseInt(fs[2], 10, 64)
		if err1 != nil || err2 != nil || err3 != nil {
			continue
		}
		out = append(out, Entry{n, time.Unix(0, b), time.Unix(0, a)})
	}
	return out, sc.Err()
}

// Rows is the set of rows of table in the database file at path, opened
// read only.
func Rows(path, table string) (map[int]bool, error) {
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		return nil, err
	}
	defer db.Close()
	rs, err := db.Query("SELECT n FROM " + table)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	out := map[int]bool{}
	for rs.Next() {
		var n int
		if err := rs.Scan(&n); err != nil {
			return nil, err
		}
		out[n] = true
	}
	return out, rs.Err()
}
