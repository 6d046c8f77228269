package sqlitedb_test

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/atocore/atocore-backup/internal/sample"
	"github.com/atocore/atocore-backup/internal/sqlitedb"
)

// pageSize is that of every database the sample writes (SQLite's default).
const pageSize = 4096

// corruption damages a copy of a database file in one way.
type corruption struct {
	name  string
	apply func(t *testing.T, path string)
}

// xorAt flips n bytes of path at off (the validation tests' corruption is
// xorAt(4096, 16): page 2's b-tree header).
func xorAt(off int64, n int) func(*testing.T, string) {
	return func(t *testing.T, path string) {
		t.Helper()
		f, err := os.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		buf := make([]byte, n)
		if _, err := f.ReadAt(buf, off); err != nil {
			t.Fatal(err)
		}
		for i := range buf {
			buf[i] ^= 0xA5
		}
		if _, err := f.WriteAt(buf, off); err != nil {
			t.Fatal(err)
		}
	}
}

// writeAt overwrites path at off with data.
func writeAt(off int64, data []byte) func(*testing.T, string) {
	return func(t *testing.T, path string) {
		t.Helper()
		f, err := os.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := f.WriteAt(data, off); err != nil {
			t.Fatal(err)
		}
	}
}

// copyPage writes page from over page to (both numbered from 1): a page
// referenced twice, or a b-tree page where another kind was.
func copyPage(from, to int64) func(*testing.T, string) {
	return func(t *testing.T, path string) {
		t.Helper()
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		writeAt((to-1)*pageSize, data[(from-1)*pageSize:from*pageSize])(t, path)
	}
}

