package backup_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/atocore/atocore-backup/backup"
)

// A mistyped backup directory or root is not found, and nothing is created
// under it: prune would otherwise make it (its lock) and report success.
func TestPruneOfAMissingBackupDirectoryIsNotFound(t *testing.T) {
	typo := filepath.Join(t.TempDir(), "bakcups")
	for name, cfg := range map[string]backup.Config{
		"backup dir": {Paths: backup.Paths{BackupDir: typo}},
		"root":       {Paths: backup.Paths{Root: typo}},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := backup.Prune(context.Background(), cfg, backup.PruneOptions{Policy: backup.Policy{KeepDaily: 1}})
			var nf *backup.NotFoundError
			if !errors.As(err, &nf) || !errors.Is(err, fs.ErrNotExist) || nf.Path != typo {
				t.Fatalf("err = %v, want not found naming %s", err, typo)
			}
			if _, err := os.Lstat(typo); err == nil {
				t.Fatalf("prune created %s", typo)
			}
		})
	}
}
