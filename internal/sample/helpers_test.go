package sample

import (
	"context"
	"database/sql"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// generate makes a root in a fresh temporary directory or fails the test.
func generate(t *testing.T, opts Options) *Root {
	t.Helper()
	root, err := Generate(context.Background(), filepath.Join(t.TempDir(), "root"), opts)
	if err != nil {
		t.Fatalf("Generate(%+v): %v", opts, err)
	}
	return root
}

// openRO opens a SQLite file read-only for inspection.
func openRO(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", dsn(path, "mode=ro"))
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	return db
}

// queryString runs a one-value query.
func queryString(t *testing.T, db *sql.DB, q string, args ...any) string {
	t.Helper()
	var s string
	if err := db.QueryRow(q, args...).Scan(&s); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return s
}

func queryInt(t *testing.T, db *sql.DB, q string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := db.QueryRow(q, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

// sqlite3CLI runs the sqlite3 command-line shell on path, skipping the test
// when it is not installed.
func sqlite3CLI(t *testing.T, path, q string) string {
	t.Helper()
	bin, err := exec.LookPath("sqlite3")
	if err != nil {
		t.Skip("sqlite3 CLI not installed")
	}
	out, err := exec.Command(bin, path, q).CombinedOutput()
	if err != nil {
		t.Fatalf("sqlite3 %s %q: %v\n%s", path, q, err, out)
	}
	return strings.TrimSpace(string(out))
}

// dirBytes sums the sizes of the regular files under dir.
func dirBytes(t *testing.T, dir string) int64 {
	t.Helper()
	var total int64
	err := filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			total += fi.Size()
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return total
}

// segmentDirs lists the vector segment directories of a Chroma directory.
func segmentDirs(t *testing.T, chromaPath string) []string {
	t.Helper()
	entries, err := os.ReadDir(chromaPath)
	if err != nil {
		t.Fatal(err)
	}
	var dirs []string
	for _, e := range entries {
		if e.IsDir() {
			dirs = append(dirs, filepath.Join(chromaPath, e.Name()))
		}
	}
	return dirs
}
