package backup_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

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

// A FIFO planted as restores.jsonl must not hang prune (which holds the
// lock every create needs): it is not read, and prune says so.
func TestPruneDoesNotOpenAFIFORestoreLog(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "snapshots"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(dir, backup.RestoreLogFile), 0o600); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := backup.Prune(context.Background(), backup.Config{Paths: backup.Paths{BackupDir: dir}}, backup.PruneOptions{Policy: backup.Policy{KeepDaily: 1}})
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("prune: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("prune hung on a FIFO restores.jsonl")
	}
}
