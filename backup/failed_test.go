package backup_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/atocore/atocore-backup/backup"
	"github.com/atocore/atocore-backup/internal/snapshot"
	"github.com/atocore/atocore-backup/internal/testutil"
)

// failedCopy puts in failed/<STAMP>/ what a create whose copy failed
// validation leaves there: metadata with its errors, a damaged database.
func failedCopy(t *testing.T, backupDir string, at time.Time) string {
	t.Helper()
	stamp := at.UTC().Format("20060102T150405Z")
	dir := filepath.Join(backupDir, snapshot.FailedDir, stamp)
	if err := os.MkdirAll(filepath.Join(dir, "db"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "db", "atocore.db"), []byte("not a database"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, snapshot.MetadataFile), []byte(`{"stamp":"`+stamp+`","validated":false,"validation_errors":["db_integrity_check_failed: file is not a database (26)"]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	return stamp
}

func failedLeft(t *testing.T, backupDir string) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(backupDir, snapshot.FailedDir))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out
}

// Prune keeps the newest KeepFailed copies in failed/ and removes older
// ones (reported in FailedRemoved); a dry run only reports them; anything
// in failed/ not named by a stamp is left alone.
func TestPruneBoundsFailedCopies(t *testing.T) {
	r := testutil.Root(t)
	cfg := testutil.Config(r)
	daily(t, r, cfg, time.Date(2026, 4, 1, 6, 0, 0, 0, time.UTC), 1, backup.KindScheduled)
	var failed []string
	for i := range 5 {
		failed = append(failed, failedCopy(t, r.BackupDir, time.Date(2026, 3, 1+i, 6, 0, 0, 0, time.UTC)))
	}
	notes := filepath.Join(r.BackupDir, snapshot.FailedDir, "operator-notes")
	if err := os.WriteFile(notes, []byte("keep me"), 0o600); err != nil {
		t.Fatal(err)
	}
	if backup.KeepFailed != 3 {
		t.Fatalf("KeepFailed = %d; the runbook says 3", backup.KeepFailed)
	}
	old := failed[:len(failed)-backup.KeepFailed]

	dry, err := backup.Prune(context.Background(), cfg, backup.PruneOptions{Policy: backup.DefaultPolicy(), DryRun: true})
	if err != nil || !slices.Equal(dry.FailedRemoved, old) {
		t.Fatalf("dry run: failed_removed %v, %v; want %v", dry.FailedRemoved, err, old)
	}
	if len(failedLeft(t, r.BackupDir)) != 6 {
		t.Fatal("a dry run removed failed copies")
	}
	res, err := backup.Prune(context.Background(), cfg, backup.PruneOptions{Policy: backup.DefaultPolicy()})
	if err != nil || !slices.Equal(res.FailedRemoved, old) {
		t.Fatalf("prune: failed_removed %v, %v; want %v", res.FailedRemoved, err, old)
	}
	if got, want := failedLeft(t, r.BackupDir), append(slices.Clone(failed[2:]), "operator-notes"); !slices.Equal(got, want) {
		t.Fatalf("failed/ holds %v, want %v", got, want)
	}
	again, err := backup.Prune(context.Background(), cfg, backup.PruneOptions{Policy: backup.DefaultPolicy()})
	if err != nil || len(again.FailedRemoved) != 0 || again.FailedRemoved == nil {
		t.Fatalf("a second prune: failed_removed %#v, %v", again.FailedRemoved, err)
	}
	entries, _ := os.ReadDir(r.BackupDir)
	for _, e := range entries {
		if len(e.Name()) > 0 && e.Name()[0] == '.' && e.Name() != snapshot.LockFile {
			t.Fatalf("left behind in the backup directory: %s", e.Name())
		}
	}
}

// The bound is applied under the backup directory's lock: a busy prune
// removes no failed copy.
func TestPruneLeavesFailedCopiesWhenBusy(t *testing.T) {
	r := testutil.Root(t)
	cfg := testutil.Config(r)
	for i := range 5 {
		failedCopy(t, r.BackupDir, time.Date(2026, 3, 1+i, 6, 0, 0, 0, time.UTC))
	}
	l, err := backup.LockDir(context.Background(), cfg, "create", backup.Wait{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	if _, err := backup.Prune(context.Background(), cfg, backup.PruneOptions{Policy: backup.DefaultPolicy()}); !errors.Is(err, backup.ErrBusy) {
		t.Fatalf("err = %v, want ErrBusy", err)
	}
	if len(failedLeft(t, r.BackupDir)) != 5 {
		t.Fatal("a busy prune removed failed copies")
	}
}
