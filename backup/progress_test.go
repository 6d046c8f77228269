package backup_test

import (
	"context"
	"sync"
	"testing"

	"github.com/atocore/atocore-backup/backup"
	"github.com/atocore/atocore-backup/internal/testutil"
	"github.com/atocore/atocore-backup/validate"
)

// Create and validate report the bytes they move, against a total that
// covers them, under WithProgress.
func TestProgress(t *testing.T) {
	r := testutil.Root(t)
	var mu sync.Mutex
	var calls int
	var done, total int64
	ctx := backup.WithProgress(context.Background(), func(d, tot int64) {
		mu.Lock()
		defer mu.Unlock()
		if d > tot || d < done {
			t.Errorf("report %d of %d after %d", d, tot, done)
		}
		calls++
		done, total = d, tot
	})
	meta, err := backup.Create(ctx, testutil.Config(r), backup.CreateOptions{IncludeChroma: true})
	if err != nil {
		t.Fatal(err)
	}
	if calls == 0 || done < meta.DBSizeBytes+meta.ChromaBytes || total > 3*(meta.DBSizeBytes+meta.ChromaBytes) {
		t.Fatalf("create: %d reports, last %d of %d, for %d database and %d Chroma bytes", calls, done, total, meta.DBSizeBytes, meta.ChromaBytes)
	}
	if done != total {
		t.Fatalf("create ended at %d of %d", done, total)
	}
	calls, done, total = 0, 0, 0
	ctx = backup.WithProgress(context.Background(), func(d, tot int64) { calls++; done, total = d, tot })
	cfg := testutil.Config(r)
	cfg, _ = cfg.Resolved()
	if res, err := validate.Snapshot(ctx, cfg.FS, cfg.BackupDir, meta.Stamp); err != nil || !res.Valid {
		t.Fatal(res, err)
	}
	if calls == 0 || done != total || done < meta.DBSizeBytes+meta.ChromaBytes {
		t.Fatalf("validate: %d reports, last %d of %d", calls, done, total)
	}
}
