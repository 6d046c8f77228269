package restore

import (
	"context"
	"database/sql"
	"fmt"
	"github.com/atocore/atocore-backup/internal/sqlitedb"
	"sync"
	"time"
)

// MarkerWriter writes the drill's marker into the live state and finds it
// again. The embedding server provides one that goes through its own write
// path (the way a user's memory is written), so the drill proves that what
// the service writes after a snapshot is undone by restoring it; without
// one, the drill writes into a table of its own (DrillTable).
//
// The drill calls WriteMarker once, with the service stopped and the
// snapshot taken; CountMarker before the restore (it must find 1) and after
// (it must find 0); and RemoveMarker only when the restore did not happen,
// to leave the live state as it was before the drill.
type MarkerWriter interface {
	// WriteMarker durably writes a marker holding text into the live state.
	WriteMarker(ctx context.Context, text string) error
	// CountMarker returns how many markers holding text the live state holds.
	CountMarker(ctx context.Context, text string) (int, error)
	// RemoveMarker removes the marker holding text and whatever WriteMarker
	// created for it. A marker that is not there is no error.
	RemoveMarker(ctx context.Context, text string) error
}

// DrillTable is the table the built-in MarkerWriter creates in the live
// database for the drill's marker, so that the drill never assumes the
// columns of the service's tables. The drill's snapshot predates it, so the
// restore removes it along with the marker.
const DrillTable = "atocore_backup_drill"

// tableMarker is the built-in MarkerWriter: one row in DrillTable.
type tableMarker struct {
	dbPath string
	mu     sync.Mutex
	// created is set when WriteMarker created DrillTable (it was not left
	// there by an earlier drill): RemoveMarker then drops it.
	created bool
}

var _ MarkerWriter = (*tableMarker)(nil)

func (m *tableMarker) open() (*sql.DB, error) {
	db, err := sqlitedb.OpenLive(m.dbPath)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", m.dbPath, err)
	}
	db.SetMaxOpenConns(1)
	return db, nil
}

// WriteMarker creates DrillTable if it is not there and inserts the marker,
// in one transaction.
func (m *tableMarker) WriteMarker(ctx context.Context, text string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	db, err := m.open()
	if err != nil {
		return err
	}
	defer db.Close()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("write the drill marker into %s: %w", m.dbPath, err)
	}
	defer tx.Rollback()
	exists, err := tableExists(ctx, tx, DrillTable)
	if err != nil {
		return fmt.Errorf("write the drill marker into %s: %w", m.dbPath, err)
	}
	if !exists {
		if _, err := tx.ExecContext(ctx, `CREATE TABLE `+DrillTable+` (marker TEXT PRIMARY KEY, written_at TEXT NOT NULL)`); err != nil {
			return fmt.Errorf("create table %s in %s: %w", DrillTable, m.dbPath, err)
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO `+DrillTable+` (marker, written_at) VALUES (?, ?)`,
		text, time.Now().UTC().Format(time.RFC3339)); err != nil {
		return fmt.Errorf("write the drill marker into %s: %w", m.dbPath, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("write the drill marker into %s: %w", m.dbPath, err)
	}
	m.created = m.created || !exists
	return db.Close()
}

// CountMarker counts the marker's rows; no DrillTable is none.
func (m *tableMarker) CountMarker(ctx context.Context, text string) (int, error) {
	db, err := m.open()
	if err != nil {
		return 0, err
	}
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	exists, err := tableExists(ctx, conn, DrillTable)
	if err != nil || !exists {
		return 0, err
	}
	var n int
	err = conn.QueryRowContext(ctx, `SELECT count(*) FROM `+DrillTable+` WHERE marker = ?`, text).Scan(&n)
	return n, err
}

// RemoveMarker deletes the marker, and drops DrillTable when WriteMarker
// created it and nothing else is in it, in one transaction.
func (m *tableMarker) RemoveMarker(ctx context.Context, text string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	db, err := m.open()
	if err != nil {
		return err
	}
	defer db.Close()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("remove the drill marker from %s: %w", m.dbPath, err)
	}
	defer tx.Rollback()
	exists, err := tableExists(ctx, tx, DrillTable)
	if err != nil || !exists {
		return err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM `+DrillTable+` WHERE marker = ?`, text); err != nil {
		return fmt.Errorf("remove the drill marker from %s: %w", m.dbPath, err)
	}
	var left int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM `+DrillTable).Scan(&left); err != nil {
		return fmt.Errorf("remove the drill marker from %s: %w", m.dbPath, err)
	}
	if m.created && left == 0 {
		if _, err := tx.ExecContext(ctx, `DROP TABLE `+DrillTable); err != nil {
			return fmt.Errorf("drop table %s in %s: %w", DrillTable, m.dbPath, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("remove the drill marker from %s: %w", m.dbPath, err)
	}
	return db.Close()
}

type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func tableExists(ctx context.Context, q querier, name string) (bool, error) {
	var n int
	err := q.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?`, name).Scan(&n)
	return n > 0, err
}
