package restore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/atocore/atocore-backup/backup"
	"github.com/atocore/atocore-backup/internal/dirlock"
	"github.com/atocore/atocore-backup/internal/snapshot"
	"github.com/atocore/atocore-backup/internal/timeline"
)

// ErrServiceNotStopped is returned when Options.ConfirmServiceStopped is
// false. Restoring under a running service corrupts SQLite state, so
// nothing is touched. It is a *RefusedError (errors.Is(err, ErrRefused)).
var ErrServiceNotStopped error = &RefusedError{Reason: ReasonNotConfirmed,
	Detail: "confirm that the AtoCore service is stopped before restoring over it"}

// ChromaMode says whether to restore the Chroma directory.
type ChromaMode int

const (
	// ChromaAuto restores Chroma when the snapshot has it.
	ChromaAuto ChromaMode = iota
	// ChromaForce restores Chroma and fails if the snapshot has none.
	ChromaForce
	// ChromaSkip leaves the live Chroma directory alone.
	ChromaSkip
)

// Options tunes a restore. ConfirmServiceStopped must be set.
type Options struct {
	// ConfirmServiceStopped is the caller's word that the AtoCore service
	// is stopped. Without it Run refuses and touches nothing.
	ConfirmServiceStopped bool
	// NoPreSnapshot skips the pre-restore safety snapshot. Use it only
	// with another rollback path (rolling back to a pre-restore snapshot).
	NoPreSnapshot bool
	Chroma        ChromaMode
	// Wait waits for the backup directory's lock instead of failing with backup.ErrBusy.
	Wait bool
	// WaitLimit, with Wait, gives up after this long with an error that
	// matches backup.ErrBusy; 0 waits until ctx ends.
	WaitLimit time.Duration
	// Waiting, with Wait, is called once when the wait begins, with the
	// error (matching backup.ErrBusy) that names the lock's holder.
	Waiting func(busy error)
	// Lock, when set, is the backup directory's lock, already held by the
	// caller (the drill); Run neither takes nor releases it.
	Lock *backup.Lock
	// Rebuild, when set, changes the staged copy of the snapshot's
	// database (already checked against the manifest) before anything
	// live changes: restore --at replays replication segments over it
	// (replica.Plan.Rebuild). The result must then pass integrity_check,
	// else the restore is refused and nothing live is touched.
	Rebuild func(ctx context.Context, db *os.File) error
}

// Result is what a restore did. Its JSON is the output of
// `atocore-backup restore`.
type Result struct {
	Stamp string `json:"stamp"`
	// PreRestoreSnapshot is the stamp of the safety snapshot: write it
	// down, it is how this restore is rolled back. nil when none was taken.
	PreRestoreSnapshot  *string `json:"pre_restore_snapshot"`
	DBRestored          bool    `json:"db_restored"`
	RegistryRestored    bool    `json:"registry_restored"`
	ChromaRestored      bool    `json:"chroma_restored"`
	RestoredIntegrityOK bool    `json:"restored_integrity_ok"`
	// IntegrityDetail says what integrity_check found when it was not ok.
	IntegrityDetail string `json:"integrity_detail,omitempty"`
	// Interrupted describes an earlier restore that died after it began
	// changing the live state; this restore completed its work. nil when
	// there was none.
	Interrupted *Interrupted `json:"interrupted_restore,omitempty"`
	// Warnings are non-fatal findings: a snapshot from other live paths
	// (another deployment), a snapshot without manifest.
	Warnings []string `json:"warnings"`
}

// Interrupted is an earlier restore that died after it began changing the
// live state (rule 10), as its journal recorded it.
type Interrupted struct {
	// Stamp is the snapshot that restore was putting back.
	Stamp string `json:"stamp"`
	// PreRestoreSnapshot holds the live state from before that restore;
	// nil when it was run without one.
	PreRestoreSnapshot *string `json:"pre_restore_snapshot"`
	// Earlier is a restore interrupted the same way before that one
	// began; that one's pre-restore snapshot holds the older state.
	Earlier *Interrupted `json:"earlier,omitempty"`
}