// staleIndex changes rows of table while its index is hidden from the
// schema, then puts the index back: every page is sound, only the index
// no longer matches the rows. quick_check cannot see it; the per-table
// part of the split check must.
func staleIndex(table, index, update string) func(*testing.T, string) {
	return func(t *testing.T, path string) {
		t.Helper()
		db, err := sql.Open("sqlite", "file:"+path)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		db.SetMaxOpenConns(1)
		var ddl string
		var root int64
		if err := db.QueryRow("SELECT sql, rootpage FROM sqlite_schema WHERE name = ?", index).Scan(&ddl, &root); err != nil {
			t.Fatalf("index %s: %v", index, err)
		}
		for _, q := range []string{
			"PRAGMA writable_schema = ON",
			"DELETE FROM sqlite_schema WHERE name = '" + index + "'",
		} {
			if _, err := db.Exec(q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		db.Close()
		db, err = sql.Open("sqlite", "file:"+path)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		db.SetMaxOpenConns(1)
		for _, q := range []string{
			update,
			"PRAGMA writable_schema = ON",
			fmt.Sprintf("INSERT INTO sqlite_schema (type, name, tbl_name, rootpage, sql) VALUES ('index', '%s', '%s', %d, '%s')", index, table, root, ddl),
		} {
			if _, err := db.Exec(q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
	}
}

// corruptions is the catalogue run against a database of pages pages: the
// validation tests' own, header fields, and page damage of several kinds
// on n pages drawn with a fixed seed.
func corruptions(pages int64, n int, seed uint64) []corruption {
	rng := rand.New(rand.NewPCG(seed, 1))
	cs := []corruption{
		{"validation tests: 16 bytes of page 2's header", xorAt(4096, 16)},
		{"header: page count", writeAt(28, []byte{0, 0, 0, 3})},
		{"header: first freelist trunk", writeAt(32, []byte{0, 0, 0, 2})},
		{"header: freelist count", writeAt(36, []byte{0, 0, 0, 9})},
		{"header: schema format", writeAt(44, []byte{0, 0, 0, 9})},
	}
	for range n {
		p := 2 + rng.Int64N(pages-1)
		base := (p - 1) * pageSize
		switch k := rng.IntN(6); k {
		case 0:
			cs = append(cs, corruption{fmt.Sprintf("page %d: b-tree header", p), xorAt(base+1, 7)})
		case 1:
			cs = append(cs, corruption{fmt.Sprintf("page %d: cell pointers", p), xorAt(base+8+rng.Int64N(64), 2)})
		case 2:
			off := rng.Int64N(pageSize - 8)
			cs = append(cs, corruption{fmt.Sprintf("page %d: 4 bytes at %d", p, off), xorAt(base+off, 4)})
		case 3:
			cs = append(cs, corruption{fmt.Sprintf("page %d: zeroed", p), writeAt(base, make([]byte, pageSize))})
		case 4:
			q := 2 + rng.Int64N(pages-1)
			cs = append(cs, corruption{fmt.Sprintf("page %d copied over page %d", q, p), copyPage(q, p)})
		case 5:
			cs = append(cs, corruption{fmt.Sprintf("page %d: page type", p), writeAt(base, []byte{byte(rng.IntN(256))})})
		}
	}
	return cs
}

// The split check (quick_check beside integrity_check of each table, on
// two connections) gives the whole check's verdict on every corruption:
// the validation tests' own, header fields, page damage of six kinds on
// pages drawn at random, and an index that no longer matches its rows
// (which only the per-table part can see), on the main database and on
// chroma.sqlite3 (FTS5 included) of two shapes.
// ATOCORE_SPLITCHECK_N sets how many random page corruptions per file.
func TestSplitCheckFindsWhatTheWholeCheckFinds(t *testing.T) {
	n := 40
	if s := os.Getenv("ATOCORE_SPLITCHECK_N"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil {
			t.Fatalf("ATOCORE_SPLITCHECK_N=%q: %v", s, err)
		}
	}
	ctx := context.Background()
	for _, shape := range []sample.Shape{sample.ShapeRandom, sample.ShapeText} {
		root, err := sample.Generate(ctx, t.TempDir(), sample.Options{Seed: 3, Shape: shape})
		if err != nil {
			t.Fatal(err)
		}
		files := map[string]string{
			"atocore.db":     root.DBPath,
			"chroma.sqlite3": filepath.Join(root.ChromaPath, "chroma.sqlite3"),
		}
		for name, src := range files {
			clean, err := os.ReadFile(src)
			if err != nil {
				t.Fatal(err)
			}
			pages := int64(len(clean) / pageSize)
			cs := corruptions(pages, n, uint64(len(name)))
			if name == "atocore.db" {
				cs = append(cs, corruption{"stale index of memories", staleIndex("memories", "idx_memories_project",
					"UPDATE memories SET project = project || '-moved' WHERE rowid % 3 = 0")})
			} else {
				cs = append(cs, corruption{"stale index of embedding_metadata", staleIndexOf(t, src, "embedding_metadata")})
			}
			found := 0
			for i, c := range cs {
				path := filepath.Join(t.TempDir(), fmt.Sprintf("%d.db", i))
				if err := os.WriteFile(path, clean, 0o600); err != nil {
					t.Fatal(err)
				}
				c.apply(t, path)
				whole, err := sqlitedb.IntegrityCheck(ctx, path)
				if err != nil {
					t.Fatal(err)
				}
				split, err := sqlitedb.IntegrityCheckSplit(ctx, path, 2)
				if err != nil {
					t.Fatal(err)
				}
				if whole.OK != split.OK {
					t.Errorf("%s %s, %s: whole check ok=%v (%s), split check ok=%v (%s)",
						shape, name, c.name, whole.OK, whole.Detail, split.OK, split.Detail)
				}
				if !whole.OK {
					found++
				}
				if c.name[:5] == "stale" && whole.OK {
					t.Errorf("%s %s: the stale index was not found at all", shape, name)
				}
			}
			if found < len(cs)/3 {
				t.Errorf("%s %s: only %d of %d corruptions were found: the catalogue does not damage enough", shape, name, found, len(cs))
			}
			t.Logf("FIGURE split check %s %s: %d pages, %d corruptions, %d found by both checks, verdicts identical", shape, name, pages, len(cs), found)
		}
	}
}

// staleIndexOf makes a staleIndex corruption of the last-named ordinary index
// of table in the database at path.
func staleIndexOf(t *testing.T, path, table string) func(*testing.T, string) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro&immutable=1")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var index, col string
	if err := db.QueryRow("SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL ORDER BY name DESC LIMIT 1", table).Scan(&index); err != nil {
		t.Fatalf("an index of %s: %v", table, err)
	}
	if err := db.QueryRow("SELECT name FROM pragma_index_info(?) ORDER BY seqno LIMIT 1", index).Scan(&col); err != nil {
		t.Fatalf("columns of %s: %v", index, err)
	}
	return staleIndex(table, index, fmt.Sprintf("UPDATE %s SET %s = %s || 'x'", table, col, col))
}

// On a sound database both checks pass; the split one also for a database
// whose table names need quoting.
func TestSplitCheckPassesSoundDatabases(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "odd.db")
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`CREATE TABLE "we""ird name" (id INTEGER PRIMARY KEY, v TEXT UNIQUE, n INT CHECK (n > 0))`,
		`CREATE INDEX "idx ""v""" ON "we""ird name"(n)`,
		`INSERT INTO "we""ird name"(v, n) VALUES ('a', 1), ('b', 2)`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	db.Close()
	res, err := sqlitedb.IntegrityCheckSplit(ctx, path, 2)
	if err != nil || !res.OK {
		t.Fatalf("split check of a sound database: %+v, %v", res, err)
	}
}
