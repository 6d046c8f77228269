package targettest

import (
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/atocore/atocore-backup/backup"
	"github.com/atocore/atocore-backup/internal/snapshot"
	"github.com/atocore/atocore-backup/internal/testutil"
	"github.com/atocore/atocore-backup/target"
	"github.com/atocore/atocore-backup/validate"
)

// CopySnapshot copies the local snapshot directory src into the target as
// snapshots/<stamp>/, the way a push must: into a staging directory beside
// snapshots/, then one rename, so that the stamp appears only when
// complete. Every file is uploaded with target.WriteFileFrom.
func CopySnapshot(t testing.TB, tgt target.Target, src, stamp string) {
	t.Helper()
	fsys, root := tgt.FS(), tgt.Root()
	staging := path.Join(root, snapshot.StagingPrefix+"copy-"+stamp)
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		dst := path.Join(staging, filepath.ToSlash(rel))
		if d.IsDir() {
			return fsys.MkdirAll(dst, 0o700)
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = target.WriteFileFrom(fsys, dst, f, info.Mode().Perm())
		return err
	})
	if err != nil {
		t.Fatalf("copy %s to %s: %v", src, tgt.URL(), err)
	}
	if err := fsys.MkdirAll(path.Join(root, snapshot.SnapshotsDir), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := fsys.Rename(staging, path.Join(root, snapshot.SnapshotsDir, stamp)); err != nil {
		t.Fatalf("move %s into place: %v", stamp, err)
	}
}

// testSnapshots copies two real snapshots (WAL database, registry,
// Chroma) onto the target and runs list, validate and prune on it in place.
func testSnapshots(t *testing.T, open Opener) {
	ctx := t.Context()
	r := testutil.Root(t)
	var stamps []string
	for range 2 {
		stamps = append(stamps, testutil.Create(t, r, backup.CreateOptions{IncludeChroma: true}).Stamp)
	}
	tgt := openTarget(t, open)
	fsys, root := tgt.FS(), tgt.Root()
	for _, s := range stamps {
		CopySnapshot(t, tgt, filepath.Join(r.BackupDir, snapshot.SnapshotsDir, s), s)
	}

	snaps, err := backup.ListDir(ctx, fsys, root)
	if err != nil {
		t.Fatalf("ListDir: %v", err)
	}
	var listed []string
	for _, s := range snaps {
		listed = append(listed, s.Stamp)
		if s.Metadata == nil || s.Metadata.Stamp != s.Stamp || !s.Metadata.IncludeChroma {
			t.Errorf("%s: metadata %+v", s.Stamp, s.Metadata)
		}
		res, err := validate.Dir(ctx, fsys, s.Path, s.Stamp, validate.Options{})
		if err != nil {
			t.Fatalf("validate %s: %v", s.Stamp, err)
		}
		if !res.Valid || len(res.Errors) > 0 {
			t.Errorf("validate %s on %s: valid %v, errors %v", s.Stamp, tgt.URL(), res.Valid, res.Errors)
		}
	}
	if !slices.Equal(listed, stamps) {
		t.Fatalf("ListDir = %v, want %v", listed, stamps)
	}

	// The zero policy keeps only the newest valid snapshot.
	pr, err := backup.PruneDir(ctx, fsys, root, backup.PruneOptions{})
	if err != nil {
		t.Fatalf("PruneDir: %v", err)
	}
	if !slices.Equal(pr.Removed, stamps[:1]) || !slices.Equal(pr.Kept, stamps[1:]) {
		t.Fatalf("PruneDir removed %v kept %v; want %v and %v", pr.Removed, pr.Kept, stamps[:1], stamps[1:])
	}
	if _, err := fsys.Stat(path.Join(root, snapshot.SnapshotsDir, stamps[0])); !os.IsNotExist(err) {
		t.Errorf("pruned snapshot still there: %v", err)
	}
	entries, err := fsys.Open(root)
	if err != nil {
		t.Fatal(err)
	}
	names, _ := entries.Readdirnames(-1)
	entries.Close()
	for _, n := range names {
		if strings.HasPrefix(n, snapshot.TrashPrefix) || strings.HasPrefix(n, snapshot.StagingPrefix) {
			t.Errorf("leftover %s in the target root", n)
		}
	}

	// Damage on the target is found on the target.
	db := path.Join(root, snapshot.SnapshotsDir, stamps[1], filepath.FromSlash(snapshot.DBFile))
	f, err := fsys.OpenFile(db, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, 200); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0xff
	if _, err := f.WriteAt(b, 200); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	res, err := validate.Dir(ctx, fsys, path.Join(root, snapshot.SnapshotsDir, stamps[1]), stamps[1], validate.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Valid || !res.Has(validate.CodeManifestMismatch) {
		t.Errorf("a flipped byte went unnoticed: valid %v, errors %v", res.Valid, res.Errors)
	}
}