// Run restores the snapshot stamp over the live state described by cfg.
// Every refusal is a *RefusedError and changes nothing; a snapshot or
// backup directory that does not exist is a *backup.NotFoundError.
func Run(ctx context.Context, cfg backup.Config, stamp string, opts Options) (*Result, error) {
	if !opts.ConfirmServiceStopped {
		return nil, ErrServiceNotStopped
	}
	if _, err := snapshot.ParseStamp(stamp); err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	cfg, err := cfg.Resolved()
	if err == nil {
		err = cfg.Require(backup.NeedDB, backup.NeedBackup)
	}
	if err == nil {
		err = existsOn(cfg, snapshot.Dir(cfg.BackupDir, stamp))
	}
	if err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	live, err := cfg.Paths.Real()
	if err != nil {
		return nil, fmt.Errorf("restore: %w", &RefusedError{Reason: ReasonUnsafeLayout, Detail: "the live paths cannot be resolved", Err: err})
	}
	if opts.Lock == nil {
		l, err := dirlock.Acquire(ctx, cfg.FS, cfg.BackupDir, "restore", dirlock.Wait{On: opts.Wait, Limit: opts.WaitLimit, Notify: opts.Waiting})
		if err != nil {
			return nil, fmt.Errorf("restore: %w", err)
		}
		defer l.Release()
		opts.Lock = l
	}
	r := &restorer{cfg: cfg, live: live, opts: opts, stamp: stamp, dir: snapshot.Dir(cfg.BackupDir, stamp),
		res: &Result{Stamp: stamp, Warnings: []string{}}, timeline: timeline.New(cfg.Logger)}
	err = r.run(ctx)
	if r.res.DBRestored {
		r.recordRestore(ctx) // rule 11: see record.go
	}
	if err != nil {
		return r.res, fmt.Errorf("restore %s: %w", stamp, err)
	}
	return r.res, nil
}

// existsOn returns a *backup.NotFoundError when the backup directory or the
// snapshot directory dir does not exist on cfg.FS.
func existsOn(cfg backup.Config, dir string) error {
	if _, err := cfg.FS.Stat(cfg.BackupDir); errors.Is(err, os.ErrNotExist) {
		return &backup.NotFoundError{What: backup.WhatBackupDir, Path: cfg.BackupDir}
	}
	if _, err := cfg.FS.Stat(dir); errors.Is(err, os.ErrNotExist) {
		return &backup.NotFoundError{What: backup.WhatSnapshot, Path: dir}
	}
	return nil
}

type restorer struct {
	cfg backup.Config
	// live is cfg.Paths with symbolic links resolved once (rule 9): every
	// file operation on the live state uses it, so the restored files
	// replace the links' targets and the links stay.
	live     backup.Paths
	opts     Options
	stamp    string
	dir      string // the snapshot directory on cfg.FS
	res      *Result
	meta     *snapshot.Metadata
	manifest map[string]snapshot.File // nil for snapshots without a manifest
	owners   map[string]owner         // of the live paths, read before any change
	// interrupted is set when a previous restore died during its swap: the
	// live Chroma directory may be half old, half new, and that restore's
	// own pre-restore snapshot holds what was there before.
	interrupted bool
	// checked is the staged database file that passed integrity_check
	// (see stageDB); nil until then.
	checked os.FileInfo
	// timeline logs the steps for restore -v.
	timeline timeline.Timeline
}

