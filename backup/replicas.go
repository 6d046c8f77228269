package backup

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/afero"

	"github.com/atocore/atocore-backup/internal/durable"
	"github.com/atocore/atocore-backup/internal/snapshot"
)

// Replication chains (package replica) live in replica/<BASE>/<CHAIN>/,
// and a chain cannot be restored from without its base snapshot: the
// window of restore --at follows the snapshots' retention. Prune removes
// replica/<BASE> with the snapshot BASE, and keeps a snapshot whose chain
// a replicator is still writing (its alive.json is recent), so that a
// running replicate never loses its base under it; it moves on to the
// newest snapshot within a minute of its creation.

// replicatingFor is how recent a chain's last tick must be for its base
// to be held.
const replicatingFor = 5 * time.Minute

// replicating returns, for a snapshot with a chain a replicator ticked
// within replicatingFor of now, why prune must keep it; "" otherwise.
func replicating(fsys afero.Fs, backupDir, stamp string, now time.Time) string {
	base := filepath.Join(backupDir, snapshot.ReplicaDir, stamp)
	chains, err := afero.ReadDir(fsys, base)
	if err != nil {
		return ""
	}
	for _, c := range chains {
		if !c.IsDir() {
			continue
		}
		b, err := durable.ReadFileNoLinks(fsys, filepath.Join(base, c.Name()), "alive.json", 1<<12)
		if err != nil {
			continue
		}
		var a struct {
			Time time.Time `json:"time"`
		}
		if json.Unmarshal(b, &a) != nil {
			continue
		}
		if age := now.Sub(a.Time); age < replicatingFor && age > -replicatingFor {
			return fmt.Sprintf("replicating: chain %s ticked at %s (replicate is running on this snapshot)", c.Name(), a.Time.UTC().Format(time.RFC3339))
		}
	}
	return ""
}

// removeReplicas deletes replica/<stamp>, the chains on a snapshot just
// removed: a rename to a trash name, then the delete (the next run's
// RemoveLeftovers finishes a delete a crash cut short).
func removeReplicas(fsys afero.Fs, backupDir, stamp string) error {
	dir := filepath.Join(backupDir, snapshot.ReplicaDir, stamp)
	if _, err := fsys.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	trash := filepath.Join(backupDir, snapshot.TrashPrefix+"replica-"+stamp)
	if err := fsys.Rename(dir, trash); err != nil {
		return fmt.Errorf("move the replication of %s out of %s/: %w", stamp, snapshot.ReplicaDir, err)
	}
	if err := fsys.RemoveAll(trash); err != nil {
		return fmt.Errorf("delete %s (already out of %s/; the next run retries): %w", trash, snapshot.ReplicaDir, err)
	}
	return nil
}

// removeOrphanReplicas deletes the chains whose base snapshot is gone (a
// prune killed between the two removals). The caller holds the lock.
func removeOrphanReplicas(fsys afero.Fs, backupDir string) error {
	bases, err := afero.ReadDir(fsys, filepath.Join(backupDir, snapshot.ReplicaDir))
	if err != nil {
		return nil
	}
	for _, b := range bases {
		if _, err := snapshot.ParseStamp(b.Name()); err != nil || !b.IsDir() {
			continue
		}
		if _, err := fsys.Stat(snapshot.Dir(backupDir, b.Name())); errors.Is(err, os.ErrNotExist) {
			if err := removeReplicas(fsys, backupDir, b.Name()); err != nil {
				return err
			}
		}
	}
	return nil
}
