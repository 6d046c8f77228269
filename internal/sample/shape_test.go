package sample

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestParseShape(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Shape
		ok   bool
	}{
		{"", ShapeRandom, true},
		{"random", ShapeRandom, true},
		{" text ", ShapeText, true},
		{"many", ShapeMany, true},
		{"Text", "", false},
		{"chunks", "", false},
	} {
		got, err := ParseShape(c.in)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("ParseShape(%q) = %q, %v; want %q (ok %v)", c.in, got, err, c.want, c.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "random, text, many") {
			t.Errorf("ParseShape(%q): %q does not list the shapes", c.in, err)
		}
	}
	if _, err := Generate(context.Background(), t.TempDir(), Options{Shape: "chunks"}); err == nil {
		t.Error("Generate with an unknown shape succeeded")
	}
}

// TestRandomShapeUnchanged pins the default shape's content for one seed:
// the rows (Fingerprint, which does not depend on the SQLite library's page
// layout) and every byte of the segment directories. The values are those
// of the generator before the shapes were added; a change here changes
// every benchmark's data.
func TestRandomShapeUnchanged(t *testing.T) {
	t.Parallel()
	for _, shape := range []Shape{"", ShapeRandom} {
		root := generate(t, Options{Seed: 7, Segments: 3, Shape: shape})
		fp, err := Fingerprint(context.Background(), root.DBPath)
		if err != nil {
			t.Fatal(err)
		}
		if want := "517a1148f2fb28509cf5e7758b405fc518bf409cc03b455300988f18646cb74a"; fp != want {
			t.Errorf("shape %q: fingerprint %s; want %s", shape, fp, want)
		}
		if want := (Counts{Projects: 8, Memories: 168, Documents: 60, Chunks: 512}); root.Counts != want {
			t.Errorf("shape %q: counts %+v; want %+v", shape, root.Counts, want)
		}
		if got, want := treeDigest(t, root.ChromaPath, true), "257913ebc2ed92fc6b7f964f32e9a9e62f622a011560c7e3849bf2fed789f638"; got != want {
			t.Errorf("shape %q: segment files digest %s; want %s", shape, got, want)
		}
	}
}

func TestTextShape(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const dbBytes, chromaBytes = 8 << 20, 8 << 20
	root := generate(t, Options{Shape: ShapeText, DBBytes: dbBytes, ChromaBytes: chromaBytes, Seed: 3})
	db := openRO(t, root.DBPath)
	if got := queryString(t, db, "PRAGMA journal_mode"); got != "wal" {
		t.Errorf("journal_mode = %q, want wal", got)
	}
	if got := queryString(t, db, "PRAGMA integrity_check"); got != "ok" {
		t.Errorf("integrity_check = %q", got)
	}
	if fi, err := os.Stat(root.DBPath); err != nil || fi.Size() < dbBytes*9/10 || fi.Size() > dbBytes*11/10 {
		t.Errorf("atocore.db: %v, %v; want %d bytes ±10%%", fi.Size(), err, dbBytes)
	}
	for _, table := range []string{"memories", "source_documents", "source_chunks"} {
		if typ := queryString(t, db, "SELECT type FROM pragma_table_info(?) WHERE name = 'id' AND pk = 1", table); typ != "INTEGER" {
			t.Errorf("%s.id is %q; want an INTEGER PRIMARY KEY", table, typ)
		}
	}
	// Five secondary indexes, no index b-tree for the integer keys (the
	// projects table keeps its TEXT key and its 16 rows).
	if n := queryInt(t, db, "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"); n != 5 {
		t.Errorf("%d secondary indexes; want 5", n)
	}
	if n := queryInt(t, db, "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND sql IS NULL AND tbl_name != 'projects'"); n != 0 {
		t.Errorf("%d automatic key indexes outside projects; want 0", n)
	}
	if n := queryInt(t, db, "SELECT count(*) FROM sqlite_stat1"); n == 0 {
		t.Error("sqlite_stat1 is empty: ANALYZE did not run")
	}
	if n := queryInt(t, db, "SELECT count(*) FROM source_chunks WHERE length(content) NOT BETWEEN 350 AND 1100 OR length(embedding) != 1536 OR char_count != length(content)"); n != 0 {
		t.Errorf("%d chunks outside 350-1,100 characters or without a 1,536-byte embedding", n)
	}
	// A document's full text is its chunks, in order.
	if n := queryInt(t, db, `SELECT count(*) FROM source_documents d WHERE d.content IS NOT
		(SELECT group_concat(content, char(10)||char(10)) FROM (SELECT content FROM source_chunks c WHERE c.document_id = d.id ORDER BY chunk_index))`); n != 0 {
		t.Errorf("%d documents whose content is not their chunks' text", n)
	}
	c := root.Counts
	// 100,000 memories and 16 chunks a document on average, per GiB.
	if want := dbBytes * textMemoriesPerGi / (1 << 30); c.Memories != want {
		t.Errorf("%d memories; want %d", c.Memories, want)
	}
	if per := float64(c.Chunks) / float64(c.Documents); per < 12 || per > 20 {
		t.Errorf("%.1f chunks a document (%+v); want about 16", per, c)
	}
	if got, err := ReadCounts(ctx, root.DBPath); err != nil || got != c {
		t.Errorf("ReadCounts = %+v, %v; Generate reported %+v", got, err, c)
	}

	// Chroma: chroma.sqlite3 about a tenth, the rest in ~42 MiB segments
	// (one at this size).
	total := dirBytes(t, root.ChromaPath)
	fi, err := os.Stat(filepath.Join(root.ChromaPath, chromaDBFile))
	if err != nil {
		t.Fatal(err)
	}
	if share := float64(fi.Size()) / float64(total); share < 0.07 || share > 0.14 {
		t.Errorf("chroma.sqlite3 is %.1f%% of the Chroma directory; want about 10%%", 100*share)
	}
	if total < chromaBytes*9/10 || total > chromaBytes*11/10 {
		t.Errorf("Chroma directory is %d bytes; want %d ±10%%", total, chromaBytes)
	}
	if n := len(segmentDirs(t, root.ChromaPath)); n != 1 {
		t.Errorf("%d segment directories; want 1", n)
	}

	// The helpers that modify a live root work on integer keys.
	id, err := InsertMemory(ctx, root.DBPath, Memory{Content: "DRILL-MARKER", Project: "drill"})
	if err != nil {
		t.Fatal(err)
	}
	if n, err := strconv.Atoi(id); err != nil || n != c.Memories+1 {
		t.Errorf("InsertMemory returned id %q; want %d", id, c.Memories+1)
	}
	if n, err := CountMemories(ctx, root.DBPath, "drill"); err != nil || n != 1 {
		t.Errorf("CountMemories(drill) = %d, %v; want 1", n, err)
	}
	before, err := Fingerprint(ctx, root.DBPath)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := ChangeRows(ctx, root.DBPath, 0.05, 1); err != nil || n == 0 {
		t.Errorf("ChangeRows = %d, %v", n, err)
	}
	if after, err := Fingerprint(ctx, root.DBPath); err != nil || after == before {
		t.Errorf("ChangeRows did not change the fingerprint (%v)", err)
	}
}

