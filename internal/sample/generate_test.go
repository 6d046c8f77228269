package sample

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestGenerateZeroOptions(t *testing.T) {
	t.Parallel()
	root := generate(t, Options{})
	for _, p := range []string{root.DBPath, root.RegistryPath, filepath.Join(root.ChromaPath, chromaDBFile)} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() == 0 {
			t.Errorf("%s is empty", p)
		}
		if m := fi.Mode().Perm(); m != 0o600 {
			t.Errorf("%s has mode %v, want 0600", p, m)
		}
	}
	for _, d := range []string{filepath.Dir(root.DBPath), filepath.Dir(root.RegistryPath), root.ChromaPath} {
		if fi, err := os.Stat(d); err != nil || fi.Mode().Perm() != 0o700 {
			t.Errorf("directory %s: %v %v, want mode 0700", d, fi.Mode(), err)
		}
	}
	if _, err := os.Stat(root.BackupDir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("BackupDir %s should not exist: %v", root.BackupDir, err)
	}
	if got := len(segmentDirs(t, root.ChromaPath)); got != DefaultSegments {
		t.Errorf("%d segment directories, want %d", got, DefaultSegments)
	}
	c := root.Counts
	if c.Projects == 0 || c.Memories == 0 || c.Documents == 0 || c.Chunks < c.Documents {
		t.Errorf("implausible counts %+v", c)
	}
	got, err := ReadCounts(context.Background(), root.DBPath)
	if err != nil {
		t.Fatal(err)
	}
	if got != c {
		t.Errorf("ReadCounts = %+v, Generate reported %+v", got, c)
	}
	if got := dirBytes(t, root.ChromaPath); got < DefaultChromaBytes*9/10 || got > DefaultChromaBytes*11/10 {
		t.Errorf("chroma directory is %d bytes, want about %d", got, DefaultChromaBytes)
	}
}

func TestDatabaseIsWALAndIntact(t *testing.T) {
	t.Parallel()
	root := generate(t, Options{})
	hdr := make([]byte, 100)
	f, err := os.Open(root.DBPath)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.ReadAt(hdr, 0); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if !bytes.HasPrefix(hdr, []byte("SQLite format 3\x00")) || hdr[18] != 2 || hdr[19] != 2 {
		t.Errorf("header bytes 18,19 = %d,%d, want 2,2 (WAL)", hdr[18], hdr[19])
	}
	db := openRO(t, root.DBPath)
	if got := queryString(t, db, "PRAGMA journal_mode"); got != "wal" {
		t.Errorf("journal_mode = %q, want wal", got)
	}
	if got := queryString(t, db, "PRAGMA integrity_check"); got != "ok" {
		t.Errorf("integrity_check = %q", got)
	}
	if n := queryInt(t, db, "SELECT count(*) FROM source_chunks WHERE length(embedding) != 1536"); n != 0 {
		t.Errorf("%d chunks without a 1536-byte embedding", n)
	}
	if n := queryInt(t, db, "SELECT count(*) FROM source_chunks c LEFT JOIN source_documents d ON d.id = c.document_id WHERE d.id IS NULL"); n != 0 {
		t.Errorf("%d orphan chunks", n)
	}
	if n := queryInt(t, db, "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name IN ('idx_memories_project', 'idx_source_chunks_document')"); n != 2 {
		t.Errorf("%d of the 2 secondary indexes exist", n)
	}
}

func TestDatabaseIntegritySQLiteCLI(t *testing.T) {
	t.Parallel()
	root := generate(t, Options{})
	if got := sqlite3CLI(t, root.DBPath, "PRAGMA integrity_check; PRAGMA journal_mode;"); got != "ok\nwal" {
		t.Errorf("sqlite3 on atocore.db: %q", got)
	}
	chroma := filepath.Join(root.ChromaPath, chromaDBFile)
	if got := sqlite3CLI(t, chroma, "PRAGMA integrity_check; PRAGMA journal_mode;"); got != "ok\ndelete" {
		t.Errorf("sqlite3 on chroma.sqlite3: %q", got)
	}
}

