package main

import (
	"bufio"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	_ "modernc.org/sqlite"
)

// The writer is a process of its own: this program (or its test binary)
// run again with writerEnv set, so that the replicator under test, the
// writer and the bench are three processes as in production.
//
//	ledger DB LOG EVERY MAX  commit one numbered row every EVERY, and after
//	                         each commit append "n before after" (Unix ns
//	                         around COMMIT) to LOG, synced: the log is the
//	                         truth of what was committed when. Runs until
//	                         killed, or MAX at the latest.
//	flat DB - 0 DUR          commit rows back to back, no sleep and no log,
//	                         for DUR, then print "count elapsed_ns p50_ns
//	                         p99_ns max_ns" (commit latencies) and exit.
const writerEnv = "ATOCORE_BENCH_REPLICATE_WRITER"

// ledgerTable is the table both writers insert into.
const ledgerTable = "bench_ledger"

// payloadBytes is the size of each row's blob: about one AtoCore memory.
const payloadBytes = 400

// openWriterDB opens db the way the writers do: WAL mode, the SQLite
// defaults otherwise (synchronous FULL, wal_autocheckpoint 1000).
func openWriterDB(path string) (*sql.DB, error) {
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(wal)")
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	if _, err := db.Exec("CREATE TABLE IF NOT EXISTS " + ledgerTable + " (n INTEGER PRIMARY KEY, payload BLOB)"); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// writerMain is the writer process; it never returns.
func writerMain() {
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "bench writer:", err)
		os.Exit(1)
	}
	args := strings.Fields(os.Getenv(writerEnv))
	if len(args) != 5 {
		fmt.Fprintln(os.Stderr, "bench writer: want MODE DB LOG EVERY DURATION")
		os.Exit(2)
	}
	mode, dbPath, logPath := args[0], args[1], args[2]
	every, err := time.ParseDuration(args[3])
	if err != nil {
		fail(err)
	}
	limit, err := time.ParseDuration(args[4])
	if err != nil {
		fail(err)
	}
	db, err := openWriterDB(dbPath)
	if err != nil {
		fail(err)
	}
	var last int
	if err := db.QueryRow("SELECT coalesce(max(n), 0) FROM " + ledgerTable).Scan(&last); err != nil {
		fail(err)
	}
	payload := make([]byte, payloadBytes)
	for i := range payload {
		payload[i] = byte(i * 7)
	}
	commit := func(n int) (time.Time, time.Time, error) {
		payload[n%len(payload)]++
		tx, err := db.Begin()
		if err != nil {
			return time.Time{}, time.Time{}, err
		}
		if _, err := tx.Exec("INSERT INTO "+ledgerTable+" (n, payload) VALUES (?, ?)", n, payload); err != nil {
			tx.Rollback()
			return time.Time{}, time.Time{}, err
		}
		before := time.Now()
		err = tx.Commit()
		return before, time.Now(), err
	}

	switch mode {
	case "ledger":
		log, err := os.OpenFile(logPath, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
		if err != nil {
			fail(err)
		}
		end := time.Now().Add(limit)
		next := time.Now()
		for n := last + 1; time.Now().Before(end); n++ {
			next = next.Add(every)
			time.Sleep(time.Until(next))
			before, after, err := commit(n)
			if err != nil {
				fail(err)
			}
			fmt.Fprintf(log, "%d %d %d\n", n, before.UnixNano(), after.UnixNano())
			if err := log.Sync(); err != nil {
				fail(err)
			}
		}
		os.Exit(0)
	case "flat":
		lat := make([]time.Duration, 0, 1<<16)
		start := time.Now()
		end := start.Add(limit)
		n := last + 1
		for ; time.Now().Before(end); n++ {
			t0 := time.Now()
			if _, _, err := commit(n); err != nil {
				fail(err)
			}
			lat = append(lat, time.Since(t0))
		}
		elapsed := time.Since(start)
		slices.Sort(lat)
		fmt.Printf("%d %d %d %d %d\n", len(lat), elapsed.Nanoseconds(),
			quantile(lat, 0.50).Nanoseconds(), quantile(lat, 0.99).Nanoseconds(), quantile(lat, 1).Nanoseconds())
		if err := db.Close(); err != nil {
			fail(err)
		}
		os.Exit(0)
	}
	fmt.Fprintf(os.Stderr, "bench writer: unknown mode %q\n", mode)
	os.Exit(2)
}

// writerCmd is the command of a writer process.
func writerCmd(self, mode, db, log string, every, limit time.Duration) *exec.Cmd {
	cmd := exec.Command(self, "-test.run=^$") // the flag is for a test binary; main ignores it
	cmd.Env = append(os.Environ(), writerEnv+"="+strings.Join([]string{mode, db, log, every.String(), limit.String()}, " "))
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return cmd
}

type ledgerEntry struct {
	n             int
	before, after time.Time
}

// readLedger reads a ledger writer's log; a torn last line (the writer was
// killed while writing it) is skipped.
func readLedger(path string) ([]ledgerEntry, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []ledgerEntry
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
		out = append(out, ledgerEntry{n, time.Unix(0, b), time.Unix(0, a)})
	}
	return out, sc.Err()
}

// ledgerRows is the set of ledger rows of a database file (opened read
// only; a database without the table has none).
func ledgerRows(path string) (map[int]bool, error) {
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		return nil, err
	}
	defer db.Close()
	rs, err := db.Query("SELECT n FROM " + ledgerTable)
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
