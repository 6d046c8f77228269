package restore

import (
	"context"

	"github.com/atocore/atocore-backup/backup"
)

// recordRestore applies rule 11: once the live database is the snapshot's
// (the restore committed, even if a later step failed), it records in
// <backup_dir>/restores.jsonl that this snapshot was restored now, so that
// retention keeps it for backup.RestoredFromAge even when no pre-restore
// snapshot was taken. The restore has happened whatever the record does:
// a record that cannot be written is a warning, not a failure.
func (r *restorer) recordRestore(ctx context.Context) {
	if err := backup.RecordRestore(context.WithoutCancel(ctx), r.cfg, r.stamp, r.cfg.Now()); err != nil {
		r.res.Warnings = append(r.res.Warnings, "restore_not_recorded: "+err.Error()+
			"; retention keeps snapshot "+r.stamp+" by its policy only (see the runbook to record it by hand)")
	}
}
