package restore_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/atocore/atocore-backup/backup"
	"github.com/atocore/atocore-backup/internal/testutil"
	"github.com/atocore/atocore-backup/restore"
)

// Rule 9: the database, registry and Chroma directory reached through
// symbolic links are restored into the links' targets; the links stay,
// and the stale sidecars removed are the target's.
func TestRestoreThroughSymlinksKeepsTheLinks(t *testing.T) {
	r := testutil.Root(t)
	snap := testutil.Create(t, r, backup.CreateOptions{IncludeChroma: true})
	fpSnap := testutil.Fingerprint(t, r.DBPath)
	vol := t.TempDir()
	move := func(live, name string) string {
		t.Helper()
		target := filepath.Join(vol, name)
		if err := os.Rename(live, target); err != nil {
			t.Fatal(err)
		}
		for _, s := range []string{"-wal", "-shm"} {
			_ = os.Rename(live+s, target+s)
		}
		if err := os.Symlink(target, live); err != nil {
			t.Fatal(err)
		}
		return target
	}
	dbTarget := move(r.DBPath, "atocore.db")
	regTarget := move(r.RegistryPath, "registry.json")
	chromaTarget := move(r.ChromaPath, "chroma")
	marker(t, r)
	if err := os.WriteFile(dbTarget+"-shm", []byte("stale"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(regTarget, []byte(`{"projects": []}`), 0o600); err != nil {
		t.Fatal(err)
	}
	res, err := restore.Run(context.Background(), testutil.Config(r), snap.Stamp, confirmed)
	if err != nil {
		t.Fatal(err)
	}
	if !res.DBRestored || !res.RegistryRestored || !res.ChromaRestored {
		t.Fatalf("result %+v", res)
	}
	for live, target := range map[string]string{r.DBPath: dbTarget, r.RegistryPath: regTarget, r.ChromaPath: chromaTarget} {
		fi, err := os.Lstat(live)
		if err != nil || fi.Mode()&os.ModeSymlink == 0 {
			t.Fatalf("%s is no longer a symbolic link", live)
		}
		if got, _ := os.Readlink(live); got != target {
			t.Fatalf("%s points to %s, want %s", live, got, target)
		}
	}
	if testutil.Fingerprint(t, dbTarget) != fpSnap {
		t.Fatal("the link's target does not hold the snapshot's database")
	}
	if data, _ := os.ReadFile(dbTarget + "-shm"); string(data) == "stale" {
		t.Fatal("the target's stale -shm was left beside the restored database")
	}
	if data, _ := os.ReadFile(regTarget); string(data) == `{"projects": []}` {
		t.Fatal("the registry's target was not restored")
	}
	if _, err := os.Stat(filepath.Join(chromaTarget, "chroma.sqlite3")); err != nil {
		t.Fatalf("the Chroma target was not restored: %v", err)
	}
	if n := drillCount(t, r.DBPath); n != 0 {
		t.Fatalf("%d markers after the restore", n)
	}
}
