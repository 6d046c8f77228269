package admin_test

import (
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/atocore/atocore-backup/backup"
	"github.com/atocore/atocore-backup/backup/admin"
	"github.com/atocore/atocore-backup/internal/sample"
	"github.com/atocore/atocore-backup/internal/testutil"
)

func mustConfig(t *testing.T) backup.Config { return testutil.Config(testutil.Root(t)) }

func mkfifo(path string) error { return syscall.Mkfifo(path, 0o600) }

func newHandlerFor(t *testing.T, r *sample.Root) (http.Handler, backup.Config) {
	cfg := testutil.Config(r)
	return admin.NewHandler(admin.Config{Backup: cfg, Authorize: admin.BearerToken(token)}), cfg
}

// breakSnapshotsDir puts a file where the snapshots directory belongs.
func breakSnapshotsDir(t *testing.T, r *sample.Root) {
	t.Helper()
	if err := os.MkdirAll(r.BackupDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(r.BackupDir, "snapshots"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
}
