package sample

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
)

// snapshotSegments reads every file of every segment directory.
func snapshotSegments(t *testing.T, chromaPath string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	for _, dir := range segmentDirs(t, chromaPath) {
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			p := filepath.Join(dir, e.Name())
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			files[p] = b
		}
	}
	return files
}

// diffBytes counts differing bytes between two snapshots of the same files,
// and the files whose every 8-byte word differs.
func diffBytes(t *testing.T, a, b map[string][]byte) (changed int64, total int64) {
	t.Helper()
	for p, x := range a {
		y := b[p]
		if len(x) != len(y) {
			t.Errorf("%s changed size %d -> %d", p, len(x), len(y))
			continue
		}
		total += int64(len(x))
		// Count changed 1676-byte elements' bytes: noise matches by chance
		// in 1/256 of the bytes, so compare in blocks.
		for off := 0; off < len(x); off += hnswElementSize {
			end := min(off+hnswElementSize, len(x))
			if !bytes.Equal(x[off:end], y[off:end]) {
				changed += int64(end - off)
			}
		}
	}
	return changed, total
}

func TestChangeChroma(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	root := generate(t, Options{DBBytes: 1, ChromaBytes: 12 << 20, Segments: 10})
	for _, c := range []struct {
		frac         float64
		wholeChanged int // segments whose data_level0.bin changes entirely
	}{
		{0.1, 1},
		{0.25, 2},
		{0.03, 0},
	} {
		before := snapshotSegments(t, root.ChromaPath)
		n, err := ChangeChroma(ctx, root.ChromaPath, c.frac, int64(c.frac*1000))
		if err != nil {
			t.Fatal(err)
		}
		after := snapshotSegments(t, root.ChromaPath)
		changed, total := diffBytes(t, before, after)
		if changed != n {
			t.Errorf("frac %v: ChangeChroma reported %d bytes, %d changed", c.frac, n, changed)
		}
		if got := float64(changed) / float64(total); got < c.frac*0.85 || got > c.frac*1.15 {
			t.Errorf("frac %v: changed %.3f of the segment bytes", c.frac, got)
		}
		whole := 0
		for p, x := range before {
			if filepath.Base(p) == hnswLevel0File && diffElements(x, after[p]) == len(x)/hnswElementSize {
				whole++
			} else if filepath.Base(p) != hnswLevel0File && !bytes.Equal(x, after[p]) {
				t.Errorf("frac %v: %s changed", c.frac, p)
			}
		}
		if whole != c.wholeChanged {
			t.Errorf("frac %v: %d whole segments rewritten, want %d", c.frac, whole, c.wholeChanged)
		}
	}
	if n, err := ChangeChroma(ctx, root.ChromaPath, 0, 1); err != nil || n != 0 {
		t.Errorf("frac 0: %d, %v", n, err)
	}
}

// diffElements counts the elements whose vectors differ (a rewrite keeps
// persisted elements' links and labels).
func diffElements(x, y []byte) int {
	n := 0
	for i := 0; i+hnswElementSize <= len(x); i += hnswElementSize {
		if !bytes.Equal(x[i+hnswOffsetData:i+hnswLabelOffset], y[i+hnswOffsetData:i+hnswLabelOffset]) {
			n++
		}
	}
	return n
}

func TestChangeChromaDeterministic(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a := generate(t, Options{DBBytes: 1, Segments: 4, ChromaBytes: 2 << 20})
	b := generate(t, Options{DBBytes: 1, Segments: 4, ChromaBytes: 2 << 20})
	for _, r := range []*Root{a, b} {
		if _, err := ChangeChroma(ctx, r.ChromaPath, 0.4, 7); err != nil {
			t.Fatal(err)
		}
	}
	sa, sb := snapshotSegments(t, a.ChromaPath), snapshotSegments(t, b.ChromaPath)
	for p, x := range sa {
		rel, _ := filepath.Rel(a.ChromaPath, p)
		if !bytes.Equal(x, sb[filepath.Join(b.ChromaPath, rel)]) {
			t.Errorf("%s differs after the same change", rel)
		}
	}
}

func TestChangeRows(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	root := generate(t, Options{ChromaBytes: -1})
	before, err := Fingerprint(ctx, root.DBPath)
	if err != nil {
		t.Fatal(err)
	}
	n, err := ChangeRows(ctx, root.DBPath, 0.1, 1)
	if err != nil {
		t.Fatal(err)
	}
	want := root.Counts.Chunks / 10
	if n < want-1 || n > want+1 {
		t.Errorf("ChangeRows(0.1) changed %d of %d rows", n, root.Counts.Chunks)
	}
	after, err := Fingerprint(ctx, root.DBPath)
	if err != nil {
		t.Fatal(err)
	}
	if after == before {
		t.Error("fingerprint unchanged after ChangeRows")
	}
	counts, err := ReadCounts(ctx, root.DBPath)
	if err != nil || counts != root.Counts {
		t.Errorf("counts after ChangeRows %+v, %v; want %+v", counts, err, root.Counts)
	}
	db := openRO(t, root.DBPath)
	if got := queryString(t, db, "PRAGMA integrity_check"); got != "ok" {
		t.Errorf("integrity_check = %q", got)
	}
	if k := queryInt(t, db, "SELECT count(*) FROM source_chunks WHERE char_count != length(content) OR length(embedding) != 1536"); k != 0 {
		t.Errorf("%d inconsistent chunks", k)
	}
	if n, err := ChangeRows(ctx, root.DBPath, 0.0001, 2); err != nil || n != 1 {
		t.Errorf("tiny frac changed %d rows, %v; want 1", n, err)
	}
}