func (r *restorer) run(ctx context.Context) error {
	// Everything that can refuse happens before anything is touched:
	// what a killed restore left (the journal), the cheap checks of the
	// layout and of who holds the database, then the snapshot's validation.
	if err := r.readInterrupted(); err != nil {
		return err
	}
	if err := r.readSnapshot(); err != nil && !errors.Is(err, os.ErrNotExist) {
		r.meta, r.manifest = nil, nil
	}
	withChroma, err := r.chromaWanted()
	if err != nil {
		return err
	}
	if r.interrupted && !withChroma {
		return &RefusedError{Reason: ReasonInterrupted, What: backup.WhatChroma,
			Detail: "the live Chroma directory is still half replaced by an interrupted restore (" + r.res.Interrupted.describe() +
				"), and this restore would leave it so; restore Chroma too, or restore the pre-restore snapshot named"}
	}
	t0 := time.Now()
	if err := r.preflight(withChroma); err != nil {
		return err
	}
	r.timeline.Step("preflight (layout, holders)", t0)
	t0 = time.Now()
	if err := r.check(ctx); err != nil {
		return err
	}
	r.timeline.Step("snapshot validated", t0)
	r.warnOtherDeployment()
	if err := r.checkRegistry(); err != nil {
		return err
	}
	if err := r.checkNotInUse(ctx); err != nil {
		return err
	}
	// Owners are read before anything is created: on a fresh machine the
	// directories made below must take the owner of the existing parent
	// (the service user), not the restoring user's.
	r.owners = map[string]owner{
		"db":       ownerOf(r.live.DBPath, r.manifestMode(snapshot.DBFile)),
		"registry": ownerOf(r.live.RegistryPath, r.manifestMode(snapshot.RegistryFile)),
		"chroma":   ownerOf(r.live.ChromaPath, 0o700),
	}

	if err := r.recover(); err != nil {
		return err
	}
	j := &journal{cfg: r.cfg, Stamp: r.stamp, Phase: phaseStaging, Earlier: r.res.Interrupted}
	if err := j.write(); err != nil {
		return err
	}
	t0 = time.Now()
	// Stage: copy everything next to where it goes (same filesystem),
	// database and Chroma at once on two cores, each file's digest checked
	// against the manifest as it is copied. Nothing live has changed yet,
	// and a mismatch is a refusal.
	st, err := r.stage(ctx, withChroma)
	if err != nil {
		st.discard()
		j.abandon()
		return err
	}
	r.timeline.Step("staged and synced", t0)
	t0 = time.Now()
	err = r.preSnapshot(ctx, withChroma)
	r.timeline.Step("pre-restore snapshot", t0, "skipped", r.opts.NoPreSnapshot, "err", err)
	if err != nil {
		st.discard()
		j.abandon()
		return err
	}
	// Staging and the safety snapshot take a while: a service started
	// meanwhile would write into the file about to be replaced. Look again
	// just before the first change.
	if err := r.checkHolders(); err != nil {
		st.discard()
		j.abandon()
		return err
	}
	if err := r.checkNotInUse(ctx); err != nil {
		st.discard()
		j.abandon()
		return err
	}
	// From here on the live state changes: the journal says so first, and
	// names the snapshot that holds what was there (rule 10).
	j.Phase, j.PreRestoreSnapshot = phaseSwapping, r.res.PreRestoreSnapshot
	if err := j.write(); err != nil {
		st.discard()
		j.abandon()
		return err
	}
	t0 = time.Now()
	if err := r.commit(ctx, st, withChroma); err != nil {
		return err
	}
	j.remove()
	r.timeline.Step("committed", t0)
	t0 = time.Now()
	ic, err := r.checkRestored(ctx)
	if err != nil {
		return err
	}
	r.timeline.Step("integrity_check of the restored database", t0, "ok", ic.OK)
	r.res.RestoredIntegrityOK = ic.OK
	r.res.IntegrityDetail = ic.Detail
	if !ic.OK {
		return fmt.Errorf("the restored database %s fails integrity_check (%s): do NOT start the service; "+
			"try an older snapshot or roll back to the pre-restore snapshot", r.live.DBPath, ic.Detail)
	}
	return nil
}

// preSnapshot takes the safety snapshot (rule 3) under the lock already held.
func (r *restorer) preSnapshot(ctx context.Context, withChroma bool) error {
	if r.opts.NoPreSnapshot {
		return nil
	}
	if fi, err := os.Stat(r.live.DBPath); errors.Is(err, os.ErrNotExist) || (err == nil && fi.Size() == 0) {
		return nil // a fresh machine (or an empty file): nothing to protect
	}
	includeChroma := false
	if withChroma && !r.interrupted {
		_, err := os.Stat(r.live.ChromaPath + string(os.PathSeparator) + snapshot.ChromaDBName)
		includeChroma = err == nil
	}
	meta, err := backup.Create(ctx, r.cfg, backup.CreateOptions{Kind: backup.KindPreRestore, IncludeChroma: includeChroma, Lock: r.opts.Lock})
	if err != nil {
		return &PreSnapshotError{Err: err}
	}
	r.res.PreRestoreSnapshot = &meta.Stamp
	return nil
}

// PreSnapshotError says that the pre-restore safety snapshot could not be
// taken; nothing was changed. When the live state is damaged beyond
// copying, or an earlier pre-restore snapshot already holds it, the restore
// can be run without one (Options.NoPreSnapshot).
type PreSnapshotError struct{ Err error }

func (e *PreSnapshotError) Error() string {
	return fmt.Sprintf("pre-restore safety snapshot failed, nothing was changed: %v", e.Err)
}

// Unwrap returns the cause.
func (e *PreSnapshotError) Unwrap() error { return e.Err }
