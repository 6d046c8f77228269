package validate_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/afero"

	"github.com/atocore/atocore-backup/backup"
	"github.com/atocore/atocore-backup/internal/sample"
	"github.com/atocore/atocore-backup/internal/snapshot"
	"github.com/atocore/atocore-backup/internal/testutil"
	"github.com/atocore/atocore-backup/validate"
)

// fixture is one generated root with one valid snapshot (Chroma included).
type fixture struct {
	root  *sample.Root
	stamp string
	dir   string
}

func newFixture(t *testing.T) fixture {
	t.Helper()
	r := testutil.Root(t)
	m := testutil.Create(t, r, backup.CreateOptions{IncludeChroma: true})
	return fixture{root: r, stamp: m.Stamp, dir: snapshot.Dir(r.BackupDir, m.Stamp)}
}

func (f fixture) validate(t *testing.T) *validate.Result {
	t.Helper()
	res, err := validate.Snapshot(context.Background(), afero.NewOsFs(), f.root.BackupDir, f.stamp)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func (f fixture) path(rel string) string { return filepath.Join(f.dir, filepath.FromSlash(rel)) }

// segmentFile returns one Chroma segment file of the snapshot.
func (f fixture) segmentFile(t *testing.T, name string) string {
	t.Helper()
	matches, _ := filepath.Glob(f.path("chroma/*/" + name))
	if len(matches) == 0 {
		t.Fatalf("no chroma/*/%s in the snapshot", name)
	}
	return matches[0]
}

func TestFreshSnapshotIsValid(t *testing.T) {
	f := newFixture(t)
	res := f.validate(t)
	if !res.Valid || len(res.Errors) != 0 || len(res.Warnings) != 0 {
		t.Fatalf("fresh snapshot: %+v", res)
	}
	if res.Stamp != f.stamp {
		t.Fatalf("stamp = %q, want %q", res.Stamp, f.stamp)
	}
}

// Each validation code comes from a real corruption of a real snapshot.
func TestEveryCodeFromARealCorruption(t *testing.T) {
	cases := []struct {
		name    string
		corrupt func(t *testing.T, f fixture)
		want    []string // codes that must be among the errors
	}{
		{"flipped db bytes", func(t *testing.T, f fixture) {
			testutil.Corrupt(t, f.path(snapshot.DBFile), 4096, 16) // page 2's b-tree header
		}, []string{validate.CodeDBIntegrity, validate.CodeManifestMismatch}},
		{"truncated db", func(t *testing.T, f fixture) {
			if err := os.Truncate(f.path(snapshot.DBFile), 4096*3+100); err != nil {
				t.Fatal(err)
			}
		}, []string{validate.CodeDBIntegrity, validate.CodeManifestMismatch}},
		{"db truncated to nothing", func(t *testing.T, f fixture) {
			if err := os.Truncate(f.path(snapshot.DBFile), 0); err != nil {
				t.Fatal(err)
			}
		}, []string{validate.CodeDBIntegrity, validate.CodeManifestMismatch}},
		{"db replaced by text", func(t *testing.T, f fixture) {
			writeFile(t, f.path(snapshot.DBFile), strings.Repeat("not a database ", 100))
		}, []string{validate.CodeDBIntegrity}},
		{"db deleted", func(t *testing.T, f fixture) {
			remove(t, f.path(snapshot.DBFile))
		}, []string{validate.CodeDBMissing, validate.CodeManifestMismatch}},
		{"metadata bad json", func(t *testing.T, f fixture) {
			writeFile(t, f.path(snapshot.MetadataFile), `{"stamp": "x",`)
		}, []string{validate.CodeMetadataInvalid, validate.CodeManifestMismatch}},
		{"metadata deleted", func(t *testing.T, f fixture) {
			remove(t, f.path(snapshot.MetadataFile))
		}, []string{validate.CodeMetadataMissing, validate.CodeManifestMismatch}},
		{"registry bad json", func(t *testing.T, f fixture) {
			writeFile(t, f.path(snapshot.RegistryFile), `{"projects": [`)
		}, []string{validate.CodeRegistryInvalid, validate.CodeManifestMismatch}},
		{"chroma directory deleted", func(t *testing.T, f fixture) {
			if err := os.RemoveAll(f.path(snapshot.ChromaDir)); err != nil {
				t.Fatal(err)
			}
		}, []string{validate.CodeChromaMissing, validate.CodeManifestMismatch}},
		{"chroma.sqlite3 damaged", func(t *testing.T, f fixture) {
			testutil.Corrupt(t, f.path("chroma/chroma.sqlite3"), 4096, 16)
		}, []string{validate.CodeChromaIntegrity, validate.CodeManifestMismatch}},
		{"one chroma file changed, same size", func(t *testing.T, f fixture) {
			testutil.Corrupt(t, f.segmentFile(t, "data_level0.bin"), 100, 1)
		}, []string{validate.CodeManifestMismatch}},
		{"stray file added", func(t *testing.T, f fixture) {
			writeFile(t, f.path("chroma/stray.bin"), "x")
		}, []string{validate.CodeManifestMismatch}},
		{"manifest bad json", func(t *testing.T, f fixture) {
			writeFile(t, f.path(snapshot.ManifestFile), `[`)
		}, []string{validate.CodeManifestMismatch}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t)
			c.corrupt(t, f)
			res := f.validate(t)
			if res.Valid {
				t.Fatalf("corrupted snapshot is valid: %+v", res)
			}
			for _, code := range c.want {
				if !res.Has(code) {
					t.Errorf("errors %q lack %s", res.Errors, code)
				}
			}
			if err := res.Err(); err == nil || !strings.Contains(err.Error(), c.want[0]) {
				t.Errorf("Err() = %v", err)
			}
		})
	}
}

