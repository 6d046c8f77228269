package sample

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash"
	"math"
)

// fingerprintTables lists the tables and columns Fingerprint covers, in
// order. Naming the columns keeps the fingerprint independent of column
// order and of columns a newer AtoCore might add.
var fingerprintTables = []struct{ name, columns string }{
	{"projects", "id, name, description, created_at"},
	{"memories", "id, memory_type, content, project, confidence, status, created_at, updated_at"},
	{"source_documents", "id, file_path, file_hash, title, project, ingested_at, updated_at"},
	{"source_chunks", "id, document_id, chunk_index, content, heading_path, char_count, embedding"},
}

// Fingerprint returns a SHA-256 (hex) over every row of the four AtoCore
// tables, ordered by id and read in one transaction. Two databases with equal
// fingerprints hold the same logical content, whatever their page layout,
// journal mode or WAL state; it is how tests check that a restore brought
// back exactly what was backed up.
func Fingerprint(ctx context.Context, dbPath string) (string, error) {
	db, err := openLive(ctx, dbPath, false)
	if err != nil {
		return "", fmt.Errorf("sample: fingerprint: %w", err)
	}
	defer db.Close()
	h := sha256.New()
	err = readTx(ctx, db, func(tx *sql.Tx) error {
		for _, t := range fingerprintTables {
			if err := hashTable(ctx, tx, h, t.name, t.columns); err != nil {
				return fmt.Errorf("table %s: %w", t.name, err)
			}
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("sample: fingerprint %s: %w", dbPath, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// hashTable feeds the table's rows to h. Every value is written as a type tag
// and, for variable-length values, a length, so that no two different row
// sequences produce the same byte stream.
func hashTable(ctx context.Context, tx *sql.Tx, h hash.Hash, table, columns string) error {
	rows, err := tx.QueryContext(ctx, "SELECT "+columns+" FROM "+table+" ORDER BY id")
	if err != nil {
		return err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return err
	}
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	buf := make([]byte, 0, 4096)
	buf = append(buf, 'T')
	buf = binary.AppendUvarint(buf, uint64(len(table)))
	buf = append(buf, table...)
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return err
		}
		buf = append(buf, 'R')
		for _, v := range vals {
			buf = appendValue(buf, v)
		}
		h.Write(buf)
		buf = buf[:0]
	}
	h.Write(buf)
	return rows.Err()
}

func appendValue(b []byte, v any) []byte {
	switch v := v.(type) {
	case nil:
		return append(b, 'n')
	case int64:
		return binary.AppendVarint(append(b, 'i'), v)
	case float64:
		return binary.LittleEndian.AppendUint64(append(b, 'f'), math.Float64bits(v))
	case string:
		b = binary.AppendUvarint(append(b, 's'), uint64(len(v)))
		return append(b, v...)
	case []byte:
		b = binary.AppendUvarint(append(b, 'b'), uint64(len(v)))
		return append(b, v...)
	case bool:
		if v {
			return binary.AppendVarint(append(b, 'i'), 1)
		}
		return binary.AppendVarint(append(b, 'i'), 0)
	default:
		s := fmt.Sprint(v)
		b = binary.AppendUvarint(append(b, '?'), uint64(len(s)))
		return append(b, s...)
	}
}