func TestTextShapeSegmentCount(t *testing.T) {
	for _, c := range []struct {
		mib  int64
		want int
	}{{8, 1}, {64, 1}, {256, 5}, {1024, 22}, {4096, 88}} {
		if got := ShapeText.DefaultSegments(c.mib << 20); got != c.want {
			t.Errorf("text segments for %d MiB of Chroma: %d; want %d", c.mib, got, c.want)
		}
	}
	if got := ShapeMany.DefaultSegments(64 << 20); got != ManySegments {
		t.Errorf("many segments: %d; want %d", got, ManySegments)
	}
	if got := ShapeRandom.DefaultSegments(64 << 20); got != DefaultSegments {
		t.Errorf("random segments: %d; want %d", got, DefaultSegments)
	}
}

func TestManyShape(t *testing.T) {
	t.Parallel()
	root := generate(t, Options{Shape: ShapeMany, DBBytes: 4 << 20, ChromaBytes: 4 << 20, Seed: 5})
	dirs := segmentDirs(t, root.ChromaPath)
	if len(dirs) < 300 {
		t.Fatalf("%d segment directories; want at least 300", len(dirs))
	}
	small := 0
	for _, d := range dirs {
		if dirBytes(t, d) < 1<<20 {
			small++
		}
	}
	if small*10 < len(dirs)*9 {
		t.Errorf("%d of %d segment directories under 1 MiB; want nine in ten", small, len(dirs))
	}
	db := openRO(t, filepath.Join(root.ChromaPath, chromaDBFile))
	if n := queryInt(t, db, "SELECT count(*) FROM segments WHERE scope = 'VECTOR'"); n != int64(len(dirs)) {
		t.Errorf("chroma.sqlite3 lists %d vector segments for %d directories", n, len(dirs))
	}
	if got := queryString(t, db, "PRAGMA integrity_check"); got != "ok" {
		t.Errorf("chroma.sqlite3 integrity_check = %q", got)
	}
}

// TestManyBudgets checks the sharing of a large budget: the small segments
// stay under 1 MiB, the large ones take the rest, and nothing is lost.
func TestManyBudgets(t *testing.T) {
	for _, left := range []int64{40 << 20, 900 << 20, 3600 << 20} {
		budgets := manyBudgets(newCorpus(1, 1, nil).r, left, ManySegments)
		var sum, small int64
		for i, b := range budgets {
			sum += b
			if !manyLarge(i) && b < 1<<20 {
				small++
			}
		}
		if small != ManySegments-ManySegments/manyLargeEvery {
			t.Errorf("left %d: %d small segments under 1 MiB; want %d", left, small, ManySegments-ManySegments/manyLargeEvery)
		}
		minSeg := int64(hnswHeaderSize + hnswMinCapacity*hnswBytesPerSlot)
		if floor := int64(ManySegments) * minSeg; left > floor && (sum < left*99/100 || sum > left*101/100) {
			t.Errorf("left %d: budgets sum to %d", left, sum)
		}
	}
}