func TestMissingSnapshotAndBadStamps(t *testing.T) {
	r := testutil.Root(t)
	res, err := validate.Snapshot(context.Background(), afero.NewOsFs(), r.BackupDir, "20200101T000000Z")
	if err != nil || res.Valid || !res.Has(validate.CodeSnapshotMissing) {
		t.Fatalf("missing snapshot: %+v, %v", res, err)
	}
	for _, s := range []string{"../x", "20260407T060000Z/..", "", "20260407T060000Z0", "../../etc"} {
		if _, err := validate.Snapshot(context.Background(), afero.NewOsFs(), r.BackupDir, s); !errors.Is(err, snapshot.ErrBadStamp) {
			t.Errorf("stamp %q: err = %v, want ErrBadStamp", s, err)
		}
	}
}

func TestPythonSnapshotValidatesWithWarning(t *testing.T) {
	r := testutil.Root(t)
	for _, withChroma := range []bool{false, true} {
		stamp := map[bool]string{false: "20260407T060000Z", true: "20260408T060000Z"}[withChroma]
		testutil.PythonSnapshot(t, r, stamp, withChroma)
		res, err := validate.Snapshot(context.Background(), afero.NewOsFs(), r.BackupDir, stamp)
		if err != nil {
			t.Fatal(err)
		}
		if !res.Valid || !res.Has(validate.CodeManifestMissing) {
			t.Fatalf("python snapshot (chroma %v): %+v", withChroma, res)
		}
	}
	// Damage is still found without a manifest.
	testutil.Corrupt(t, filepath.Join(r.BackupDir, "snapshots", "20260407T060000Z", "db", "atocore.db"), 4096, 16)
	res, _ := validate.Snapshot(context.Background(), afero.NewOsFs(), r.BackupDir, "20260407T060000Z")
	if res.Valid || !res.Has(validate.CodeDBIntegrity) {
		t.Fatalf("damaged python snapshot: %+v", res)
	}
}

// The same checks run on an in-memory filesystem (as for a target), where
// SQLite reads through a read-only VFS.
func TestValidateOnMemMapFs(t *testing.T) {
	f := newFixture(t)
	mem := afero.NewMemMapFs()
	err := filepath.Walk(f.root.BackupDir, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return afero.WriteFile(mem, "/b"+strings.TrimPrefix(p, f.root.BackupDir), data, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
	res, err := validate.Snapshot(context.Background(), mem, "/b", f.stamp)
	if err != nil || !res.Valid {
		t.Fatalf("in-memory copy: %+v, %v", res, err)
	}
	dbName := "/b/snapshots/" + f.stamp + "/db/atocore.db"
	data, _ := afero.ReadFile(mem, dbName)
	for i := 4096; i < 4112; i++ {
		data[i] ^= 0xA5
	}
	_ = afero.WriteFile(mem, dbName, data, 0o600)
	res, _ = validate.Snapshot(context.Background(), mem, "/b", f.stamp)
	if res.Valid || !res.Has(validate.CodeDBIntegrity) {
		t.Fatalf("damaged in-memory copy: %+v", res)
	}
}

func TestQuickSkipsDigestsButFindsMissingFiles(t *testing.T) {
	f := newFixture(t)
	testutil.Corrupt(t, f.segmentFile(t, "data_level0.bin"), 100, 1)
	q, err := validate.Dir(context.Background(), afero.NewOsFs(), f.dir, f.stamp, validate.Options{Quick: true})
	if err != nil || !q.Valid {
		t.Fatalf("quick check of a same-size change: %+v, %v (quick reads no bytes)", q, err)
	}
	remove(t, f.segmentFile(t, "header.bin"))
	q, _ = validate.Dir(context.Background(), afero.NewOsFs(), f.dir, f.stamp, validate.Options{Quick: true})
	if q.Valid || !q.Has(validate.CodeManifestMismatch) {
		t.Fatalf("quick check of a missing file: %+v", q)
	}
}

func TestCancelled(t *testing.T) {
	f := newFixture(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := validate.Snapshot(ctx, afero.NewOsFs(), f.root.BackupDir, f.stamp); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

func writeFile(t *testing.T, p, content string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func remove(t *testing.T, p string) {
	t.Helper()
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
}

// SPEC: a snapshot without manifest.json validates with the warning
// manifest_missing, whoever made it; the other checks still run.
func TestManifestRemovedFromOurSnapshotIsAWarning(t *testing.T) {
	f := newFixture(t)
	remove(t, f.path(snapshot.ManifestFile))
	res := f.validate(t)
	if !res.Valid || len(res.Errors) != 0 || !res.Has(validate.CodeManifestMissing) {
		t.Fatalf("snapshot without its manifest: %+v", res)
	}
	testutil.Corrupt(t, f.path(snapshot.DBFile), 4096, 16)
	if res := f.validate(t); res.Valid || !res.Has(validate.CodeDBIntegrity) {
		t.Fatalf("damaged database without a manifest: %+v", res)
	}
}

// Older writers put "" for "no registry" and "no Chroma".
func TestEmptyPathsInMetadataMeanAbsent(t *testing.T) {
	f := newFixture(t)
	remove(t, f.path(snapshot.ManifestFile))
	if err := os.RemoveAll(f.path(snapshot.ChromaDir)); err != nil {
		t.Fatal(err)
	}
	remove(t, f.path(snapshot.RegistryFile))
	p := f.path(snapshot.MetadataFile)
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	m["include_chroma"], m["chroma_snapshot_path"], m["registry_snapshot_path"] = false, "", ""
	data, _ = json.Marshal(m)
	writeFile(t, p, string(data))
	if res := f.validate(t); !res.Valid {
		t.Fatalf("metadata with empty paths: %+v", res)
	}
}
