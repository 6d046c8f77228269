package offsite

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/atocore/atocore-backup/backup"
	"github.com/atocore/atocore-backup/internal/snapshot"
	"github.com/atocore/atocore-backup/internal/testutil"
)

// An encrypted target without any page delta, one snapshot of which has a
// damaged remote-manifest.json (invalid, left in place: no --prune-invalid):
// remote prune must still remove what the policy condemns, as it did before
// holdNeeded walked the invalid snapshots.
func TestPruneWithADamagedRemoteManifest(t *testing.T) {
	r := testutil.Root(t)
	cfg := testutil.Config(r)
	rs, _ := keys(t)
	remote := osRemote(t)
	var stamps []string
	for i := range 4 {
		at := time.Date(2026, 4, 1+i, 6, 0, 0, 0, time.UTC)
		c := cfg
		c.Now = func() time.Time { return at }
		m, err := backup.Create(context.Background(), c, backup.CreateOptions{Kind: backup.KindScheduled})
		if err != nil {
			t.Fatal(err)
		}
		stamps = append(stamps, m.Stamp)
	}
	if _, err := pushRemote(context.Background(), cfg, remote, PushOptions{Sealing: Sealing{Recipients: rs}, DeltaChain: -1}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(snapshot.Dir(remote.Root, stamps[3]), RemoteManifestFile), []byte("{ damaged"), 0o600); err != nil {
		t.Fatal(err)
	}
	res, err := pruneRemote(context.Background(), remote, backup.PruneOptions{Policy: backup.Policy{KeepDaily: 2}})
	if err != nil {
		t.Fatalf("remote prune of a target with one damaged remote manifest: %v", err)
	}
	if len(res.Invalid) != 1 || len(res.Removed) != 1 {
		t.Fatalf("remote prune = kept %v removed %v invalid %v", res.Kept, res.Removed, res.Invalid)
	}
}
