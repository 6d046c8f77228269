package sqlitedb

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"sync"

	"github.com/atocore/atocore-backup/internal/durable"
)

// IntegrityCheckSplit is IntegrityCheck spread over workers read-only
// connections, for a file that another core is free to help with. SQLite
// runs one integrity_check on one core; it can be cut along what it
// checks:
//
//   - PRAGMA quick_check covers the whole file: every b-tree's structure,
//     pages referenced twice (across b-trees too), the freelist, pages
//     never used, NOT NULL columns, and every virtual table's own check
//     (FTS5's inverted index against its content, the longest part for
//     Chroma's chroma.sqlite3);
//   - what it leaves out — each index's entries against its table's rows,
//     UNIQUE and CHECK constraints — is per table: PRAGMA
//     integrity_check(TABLE) checks exactly that for one table (and its
//     b-trees again), so one job per ordinary table covers the rest.
//
// The file passes when every part does. TestSplitCheckFindsWhatTheWholeCheckFinds
// corrupts databases byte by byte and page by page and shows both verdicts
// agree. A schema that cannot be read is checked whole.
func IntegrityCheckSplit(ctx context.Context, path string, workers int) (Integrity, error) {
	if _, err := durable.StatRegular(path); err != nil {
		return Integrity{Detail: oneLine(err.Error())}, nil
	}
	db, err := openReadOnly(path)
	if err != nil {
		return Integrity{Detail: err.Error()}, nil
	}
	defer db.Close()
	if bad, ok, err := checkPages(ctx, db); err != nil || !ok {
		return bad, err
	}
	tables, err := ordinaryTables(ctx, db)
	if err != nil || workers < 2 {
		return integrity(ctx, db) // the whole check reports what is wrong
	}
	checks := append([]string{fmt.Sprintf("PRAGMA quick_check(%d)", maxIntegrityErrors)}, tables...)
	for i, t := range tables {
		checks[i+1] = "PRAGMA integrity_check(" + quoteIdent(t) + ")"
	}
	return runChecks(ctx, path, db, checks, workers)
}

// ordinaryTables lists the tables whose rows, indexes and constraints
// integrity_check(TABLE) checks: every table but virtual ones (their
// check runs in quick_check) and sqlite_schema (checked by quick_check).
func ordinaryTables(ctx context.Context, db *sql.DB) ([]string, error) {
	rows, err := db.QueryContext(ctx, "SELECT name FROM sqlite_schema WHERE type = 'table' AND sql NOT LIKE 'CREATE VIRTUAL TABLE%' ORDER BY rootpage")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		names = append(names, n)
	}
	return names, rows.Err()
}

// quoteIdent quotes a table name for SQL: a name may hold any character.
func quoteIdent(name string) string {
	return `"` + strings.ReplaceAll(name, `"`, `""`) + `"`
}

// runChecks runs each statement of checks (an integrity_check of some
// kind) on one of workers connections to path, the first on db, and
// gathers their verdicts: OK when every one said "ok".
func runChecks(ctx context.Context, path string, db *sql.DB, checks []string, workers int) (Integrity, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	next := make(chan string)
	var (
		mu       sync.Mutex
		details  []string
		firstErr error
		wg       sync.WaitGroup
	)
	for w := range min(workers, len(checks)) {
		conn := db
		if w > 0 {
			c, err := openReadOnly(path)
			if err != nil {
				return Integrity{Detail: err.Error()}, nil
			}
			defer c.Close()
			conn = c
		}
		wg.Go(func() {
			for q := range next {
				res, err := integrityQuery(ctx, conn, q)
				mu.Lock()
				switch {
				case err != nil && firstErr == nil:
					firstErr = err
					cancel()
				case err == nil && !res.OK:
					details = append(details, res.Detail)
				}
				mu.Unlock()
			}
		})
	}
	for _, q := range checks {
		if ctx.Err() != nil {
			break
		}
		next <- q
	}
	close(next)
	wg.Wait()
	if firstErr != nil {
		return Integrity{}, firstErr
	}
	if len(details) > 0 {
		return Integrity{Detail: oneLine(strings.Join(details, "; "))}, nil
	}
	return Integrity{OK: true}, nil
}
