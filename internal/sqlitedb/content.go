package sqlitedb

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
)

func readContent(ctx context.Context, db *sql.DB) (Content, error) {
	names, err := tableNames(ctx, db)
	if err != nil {
		return Content{}, err
	}
	h := sha256.New()
	c := Content{Rows: map[string]int64{}}
	for _, name := range names {
		n, err := hashTable(ctx, db, name, h)
		if err != nil {
			return Content{}, fmt.Errorf("read table %s: %w", name, err)
		}
		c.Rows[name] = n
	}
	c.Digest = hex.EncodeToString(h.Sum(nil))
	return c, nil
}

func tableNames(ctx context.Context, db *sql.DB) ([]string, error) {
	rows, err := db.QueryContext(ctx, `SELECT name FROM sqlite_schema
		WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND sql NOT LIKE 'CREATE VIRTUAL%' ORDER BY name`)
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

func hashTable(ctx context.Context, db *sql.DB, name string, h interface{ Write([]byte) (int, error) }) (int64, error) {
	q := fmt.Sprintf(`SELECT * FROM "%s"`, name)
	rows, err := db.QueryContext(ctx, q+" ORDER BY rowid")
	if err != nil {
		// WITHOUT ROWID tables: order by the whole row.
		rows, err = db.QueryContext(ctx, q+" ORDER BY 1")
		if err != nil {
			return 0, err
		}
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return 0, err
	}
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	fmt.Fprintf(h, "table %q %d\n", name, len(cols))
	var n int64
	var num [8]byte
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return 0, err
		}
		for _, v := range vals {
			switch x := v.(type) {
			case nil:
				h.Write([]byte{0})
			case int64:
				binary.LittleEndian.PutUint64(num[:], uint64(x))
				h.Write([]byte{1})
				h.Write(num[:])
			case float64:
				binary.LittleEndian.PutUint64(num[:], math.Float64bits(x))
				h.Write([]byte{2})
				h.Write(num[:])
			case string:
				binary.LittleEndian.PutUint64(num[:], uint64(len(x)))
				h.Write([]byte{3})
				h.Write(num[:])
				h.Write([]byte(x))
			case []byte:
				binary.LittleEndian.PutUint64(num[:], uint64(len(x)))
				h.Write([]byte{4})
				h.Write(num[:])
				h.Write(x)
			default:
				fmt.Fprintf(h, "%T:%v", x, x)
			}
		}
		n++
	}
	return n, rows.Err()
}
