package sample_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/atocore/atocore-backup/backup"
	"github.com/atocore/atocore-backup/internal/sample"
	"github.com/atocore/atocore-backup/restore"
	"github.com/atocore/atocore-backup/validate"
)

// TestShapesBackUpAndValidate backs up a small root of every shape with
// its Chroma directory, validates the snapshot and restores it: the shapes
// are data the backup tool must accept, not only data of the right size.
func TestShapesBackUpAndValidate(t *testing.T) {
	t.Parallel()
	for _, shape := range sample.Shapes {
		t.Run(string(shape), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			root, err := sample.Generate(ctx, filepath.Join(t.TempDir(), "root"), sample.Options{
				Shape: shape, DBBytes: 4 << 20, ChromaBytes: 4 << 20, Seed: 11})
			if err != nil {
				t.Fatal(err)
			}
			want, err := sample.Fingerprint(ctx, root.DBPath)
			if err != nil {
				t.Fatal(err)
			}
			cfg := backup.Config{Paths: backup.Paths{Root: root.Dir}}
			meta, err := backup.Create(ctx, cfg, backup.CreateOptions{IncludeChroma: true})
			if err != nil {
				t.Fatal(err)
			}
			if !meta.Validated {
				t.Fatalf("snapshot %s not validated: %v", meta.Stamp, meta.ValidationErrors)
			}
			resolved, err := cfg.Resolved()
			if err != nil {
				t.Fatal(err)
			}
			res, err := validate.Snapshot(ctx, resolved.FS, resolved.BackupDir, meta.Stamp)
			if err != nil {
				t.Fatal(err)
			}
			if !res.Valid || len(res.Warnings) != 0 {
				t.Fatalf("validate %s: valid %v, errors %v, warnings %v", meta.Stamp, res.Valid, res.Errors, res.Warnings)
			}
			if _, err := sample.ChangeRows(ctx, root.DBPath, 0.1, 2); err != nil {
				t.Fatal(err)
			}
			rr, err := restore.Run(ctx, cfg, meta.Stamp, restore.Options{ConfirmServiceStopped: true, NoPreSnapshot: true})
			if err != nil {
				t.Fatal(err)
			}
			if !rr.RestoredIntegrityOK || !rr.ChromaRestored {
				t.Fatalf("restore incomplete: %+v", rr)
			}
			if got, err := sample.Fingerprint(ctx, root.DBPath); err != nil || got != want {
				t.Errorf("restored database fingerprint %s, %v; want the snapshot's %s", got, err, want)
			}
		})
	}
}
