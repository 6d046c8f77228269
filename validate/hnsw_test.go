package validate_test

import (
	"context"
	"database/sql"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "modernc.org/sqlite" // the "sqlite" driver

	"github.com/atocore/atocore-backup/backup"
	"github.com/atocore/atocore-backup/internal/sample"
	"github.com/atocore/atocore-backup/internal/snapshot"
	"github.com/atocore/atocore-backup/internal/testutil"
	"github.com/atocore/atocore-backup/validate"
)

// hnswSegment is a snapshot whose first persisted vector segment was
// replaced, in the live root before the snapshot, by an index that
// sample.WriteHNSW wrote as chroma-hnswlib does.
type hnswSegment struct {
	fixture
	seg string // the segment's directory in the snapshot
}

// newHNSWSegment writes o over the first vector segment that has a
// max_seq_id row; without seqRow it deletes that row (Python 0.4.0-0.5.5).
// The snapshot is taken with backup.Create, which validates it.
func newHNSWSegment(t *testing.T, o sample.HNSWOptions, seqRow bool) hnswSegment {
	t.Helper()
	r := testutil.Root(t)
	db, err := sql.Open("sqlite", filepath.Join(r.ChromaPath, "chroma.sqlite3"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var id string
	if err := db.QueryRow(`SELECT s.id FROM segments s JOIN max_seq_id m ON m.segment_id = s.id
		WHERE s.scope = 'VECTOR' ORDER BY s.id LIMIT 1`).Scan(&id); err != nil {
		t.Fatal(err)
	}
	if !seqRow {
		if _, err := db.Exec("DELETE FROM max_seq_id WHERE segment_id = ?", id); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(r.ChromaPath, id)
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := sample.WriteHNSW(context.Background(), dir, o); err != nil {
		t.Fatal(err)
	}
	m := testutil.Create(t, r, backup.CreateOptions{IncludeChroma: true})
	f := fixture{root: r, stamp: m.Stamp, dir: snapshot.Dir(r.BackupDir, m.Stamp)}
	return hnswSegment{fixture: f, seg: f.path("chroma/" + id)}
}

// header reads and edits the snapshot's header.bin.
func (h hnswSegment) patchHeader(t *testing.T, edit func(raw []byte)) {
	t.Helper()
	p := filepath.Join(h.seg, "header.bin")
	raw, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	edit(raw)
	writeFile(t, p, string(raw))
}

// patchElement edits element i's bytes in data_level0.bin.
func (h hnswSegment) patchElement(t *testing.T, i int, edit func(rec []byte)) {
	t.Helper()
	p := filepath.Join(h.seg, "data_level0.bin")
	raw, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	const spe = 1676
	edit(raw[i*spe : (i+1)*spe])
	writeFile(t, p, string(raw))
}

const (
	hdrCur   = 20
	hdrEnter = 56
)

// Each legitimate quirk of real Chroma directories validates clean.
func TestHNSWQuirksValidateClean(t *testing.T) {
	cases := []struct {
		name   string
		o      sample.HNSWOptions
		seqRow bool
	}{
		{"elements on upper levels, Rust pickle", sample.HNSWOptions{Elements: 400, Seed: 1}, true},
		{"Python PersistentData pickle", sample.HNSWOptions{Elements: 300, Pickle: sample.PickleObject, Seed: 2}, true},
		{"max_elements grown past the files", sample.HNSWOptions{Elements: 150, Slots: 150, MaxElements: 256, Seed: 3}, true},
		{"lone first element not persisted", sample.HNSWOptions{Elements: 0, PickleIDs: 1, Seed: 4}, true},
		{"no max_seq_id row (Python 0.4.0-0.5.5)", sample.HNSWOptions{Elements: 120, Pickle: sample.PickleObject, Seed: 5}, false},
		{"deleted elements", sample.HNSWOptions{Elements: 200, Deleted: []int{0, 7, 199}, Seed: 6}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHNSWSegment(t, c.o, c.seqRow) // Create validated it
			res := h.validate(t)
			if !res.Valid || len(res.Errors) != 0 || len(res.Warnings) != 0 {
				t.Fatalf("result %+v", res)
			}
		})
	}
}

// Each corruption hnswlib or Chroma cannot load is found, with its code and
// a message that says what is wrong.
func TestHNSWCorruptionsAreFound(t *testing.T) {
	base := sample.HNSWOptions{Elements: 300, Seed: 11}
	cases := []struct {
		name    string
		o       sample.HNSWOptions
		corrupt func(t *testing.T, h hnswSegment)
		code    string
		message string
	}{
		{"header older than the data files", base, func(t *testing.T, h hnswSegment) {
			h.patchHeader(t, func(raw []byte) {
				binary.LittleEndian.PutUint64(raw[hdrCur:], 200)
				if binary.LittleEndian.Uint32(raw[hdrEnter:]) >= 200 {
					binary.LittleEndian.PutUint32(raw[hdrEnter:], 0)
				}
			})
		}, validate.CodeChromaSegmentCorrupt, "past the 200 elements header.bin counts"},
		{"data files older than the header", sample.HNSWOptions{Elements: 300, Seed: 11}, func(t *testing.T, h hnswSegment) {
			// 300 elements persisted over a file that held 299 zeroed slots
			// and one written: the header is newer than element 299's bytes.
			h.patchElement(t, 299, func(rec []byte) { clear(rec) })
		}, validate.CodeChromaSegmentCorrupt, "element 299 has label 0"},
		{"neighbour is the element itself", base, func(t *testing.T, h hnswSegment) {
			h.patchElement(t, 5, func(rec []byte) {
				binary.LittleEndian.PutUint16(rec, 1)
				binary.LittleEndian.PutUint32(rec[4:], 5)
			})
		}, validate.CodeChromaSegmentCorrupt, "element 5 links to itself"},
		{"neighbour past cur", base, func(t *testing.T, h hnswSegment) {
			h.patchElement(t, 9, func(rec []byte) {
				binary.LittleEndian.PutUint16(rec, 1)
				binary.LittleEndian.PutUint32(rec[4:], 300)
			})
		}, validate.CodeChromaSegmentCorrupt, "element 9 links to 300"},
		{"label 0", base, func(t *testing.T, h hnswSegment) {
			h.patchElement(t, 3, func(rec []byte) { clear(rec[1668:]) })
		}, validate.CodeChromaSegmentCorrupt, "element 3 has label 0"},
		{"more than 2M level-0 neighbours", base, func(t *testing.T, h hnswSegment) {
			h.patchElement(t, 4, func(rec []byte) { binary.LittleEndian.PutUint16(rec, 33) })
		}, validate.CodeChromaSegmentCorrupt, "33 level-0 neighbours, more than maxM0 32"},
		{"truncated pickle", base, func(t *testing.T, h hnswSegment) {
			p := filepath.Join(h.seg, "index_metadata.pickle")
			fi, _ := os.Stat(p)
			if err := os.Truncate(p, fi.Size()/2); err != nil {
				t.Fatal(err)
			}
		}, validate.CodeChromaSegmentCorrupt, "index_metadata.pickle: not a pickle Chroma writes"},
		{"0-byte pickle", base, func(t *testing.T, h hnswSegment) {
			if err := os.Truncate(filepath.Join(h.seg, "index_metadata.pickle"), 0); err != nil {
				t.Fatal(err)
			}
		}, validate.CodeChromaSegmentCorrupt, "index_metadata.pickle is empty (0 bytes)"},
		{"pickle of another dimensionality", sample.HNSWOptions{Elements: 50, Pickle: sample.PickleObject, Seed: 12}, func(t *testing.T, h hnswSegment) {
			other := t.TempDir() + "/seg"
			if err := sample.WriteHNSW(context.Background(), other, sample.HNSWOptions{Elements: 50, Dim: 768, Pickle: sample.PickleObject, Seed: 12}); err != nil {
				t.Fatal(err)
			}
			raw, _ := os.ReadFile(filepath.Join(other, "index_metadata.pickle"))
			writeFile(t, filepath.Join(h.seg, "index_metadata.pickle"), string(raw))
		}, validate.CodeChromaSegmentCorrupt, "(PersistentData) has dimensionality 768, the collection has 384"},
		{"pickle missing with a max_seq_id row", base, func(t *testing.T, h hnswSegment) {
			remove(t, filepath.Join(h.seg, "index_metadata.pickle"))
		}, validate.CodeChromaSegmentMissing, "lacks index_metadata.pickle; chroma.sqlite3 records persisted vectors"},
		{"link list not a multiple of 4M+4", base, func(t *testing.T, h hnswSegment) {
			p := filepath.Join(h.seg, "link_lists.bin")
			raw, _ := os.ReadFile(p)
			binary.LittleEndian.PutUint32(raw, 7)
			writeFile(t, p, string(raw))
		}, validate.CodeChromaSegmentCorrupt, "entry 0 has 7 bytes: not a multiple of 4M+4 = 68"},
		{"link list past the end", base, func(t *testing.T, h hnswSegment) {
			p := filepath.Join(h.seg, "link_lists.bin")
			raw, _ := os.ReadFile(p)
			binary.LittleEndian.PutUint32(raw, 68*1000)
			writeFile(t, p, string(raw))
		}, validate.CodeChromaSegmentCorrupt, "entry 0 has 68000 bytes: past the end"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHNSWSegment(t, c.o, true)
			c.corrupt(t, h)
			res := h.validate(t)
			var found bool
			for _, e := range res.Errors {
				found = found || (validate.CodeOf(e) == c.code && strings.Contains(e, c.message) && strings.Contains(e, filepath.Base(h.seg)))
			}
			if res.Valid || !found {
				t.Fatalf("errors %q lack %s naming the segment with %q", res.Errors, c.code, c.message)
			}
		})
	}
}
