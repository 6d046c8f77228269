package sample

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"time"
)

// Memory is a memory to add to a live database with InsertMemory, as a client
// would through AtoCore's POST /memory.
type Memory struct {
	// Type is the memory_type: identity, preference, project, episodic,
	// knowledge or adaptation; "" means episodic.
	Type string
	// Content is the memory text, for example a drill marker.
	Content string
	// Project is the project id; "" stores NULL (a global memory).
	Project string
	// Confidence is between 0 and 1; 0 means 1.0.
	Confidence float64
}

// InsertMemory adds m to the AtoCore database at dbPath, which must exist and
// may be in use by other connections (it waits up to five seconds for the
// write lock). It returns the new memory's id: a random UUID, or with
// integer keys (ShapeText) the next integer, in decimal.
func InsertMemory(ctx context.Context, dbPath string, m Memory) (id string, err error) {
	if m.Type == "" {
		m.Type = "episodic"
	}
	if m.Confidence == 0 {
		m.Confidence = 1
	}
	var project any
	if m.Project != "" {
		project = m.Project
	}
	db, err := openLive(ctx, dbPath, true)
	if err != nil {
		return "", fmt.Errorf("sample: insert memory: %w", err)
	}
	defer db.Close()
	// ShapeText's memories have integer keys: SQLite picks the next one.
	var key any
	intKeys, err := integerKeys(ctx, db, "memories")
	if err != nil {
		return "", fmt.Errorf("sample: insert memory into %s: %w", dbPath, err)
	}
	if !intKeys {
		id = randomUUID()
		key = id
	}
	now := time.Now().UTC().Format(timeLayout)
	res, err := db.ExecContext(ctx, `INSERT INTO memories
		(id, memory_type, content, project, confidence, status, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, 'active', ?, ?)`,
		key, m.Type, m.Content, project, m.Confidence, now, now)
	if err != nil {
		return "", fmt.Errorf("sample: insert memory into %s: %w", dbPath, err)
	}
	if intKeys {
		n, err := res.LastInsertId()
		if err != nil {
			return "", fmt.Errorf("sample: insert memory into %s: %w", dbPath, err)
		}
		id = strconv.FormatInt(n, 10)
	}
	if err := db.Close(); err != nil {
		return "", fmt.Errorf("sample: insert memory: close %s: %w", dbPath, err)
	}
	return id, nil
}

// integerKeys reports whether table's id column is an INTEGER PRIMARY
// KEY (ShapeText) rather than a TEXT UUID.
func integerKeys(ctx context.Context, db *sql.DB, table string) (bool, error) {
	var typ string
	err := db.QueryRowContext(ctx, "SELECT upper(type) FROM pragma_table_info(?) WHERE name = 'id' AND pk = 1", table).Scan(&typ)
	if err != nil {
		return false, fmt.Errorf("read the key of %s: %w", table, err)
	}
	return typ == "INTEGER", nil
}

// CountMemories counts the memories of project in the database at dbPath,
// whatever their status; project "" counts all memories.
func CountMemories(ctx context.Context, dbPath, project string) (int, error) {
	db, err := openLive(ctx, dbPath, false)
	if err != nil {
		return 0, fmt.Errorf("sample: count memories: %w", err)
	}
	defer db.Close()
	var n int
	if project == "" {
		err = db.QueryRowContext(ctx, "SELECT count(*) FROM memories").Scan(&n)
	} else {
		err = db.QueryRowContext(ctx, "SELECT count(*) FROM memories WHERE project = ?", project).Scan(&n)
	}
	if err != nil {
		return 0, fmt.Errorf("sample: count memories in %s: %w", dbPath, err)
	}
	return n, nil
}

// ReadCounts returns the row counts of the AtoCore tables in the database at
// dbPath, read in one transaction.
func ReadCounts(ctx context.Context, dbPath string) (Counts, error) {
	var c Counts
	db, err := openLive(ctx, dbPath, false)
	if err != nil {
		return c, fmt.Errorf("sample: read counts: %w", err)
	}
	defer db.Close()
	err = readTx(ctx, db, func(tx *sql.Tx) error {
		return tx.QueryRowContext(ctx, `SELECT
			(SELECT count(*) FROM projects),
			(SELECT count(*) FROM memories),
			(SELECT count(*) FROM source_documents),
			(SELECT count(*) FROM source_chunks)`).Scan(&c.Projects, &c.Memories, &c.Documents, &c.Chunks)
	})
	if err != nil {
		return c, fmt.Errorf("sample: read counts of %s: %w", dbPath, err)
	}
	return c, nil
}

// readTx runs f in a read transaction, so that it sees one snapshot of a
// database that others may be writing.
func readTx(ctx context.Context, db *sql.DB, f func(*sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := f(tx); err != nil {
		return err
	}
	return tx.Commit()
}
