// Package restore puts a snapshot back in place of an AtoCore deployment's
// live state, following the rules of the restore procedure:
//
//  1. it refuses unless the caller confirms the service is stopped;
//
//  2. it validates the snapshot first and refuses an invalid one;
//
//  3. it takes a pre-restore safety snapshot of the live state (unless told
//     not to, or there is no live database to protect);
//
//  4. it replaces the database atomically and removes stale -wal/-shm
//     sidecars, which SQLite would otherwise replay onto the restored file;
//
//  5. it never removes or renames the Chroma directory (it may be a mount
//     point): it clears its contents and copies the snapshot's in;
//
//  6. it runs PRAGMA integrity_check on the restored database;
//
//  7. it restores Chroma when the snapshot has it, unless forced or skipped;
//
//  11. once the live database is replaced, it records the restore in
//     <backup_dir>/restores.jsonl, so that retention keeps the snapshot it
//     came from for seven days (reason restored-from).
//
//     res, err := restore.Run(ctx, cfg, "20260407T060000Z", restore.Options{ConfirmServiceStopped: true})
//
// Restored files keep the owner and mode the live files had, so the
// service user can still open them.
//
// Drill runs the restore drill: a snapshot, a marker written through the
// embedding server's MarkerWriter (or into the drill's own table,
// DrillTable), a restore, and a check that the marker is gone.
package restore
