package backup_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/atocore/atocore-backup/backup"
	"github.com/atocore/atocore-backup/internal/testutil"
)

// "latest" is the newest snapshot that passes validation: a newer one
// that fails is passed over, and none valid is "not found".
func TestNewestValid(t *testing.T) {
	r := testutil.Root(t)
	now := time.Date(2026, 12, 7, 3, 0, 0, 0, time.UTC)
	cfg := backup.Config{Paths: backup.Paths{Root: r.Dir}, Now: func() time.Time { return now }}
	cfg, err := cfg.Resolved()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	first, err := backup.Create(ctx, cfg, backup.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	now = now.Add(time.Hour)
	m, err := backup.Create(ctx, cfg, backup.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	second := m.Stamp
	res, err := backup.NewestValid(ctx, cfg)
	if err != nil || res.Stamp != second {
		t.Fatalf("NewestValid = %v, %v; want %s", res, err, second)
	}
	// Damage the newest: latest falls back to the one before.
	db := filepath.Join(cfg.BackupDir, "snapshots", second, "db", "atocore.db")
	if err := os.Remove(db); err != nil { // a hardlink to the first's copy
		t.Fatal(err)
	}
	if err := os.WriteFile(db, []byte("not a database"), 0o600); err != nil {
		t.Fatal(err)
	}
	res, err = backup.NewestValid(ctx, cfg)
	if err != nil || res.Stamp != first.Stamp {
		t.Fatalf("NewestValid with the newest damaged = %v, %v; want %s", res, err, first.Stamp)
	}
	if err := os.RemoveAll(filepath.Join(cfg.BackupDir, "snapshots", first.Stamp)); err != nil {
		t.Fatal(err)
	}
	_, err = backup.NewestValid(ctx, cfg)
	var nf *backup.NotFoundError
	if !errors.As(err, &nf) || !errors.Is(err, backup.ErrNoValidSnapshot) || !strings.Contains(err.Error(), second) {
		t.Fatalf("NewestValid with none valid = %v", err)
	}
}
