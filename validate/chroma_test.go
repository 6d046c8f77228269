package validate_test

import (
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"github.com/spf13/afero"

	"github.com/atocore/atocore-backup/backup"

	"github.com/atocore/atocore-backup/internal/testutil"
	"github.com/atocore/atocore-backup/validate"
)

// segmentDir returns a segment directory of the snapshot whose header
// counts persisted elements.
func (f fixture) persistedSegment(t *testing.T) string {
	t.Helper()
	dirs, _ := filepath.Glob(f.path("chroma/*/header.bin"))
	for _, h := range dirs {
		raw, _ := os.ReadFile(h)
		if len(raw) == 100 && binary.LittleEndian.Uint64(raw[20:28]) > 0 {
			return filepath.Dir(h)
		}
	}
	t.Fatal("no segment with persisted elements in the fixture")
	return ""
}

func TestChromaAwareCodesFromRealCorruptions(t *testing.T) {
	cases := []struct {
		name    string
		corrupt func(t *testing.T, f fixture)
		want    string
	}{
		{"segment directory deleted", func(t *testing.T, f fixture) {
			if err := os.RemoveAll(f.persistedSegment(t)); err != nil {
				t.Fatal(err)
			}
		}, validate.CodeChromaSegmentMissing},
		{"index file deleted", func(t *testing.T, f fixture) {
			remove(t, filepath.Join(f.persistedSegment(t), "length.bin"))
		}, validate.CodeChromaSegmentMissing},
		{"header says another dimension", func(t *testing.T, f fixture) {
			h := filepath.Join(f.persistedSegment(t), "header.bin")
			raw, _ := os.ReadFile(h)
			spe := binary.LittleEndian.Uint64(raw[28:36])
			binary.LittleEndian.PutUint64(raw[28:36], spe+4) // one more float
			writeFile(t, h, string(raw))
		}, validate.CodeChromaSegmentCorrupt},
		{"header truncated", func(t *testing.T, f fixture) {
			if err := os.Truncate(filepath.Join(f.persistedSegment(t), "header.bin"), 60); err != nil {
				t.Fatal(err)
			}
		}, validate.CodeChromaSegmentCorrupt},
		{"data_level0 torn", func(t *testing.T, f fixture) {
			p := filepath.Join(f.persistedSegment(t), "data_level0.bin")
			fi, _ := os.Stat(p)
			if err := os.Truncate(p, fi.Size()-7); err != nil {
				t.Fatal(err)
			}
		}, validate.CodeChromaSegmentCorrupt},
		{"link_lists short", func(t *testing.T, f fixture) {
			if err := os.Truncate(filepath.Join(f.persistedSegment(t), "link_lists.bin"), 2); err != nil {
				t.Fatal(err)
			}
		}, validate.CodeChromaSegmentCorrupt},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t)
			c.corrupt(t, f)
			res := f.validate(t)
			if res.Valid || !res.Has(c.want) {
				t.Fatalf("errors %q lack %s", res.Errors, c.want)
			}
		})
	}
}

// Without a manifest (a Python-era snapshot) a torn segment is still found.
func TestChromaChecksWithoutManifest(t *testing.T) {
	r := testutil.Root(t)
	dir := testutil.PythonSnapshot(t, r, "20260407T060000Z", true)
	hs, _ := filepath.Glob(filepath.Join(dir, "chroma", "*", "header.bin"))
	for _, h := range hs {
		if err := os.Truncate(h, 10); err != nil {
			t.Fatal(err)
		}
	}
	res, err := validate.Snapshot(context.Background(), afero.NewOsFs(), r.BackupDir, "20260407T060000Z")
	if err != nil {
		t.Fatal(err)
	}
	if res.Valid || !res.Has(validate.CodeChromaSegmentCorrupt) {
		t.Fatalf("result %+v", res)
	}
}

// A directory Chroma left behind for a deleted collection is a warning.
func TestOrphanSegmentIsAWarning(t *testing.T) {
	r := testutil.Root(t)
	orphan := filepath.Join(r.ChromaPath, "0f0f0f0f-0000-4000-8000-000000000000")
	if err := os.MkdirAll(orphan, 0o700); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(orphan, "header.bin"), "left behind")
	m := testutil.Create(t, r, backup.CreateOptions{IncludeChroma: true})
	res, err := validate.Snapshot(context.Background(), afero.NewOsFs(), r.BackupDir, m.Stamp)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Valid || !res.Has(validate.CodeChromaSegmentOrphan) {
		t.Fatalf("result %+v", res)
	}
}
