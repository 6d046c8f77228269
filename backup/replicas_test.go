package backup_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/afero"

	"github.com/atocore/atocore-backup/backup"
	"github.com/atocore/atocore-backup/internal/snapshot"
)

// Prune removes a snapshot's replication chains with it, keeps a snapshot
// a replicator is still ticking on, and removes chains whose base a
// killed prune already deleted.
func TestPruneFollowsReplication(t *testing.T) {
	dir := t.TempDir()
	fsys := afero.NewOsFs()
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	old, ticking, kept := "20261101T020000Z", "20261102T020000Z", "20261207T020000Z"
	orphan := "20261001T020000Z"
	for _, s := range []string{old, ticking, kept} {
		if err := os.MkdirAll(snapshot.Dir(dir, s), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	chain := func(base string, lastTick time.Time) string {
		d := filepath.Join(dir, snapshot.ReplicaDir, base, "20261207T000000.000Z")
		if err := os.MkdirAll(filepath.Join(d, "L0"), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "alive.json"), []byte(`{"time":"`+lastTick.Format(time.RFC3339Nano)+`","txid":9}`), 0o600); err != nil {
			t.Fatal(err)
		}
		return d
	}
	chain(old, now.Add(-time.Hour))
	chain(ticking, now.Add(-3*time.Second))
	chain(orphan, now.Add(-time.Hour))
	res, err := backup.PruneDir(context.Background(), fsys, dir, backup.PruneOptions{
		Policy: backup.Policy{KeepDaily: 1},
		Now:    func() time.Time { return now },
		Check: func(ctx context.Context, fsys afero.Fs, dir, stamp string) (backup.Verdict, error) {
			return backup.Verdict{Valid: true, Kind: backup.KindScheduled}, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, gone := range []string{old, orphan} {
		if _, err := os.Stat(filepath.Join(dir, snapshot.ReplicaDir, gone)); !os.IsNotExist(err) {
			t.Errorf("the chains on %s are still there (removed %v): %v", gone, res.Removed, err)
		}
	}
	if _, err := os.Stat(snapshot.Dir(dir, ticking)); err != nil {
		t.Fatalf("%s, the base a replicator ticked on 3 s ago, was removed: %v", ticking, res.Removed)
	}
	if why := res.Held[ticking]; !strings.HasPrefix(why, "replicating: ") {
		t.Errorf("held %q for %s, want the replicating reason", why, ticking)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 3 { // snapshots, replica, .lock
		names := []string{}
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("the backup directory holds %v", names)
	}
}
