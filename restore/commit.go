package restore

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/afero"

	"github.com/atocore/atocore-backup/internal/durable"
	"github.com/atocore/atocore-backup/internal/sqlitedb"
)

// commit puts the staged files in place: a few renames. The database first
// (its sidecars removed), then the registry, then Chroma's contents.
func (r *restorer) commit(ctx context.Context, st *staged, withChroma bool) error {
	if err := r.commitDB(ctx, st.db); err != nil {
		st.discard()
		return err
	}
	r.res.DBRestored = true
	if st.registry != "" {
		if err := commitFile(st.registry, r.live.RegistryPath); err != nil {
			st.discard()
			return err
		}
		r.res.RegistryRestored = true
	}
	if withChroma {
		if err := r.commitChroma(st.chroma); err != nil {
			return err
		}
		r.res.ChromaRestored = true
	}
	return nil
}

// commitDB applies rule 4: the staged database replaces the live one in one
// rename, after the live file's stale sidecars are gone. The live path is
// the link's target when the database is reached through a symbolic link
// (rule 9): SQLite keeps the sidecars beside the target, and the link stays.
func (r *restorer) commitDB(ctx context.Context, tmp string) error {
	live := r.live.DBPath
	// Fold any committed WAL frames into the old file first, so that the
	// sidecars removed next hold nothing of value even if this run dies
	// before the rename. A database too damaged to checkpoint is being
	// replaced anyway (and was copied by the pre-restore snapshot if asked).
	if _, err := os.Stat(live); err == nil {
		_ = sqlitedb.Checkpoint(ctx, live)
	}
	if err := sqlitedb.RemoveSidecars(live); err != nil {
		return fmt.Errorf("remove stale sidecars of %s: %w", live, err)
	}
	if err := os.Rename(tmp, live); err != nil {
		return fmt.Errorf("replace %s: %w", live, err)
	}
	return durable.SyncDir(afero.NewOsFs(), filepath.Dir(live))
}

func commitFile(tmp, live string) error {
	if err := os.Rename(tmp, live); err != nil {
		return fmt.Errorf("replace %s: %w", live, err)
	}
	return durable.SyncDir(afero.NewOsFs(), filepath.Dir(live))
}

// checkRestored applies rule 6. The restored database is the very file
// stageDB checked (a rename keeps the inode and the bytes): when the live
// path is still that file, unchanged, its result stands; otherwise the
// live file is checked now.
func (r *restorer) checkRestored(ctx context.Context) (sqlitedb.Integrity, error) {
	if fi, err := os.Stat(r.live.DBPath); err == nil && r.checked != nil &&
		os.SameFile(fi, r.checked) && fi.Size() == r.checked.Size() && fi.ModTime().Equal(r.checked.ModTime()) {
		return sqlitedb.Integrity{OK: true}, nil
	}
	return sqlitedb.IntegrityCheck(ctx, r.live.DBPath)
}