func TestRegistryMatchesProjects(t *testing.T) {
	t.Parallel()
	root := generate(t, Options{})
	b, err := os.ReadFile(root.RegistryPath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(b, []byte("{\n  \"version\": 1,")) {
		t.Errorf("registry is not pretty-printed: %.40q", b)
	}
	var reg registryFile
	if err := json.Unmarshal(b, &reg); err != nil {
		t.Fatal(err)
	}
	db := openRO(t, root.DBPath)
	if n := queryInt(t, db, "SELECT count(*) FROM projects"); int(n) != len(reg.Projects) {
		t.Fatalf("registry has %d projects, table %d", len(reg.Projects), n)
	}
	for _, p := range reg.Projects {
		if got := queryString(t, db, "SELECT name FROM projects WHERE id = ?", p.ID); got != p.Name {
			t.Errorf("project %s: table name %q, registry %q", p.ID, got, p.Name)
		}
		if len(p.Aliases) == 0 || len(p.SourceRoots) == 0 {
			t.Errorf("project %s has no aliases or source roots", p.ID)
		}
	}
}

func TestDBBytes(t *testing.T) {
	t.Parallel()
	const want = 32 << 20
	root := generate(t, Options{DBBytes: want, ChromaBytes: -1})
	fi, err := os.Stat(root.DBPath)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Size(); got < want*9/10 || got > want*11/10 {
		t.Errorf("atocore.db is %d bytes, want %d ±10%%", got, want)
	}
}

func TestNoChroma(t *testing.T) {
	t.Parallel()
	root := generate(t, Options{ChromaBytes: -1})
	if _, err := os.Stat(root.ChromaPath); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("%s exists with ChromaBytes < 0: %v", root.ChromaPath, err)
	}
}

func TestGenerateRefusesExistingRoot(t *testing.T) {
	t.Parallel()
	root := generate(t, Options{ChromaBytes: -1})
	before, err := Fingerprint(context.Background(), root.DBPath)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Generate(context.Background(), root.Dir, Options{ChromaBytes: -1})
	if !errors.Is(err, ErrExists) {
		t.Fatalf("second Generate: %v, want ErrExists", err)
	}
	if !bytes.Contains([]byte(err.Error()), []byte(root.DBPath)) {
		t.Errorf("error %q does not name %s", err, root.DBPath)
	}
	after, err := Fingerprint(context.Background(), root.DBPath)
	if err != nil || after != before {
		t.Errorf("existing database changed: %v", err)
	}
	if _, err := os.Stat(root.RegistryPath); err != nil {
		t.Errorf("existing registry: %v", err)
	}
}

func TestGenerateCancelledLeavesNothing(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Generate(ctx, filepath.Join(dir, "root"), Options{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Generate with cancelled context: %v", err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 0 {
		t.Errorf("cancelled Generate left %v", entries)
	}
}

func TestDeterministic(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	opts := Options{Seed: 42, Segments: 3}
	a, b := generate(t, opts), generate(t, opts)
	fa, err := Fingerprint(ctx, a.DBPath)
	if err != nil {
		t.Fatal(err)
	}
	fb, err := Fingerprint(ctx, b.DBPath)
	if err != nil {
		t.Fatal(err)
	}
	if fa != fb {
		t.Errorf("same seed, different fingerprints %s %s", fa, fb)
	}
	if a.Counts != b.Counts {
		t.Errorf("same seed, different counts %+v %+v", a.Counts, b.Counts)
	}
	ra, _ := os.ReadFile(a.RegistryPath)
	rb, _ := os.ReadFile(b.RegistryPath)
	if !bytes.Equal(ra, rb) {
		t.Error("same seed, different registries")
	}
	err = filepath.WalkDir(a.ChromaPath, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(a.ChromaPath, p)
		x, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		y, err := os.ReadFile(filepath.Join(b.ChromaPath, rel))
		if err != nil {
			return err
		}
		if !bytes.Equal(x, y) {
			t.Errorf("same seed, %s differs", rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	c := generate(t, Options{Seed: 43, Segments: 3})
	fc, err := Fingerprint(ctx, c.DBPath)
	if err != nil {
		t.Fatal(err)
	}
	if fc == fa {
		t.Error("different seeds, same fingerprint")
	}
	if filepath.Base(segmentDirs(t, c.ChromaPath)[0]) == filepath.Base(segmentDirs(t, a.ChromaPath)[0]) {
		t.Error("different seeds, same segment ids")
	}
}

func TestGenerateCancelledMidwayLeavesNothing(t *testing.T) {
	t.Parallel()
	parent := t.TempDir()
	// The root directory exists beforehand and must survive, empty.
	dir := filepath.Join(parent, "root")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := Generate(ctx, dir, Options{DBBytes: 256 << 20, ChromaBytes: 256 << 20})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Generate: %v, want deadline exceeded", err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 0 {
		t.Errorf("cancelled Generate left %v", entries)
	}
}

func TestGenerateAwkwardPath(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "a b?c#d%20e")
	root, err := Generate(ctx, dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "data", "db", "atocore.db")); err != nil {
		t.Fatal(err)
	}
	if _, err := InsertMemory(ctx, root.DBPath, Memory{Content: "x"}); err != nil {
		t.Fatal(err)
	}
	if n, err := CountMemories(ctx, root.DBPath, ""); err != nil || n != root.Counts.Memories+1 {
		t.Errorf("CountMemories = %d, %v", n, err)
	}
}
