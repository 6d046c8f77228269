package backup_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/atocore/atocore-backup/backup"
	"github.com/atocore/atocore-backup/internal/testutil"
)

// A cooperating ingestion process holding the file lock keeps the Chroma
// copy waiting; once released, the backup proceeds.
func TestFileLockerIsSharedWithIngestion(t *testing.T) {
	r := testutil.Root(t)
	path := filepath.Join(t.TempDir(), "ingest.lock")
	ingestion := &backup.FileLocker{Path: path, Poll: 20 * time.Millisecond}
	unlock, err := ingestion.Lock(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	_, err = backup.Create(ctx, testutil.Config(r), backup.CreateOptions{IncludeChroma: true, IngestionLock: &backup.FileLocker{Path: path}})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("create while ingestion holds the lock: %v, want it to wait until the deadline", err)
	}
	unlock()
	if _, err := backup.Create(context.Background(), testutil.Config(r), backup.CreateOptions{IncludeChroma: true, IngestionLock: &backup.FileLocker{Path: path}}); err != nil {
		t.Fatal(err)
	}
}
