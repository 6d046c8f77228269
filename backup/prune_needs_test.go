package backup_test

import (
	"context"
	"os"
	"testing"

	"github.com/spf13/afero"

	"github.com/atocore/atocore-backup/backup"
	"github.com/atocore/atocore-backup/internal/snapshot"
)

// A kept snapshot's chain runs through an invalid one (left in place:
// no --prune-invalid) to a condemned base: the base must be held.
func TestPruneHoldsBasesThroughAnInvalidSnapshot(t *testing.T) {
	dir := t.TempDir()
	fsys := afero.NewOsFs()
	s1, s2, s3 := "20261201T020000Z", "20261202T020000Z", "20261203T020000Z"
	for _, s := range []string{s1, s2, s3} {
		if err := os.MkdirAll(snapshot.Dir(dir, s), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	needs := map[string][]string{s3: {s2}, s2: {s1}}
	res, err := backup.PruneDir(context.Background(), fsys, dir, backup.PruneOptions{
		Check: func(ctx context.Context, fsys afero.Fs, dir, stamp string) (backup.Verdict, error) {
			if stamp == s2 { // e.g. a Chroma segment of s2 damaged on the target
				return backup.Verdict{Error: "manifest_mismatch: chroma/x is missing"}, nil
			}
			return backup.Verdict{Valid: true, Kind: backup.KindScheduled}, nil
		},
		Needs: func(ctx context.Context, fsys afero.Fs, dir, stamp string) ([]string, error) {
			return needs[stamp], nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(snapshot.Dir(dir, s1)); err != nil {
		t.Fatalf("the base %s of %s (through the invalid %s) was deleted: removed %v, held %v", s1, s3, s2, res.Removed, res.Held)
	}
}
