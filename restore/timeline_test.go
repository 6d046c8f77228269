package restore_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/atocore/atocore-backup/backup"
	"github.com/atocore/atocore-backup/internal/testutil"
	"github.com/atocore/atocore-backup/restore"
)

// create -v and restore -v show each step with when it started and how
// long it took: which steps ran side by side, and which one waited.
func TestVerboseCreateAndRestoreLogEveryStepWithItsStart(t *testing.T) {
	r := testutil.Root(t)
	var buf bytes.Buffer
	cfg := testutil.Config(r)
	cfg.Logger = slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	meta, err := backup.Create(context.Background(), cfg, backup.CreateOptions{IncludeChroma: true})
	if err != nil {
		t.Fatal(err)
	}
	steps := func(want ...string) {
		t.Helper()
		lines := strings.Split(buf.String(), "\n")
		for _, w := range want {
			found := false
			for _, l := range lines {
				if strings.Contains(l, "msg=\""+w+"\"") || strings.Contains(l, "msg="+w+" ") {
					found = true
					if !strings.Contains(l, " at=") || !strings.Contains(l, " duration=") {
						t.Errorf("step %q logged without its start and duration: %s", w, l)
					}
				}
			}
			if !found {
				t.Errorf("no step %q in the log:\n%s", w, buf.String())
			}
		}
		buf.Reset()
	}
	steps("database bytes copied", "integrity_check", "database hashed", "snapshot written to disk",
		"chroma copied and hashed", "database copied, checked and hashed", "validated", "synced and placed")

	if _, err := restore.Run(context.Background(), cfg, meta.Stamp, withoutPreSnapshot(confirmed)); err != nil {
		t.Fatal(err)
	}
	steps("database copied and hashed", "integrity_check of the snapshot's database", "database staged and checked",
		"Chroma staged", "staged files synced", "staged and synced", "pre-restore snapshot", "committed",
		"integrity_check of the restored database")
}

func withoutPreSnapshot(o restore.Options) restore.Options {
	o.NoPreSnapshot = true
	return o
}
