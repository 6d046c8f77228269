package sample

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"math/rand/v2"
)

// changeBatch is the number of rows ChangeRows updates per transaction, short
// enough that a concurrent backup or server is never blocked for long.
const changeBatch = 2000

// ChangeRows rewrites the content and embedding of about frac (0..1) of the
// source_chunks rows in the live database at dbPath, as a re-ingestion would,
// and returns the number of rows changed. The rows are drawn from seed; at
// least one row changes when frac > 0.
func ChangeRows(ctx context.Context, dbPath string, frac float64, seed int64) (int, error) {
	db, err := openLive(ctx, dbPath, true)
	if err != nil {
		return 0, fmt.Errorf("sample: change rows: %w", err)
	}
	defer db.Close()
	rowids, err := chunkRowids(ctx, db)
	if err != nil {
		return 0, fmt.Errorf("sample: change rows of %s: %w", dbPath, err)
	}
	frac = min(max(frac, 0), 1)
	if frac == 0 || len(rowids) == 0 {
		return 0, nil
	}
	n := max(int(math.Round(frac*float64(len(rowids)))), 1)
	r := rand.New(rand.NewPCG(uint64(seed), changeStream+1))
	// Partial Fisher-Yates: the first n entries become a uniform sample.
	for i := range n {
		j := i + r.IntN(len(rowids)-i)
		rowids[i], rowids[j] = rowids[j], rowids[i]
	}
	changed := 0
	for start := 0; start < n; start += changeBatch {
		batch := rowids[start:min(start+changeBatch, n)]
		if err := updateChunks(ctx, db, r, batch); err != nil {
			return changed, fmt.Errorf("sample: change rows of %s: %w", dbPath, withCause(ctx, err))
		}
		changed += len(batch)
	}
	if err := db.Close(); err != nil {
		return changed, fmt.Errorf("sample: change rows: close %s: %w", dbPath, err)
	}
	return changed, nil
}

func chunkRowids(ctx context.Context, db *sql.DB) ([]int64, error) {
	rows, err := db.QueryContext(ctx, "SELECT rowid FROM source_chunks ORDER BY rowid")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

func updateChunks(ctx context.Context, db *sql.DB, r *rand.Rand, rowids []int64) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	st, err := tx.PrepareContext(ctx,
		"UPDATE source_chunks SET content = ?, char_count = ?, embedding = ? WHERE rowid = ?")
	if err != nil {
		return err
	}
	defer st.Close()
	var text []byte
	for _, id := range rowids {
		text = appendText(text[:0], r, 200+r.IntN(800))
		emb := appendEmbedding(make([]byte, 0, 4*embeddingDim), r)
		if _, err := st.ExecContext(ctx, string(text), len(text), emb, id); err != nil {
			return err
		}
	}
	return tx.Commit()
}
