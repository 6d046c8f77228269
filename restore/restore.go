package restore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/spf13/afero"

	"github.com/atocore/atocore-backup/backup"
	"github.com/atocore/atocore-backup/internal/dirlock"
	"github.com/atocore/atocore-backup/internal/durable"
	"github.com/atocore/atocore-backup/internal/snapshot"
	"github.com/atocore/atocore-backup/internal/sqlitedb"
	"github.com/atocore/atocore-backup/validate"
)

// ErrServiceNotStopped is returned when Options.ConfirmServiceStopped is
// false. Restoring under a running service corrupts SQLite state, so
// nothing is touched.
var ErrServiceNotStopped = errors.New("restore refused: confirm that the AtoCore service is stopped (--confirm-service-stopped); nothing was changed")

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
	// Lock, when set, is the backup directory's lock, already held by the
	// caller (the drill); Run neither takes nor releases it.
	Lock *backup.Lock
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
	// Warnings are non-fatal findings: a snapshot from other live paths
	// (another deployment), a snapshot without manifest.
	Warnings []string `json:"warnings"`
}

// Run restores the snapshot stamp over the live state described by cfg.
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
	if err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	if opts.Lock == nil {
		l, err := dirlock.Acquire(ctx, cfg.FS, cfg.BackupDir, "restore", opts.Wait)
		if err != nil {
			return nil, fmt.Errorf("restore: %w", err)
		}
		defer l.Release()
		opts.Lock = l
	}
	r := &restorer{cfg: cfg, opts: opts, stamp: stamp, dir: snapshot.Dir(cfg.BackupDir, stamp),
		res: &Result{Stamp: stamp, Warnings: []string{}}}
	err = r.run(ctx)
	if r.res.DBRestored {
		r.recordRestore(ctx) // rule 11: see record.go
	}
	if err != nil {
		return r.res, fmt.Errorf("restore %s: %w", stamp, err)
	}
	return r.res, nil
}

type restorer struct {
	cfg      backup.Config
	opts     Options
	stamp    string
	dir      string // the snapshot directory on cfg.FS
	res      *Result
	meta     *snapshot.Metadata
	manifest map[string]snapshot.File // nil for snapshots without a manifest
	owners   map[string]owner         // of the live paths, read before any change
	// interrupted is set when a previous restore died during its Chroma
	// swap: the live Chroma directory is half old, half new, and that
	// restore's own pre-restore snapshot holds what was there before.
	interrupted bool
	// checked is the staged database file that passed integrity_check
	// (see stageDB); nil until then.
	checked os.FileInfo
}

// removeStaleTemps removes the staged copies a killed restore left beside
// the live database and registry (they are never the live data), and
// notes a Chroma swap that was interrupted.
func (r *restorer) removeStaleTemps() {
	for _, live := range []string{r.cfg.DBPath, r.cfg.RegistryPath} {
		if live == "" {
			continue
		}
		pattern := filepath.Join(filepath.Dir(live), "."+filepath.Base(live)+".restore-*")
		matches, _ := filepath.Glob(pattern)
		for _, m := range matches {
			sqlitedb.RemoveWithSidecars(m)
		}
	}
	if r.cfg.ChromaPath != "" {
		if _, err := os.Stat(filepath.Join(r.cfg.ChromaPath, stagingName)); err == nil {
			r.interrupted = true
			r.res.Warnings = append(r.res.Warnings, "interrupted_restore: a previous restore stopped while swapping the Chroma directory; "+
				"this restore replaces it, and its pre-restore snapshot leaves Chroma out (the earlier restore's pre-restore snapshot holds it)")
		}
	}
}

// checkRegistry refuses a snapshot with a registry when no registry path is
// set, and warns when the snapshot has none while the live one exists.
func (r *restorer) checkRegistry() error {
	_, err := r.cfg.FS.Stat(filepath.Join(r.dir, filepath.FromSlash(snapshot.RegistryFile)))
	has := err == nil
	switch {
	case has && r.cfg.RegistryPath == "":
		return fmt.Errorf("snapshot %s has a project registry and no registry path is set; nothing was changed: pass --registry-path or --root", r.stamp)
	case !has && r.cfg.RegistryPath != "":
		if _, err := os.Stat(r.cfg.RegistryPath); err == nil {
			r.res.Warnings = append(r.res.Warnings, fmt.Sprintf(
				"registry_not_in_snapshot: the snapshot has no project registry; the live %s was left as it is", r.cfg.RegistryPath))
		}
	}
	return nil
}

// checkNotInUse refuses when another process has the live database open
// (the service was not really stopped): a checkpoint that cannot finish says
// so. A database too damaged to checkpoint is what restores are for, so
// other errors do not stop the restore.
func (r *restorer) checkNotInUse(ctx context.Context) error {
	if _, err := os.Stat(r.cfg.DBPath); err != nil {
		return nil
	}
	if err := sqlitedb.Checkpoint(ctx, r.cfg.DBPath); errors.Is(err, sqlitedb.ErrInUse) {
		return fmt.Errorf("%w; nothing was changed", err)
	}
	return nil
}

func (r *restorer) run(ctx context.Context) error {
	// Everything that can refuse happens before anything is touched.
	if err := r.check(ctx); err != nil {
		return err
	}
	withChroma, err := r.chromaWanted()
	if err != nil {
		return err
	}
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
		"db":       ownerOf(r.cfg.DBPath, r.manifestMode(snapshot.DBFile)),
		"registry": ownerOf(r.cfg.RegistryPath, r.manifestMode(snapshot.RegistryFile)),
		"chroma":   ownerOf(r.cfg.ChromaPath, 0o700),
	}

	r.removeStaleTemps()
	t0 := time.Now()
	// Stage: copy everything next to where it goes (same filesystem),
	// database and Chroma at once on two cores, each file's digest checked
	// against the manifest as it is copied. Nothing live has changed yet,
	// and a mismatch is a refusal.
	st, err := r.stage(ctx, withChroma)
	if err != nil {
		st.discard()
		return err
	}
	r.cfg.Logger.Debug("staged and synced", "duration", time.Since(t0))
	if err := r.preSnapshot(ctx, withChroma); err != nil {
		st.discard()
		return err
	}
	// Commit: a few renames. The database first (its sidecars removed),
	// then the registry, then Chroma's contents.
	if err := r.commitDB(ctx, st.db); err != nil {
		st.discard()
		return err
	}
	r.res.DBRestored = true
	if st.registry != "" {
		if err := commitFile(st.registry, r.cfg.RegistryPath); err != nil {
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
	r.cfg.Logger.Debug("committed", "duration", time.Since(t0))
	t0 = time.Now()
	ic, err := r.checkRestored(ctx)
	if err != nil {
		return err
	}
	r.cfg.Logger.Debug("integrity_check of the restored database", "duration", time.Since(t0), "ok", ic.OK)
	r.res.RestoredIntegrityOK = ic.OK
	r.res.IntegrityDetail = ic.Detail
	if !ic.OK {
		return fmt.Errorf("the restored database %s fails integrity_check (%s): do NOT start the service; "+
			"try an older snapshot or roll back to the pre-restore snapshot", r.cfg.DBPath, ic.Detail)
	}
	return nil
}

// checkRestored applies rule 6. The restored database is the very file
// stageDB checked (a rename keeps the inode and the bytes): when the live
// path is still that file, unchanged, its result stands; otherwise the
// live file is checked now.
func (r *restorer) checkRestored(ctx context.Context) (sqlitedb.Integrity, error) {
	if fi, err := os.Stat(r.cfg.DBPath); err == nil && r.checked != nil &&
		os.SameFile(fi, r.checked) && fi.Size() == r.checked.Size() && fi.ModTime().Equal(r.checked.ModTime()) {
		return sqlitedb.Integrity{OK: true}, nil
	}
	return sqlitedb.IntegrityCheck(ctx, r.cfg.DBPath)
}

// check applies rule 2: the snapshot is validated before anything is
// touched. For a snapshot made and validated by this tool (its metadata
// says validated, it has a manifest) the structure, sizes, registry and
// Chroma segments are checked here and every file's SHA-256 while it is
// staged (still before any live change): bytes equal to those that passed
// integrity_check at creation need no second integrity_check before the one
// on the restored database (rule 6). Any other snapshot (from the Python
// implementation, say) gets every check here.
func (r *restorer) check(ctx context.Context) error {
	if err := r.readSnapshot(); err != nil && !errors.Is(err, os.ErrNotExist) {
		r.meta, r.manifest = nil, nil
	}
	trusted := r.meta != nil && r.meta.Validated && r.manifest != nil
	// For a trusted snapshot the digests are checked while staging, before
	// anything live changes; reading every byte twice would double the cost.
	opts := validate.Options{TrustIntegrity: trusted}
	if trusted {
		opts.SkipDigest = func(string) bool { return true }
	}
	v, err := validate.Dir(ctx, r.cfg.FS, r.dir, r.stamp, opts)
	if err != nil {
		return err
	}
	if !v.Valid {
		return fmt.Errorf("refusing an invalid snapshot; nothing was changed: %w", v.Err())
	}
	r.res.Warnings = append(r.res.Warnings, v.Warnings...)
	return r.readSnapshot()
}

func (r *restorer) readSnapshot() error {
	data, err := afero.ReadFile(r.cfg.FS, filepath.Join(r.dir, snapshot.MetadataFile))
	if err != nil {
		return err
	}
	if r.meta, err = snapshot.DecodeMetadata(data); err != nil {
		return err
	}
	if data, err := afero.ReadFile(r.cfg.FS, filepath.Join(r.dir, snapshot.ManifestFile)); err == nil {
		m, err := snapshot.DecodeManifest(data)
		if err != nil {
			return err
		}
		r.manifest = m.Index()
	}
	return nil
}

// chromaWanted applies rule 7 and fails before any change when --chroma is
// forced on a snapshot without Chroma.
func (r *restorer) chromaWanted() (bool, error) {
	fi, err := r.cfg.FS.Stat(filepath.Join(r.dir, snapshot.ChromaDir))
	has := err == nil && fi.IsDir()
	switch r.opts.Chroma {
	case ChromaSkip:
		return false, nil
	case ChromaForce:
		if r.cfg.ChromaPath == "" {
			return false, fmt.Errorf("no Chroma path to restore to; nothing was changed: pass --chroma-path or --root, or --no-chroma")
		}
		if !has {
			return false, fmt.Errorf("snapshot %s has no Chroma copy to force (--chroma); nothing was changed: drop --chroma or pick a snapshot made with --include-chroma", r.stamp)
		}
		return true, nil
	}
	if has && r.cfg.ChromaPath == "" {
		return false, fmt.Errorf("snapshot %s has a Chroma copy and no Chroma path is set; nothing was changed: pass --chroma-path or --root, or --no-chroma", r.stamp)
	}
	return has, nil
}

// warnOtherDeployment notes a snapshot taken from other live paths: its
// data may point at files this deployment does not have.
func (r *restorer) warnOtherDeployment() {
	src := r.meta.Source
	pairs := [][3]string{{"database", src.DBPath, r.cfg.DBPath}, {"registry", src.RegistryPath, r.cfg.RegistryPath}, {"Chroma", src.ChromaPath, r.cfg.ChromaPath}}
	for _, p := range pairs {
		if p[1] != "" && p[2] != "" && filepath.Clean(p[1]) != p[2] {
			r.res.Warnings = append(r.res.Warnings, fmt.Sprintf(
				"source_paths_differ: the snapshot's %s came from %s, the live path is %s: is this snapshot from another deployment?", p[0], p[1], p[2]))
		}
	}
}

// preSnapshot takes the safety snapshot (rule 3) under the lock already held.
func (r *restorer) preSnapshot(ctx context.Context, withChroma bool) error {
	if r.opts.NoPreSnapshot {
		return nil
	}
	if fi, err := os.Stat(r.cfg.DBPath); errors.Is(err, os.ErrNotExist) || (err == nil && fi.Size() == 0) {
		return nil // a fresh machine (or an empty file): nothing to protect
	}
	includeChroma := false
	if withChroma && !r.interrupted {
		_, err := os.Stat(filepath.Join(r.cfg.ChromaPath, snapshot.ChromaDBName))
		includeChroma = err == nil
	}
	meta, err := backup.Create(ctx, r.cfg, backup.CreateOptions{Kind: backup.KindPreRestore, IncludeChroma: includeChroma, Lock: r.opts.Lock})
	if err != nil {
		return fmt.Errorf("pre-restore safety snapshot failed, nothing was changed: %w; "+
			"if the live state is damaged beyond copying (or an earlier pre-restore snapshot already holds it), rerun with --no-pre-snapshot", err)
	}
	r.res.PreRestoreSnapshot = &meta.Stamp
	return nil
}

// snapFile opens a file of the snapshot.
func (r *restorer) snapFile(rel string) (afero.File, error) {
	return r.cfg.FS.Open(filepath.Join(r.dir, filepath.FromSlash(rel)))
}

// copyOut copies the snapshot file rel to a new temporary file beside
// target on the OS filesystem, checks its digest against the manifest (the
// snapshot could change after validation), and gives it owner o.
func (r *restorer) copyOut(ctx context.Context, rel, tmp string, o owner) error {
	src, err := r.snapFile(rel)
	if err != nil {
		return err
	}
	defer src.Close()
	d, err := durable.CopyFileDirect(ctx, tmp, src, 0o600) // synced with the rest by stage
	if err != nil {
		return err
	}
	if err := r.checkDigest(rel, d); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	if err := o.apply(tmp, false); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("set owner of %s: %w", tmp, err)
	}
	return nil
}

// checkDigest refuses a staged copy of rel whose digest d is not the
// manifest's (the snapshot changed after it was validated).
func (r *restorer) checkDigest(rel string, d durable.Digest) error {
	if want, ok := r.manifest[rel]; ok && (want.SHA256 != d.SHA256 || want.Size != d.Size) {
		return fmt.Errorf("refusing an invalid snapshot; nothing was changed: %w", &validate.Error{Stamp: r.stamp,
			Errors: []string{validate.CodeManifestMismatch + ": " + rel + ": sha256 differs from the manifest"}})
	}
	return nil
}

func (r *restorer) manifestMode(rel string) os.FileMode {
	if f, ok := r.manifest[rel]; ok {
		return f.FileMode()
	}
	return 0o600
}

// staged is what stage copied: temporary names beside the live files.
type staged struct {
	db, registry, chroma string
}

// discard removes whatever was staged and not yet committed.
func (st *staged) discard() {
	if st.db != "" {
		sqlitedb.RemoveWithSidecars(st.db)
	}
	if st.registry != "" {
		_ = os.Remove(st.registry)
	}
	if st.chroma != "" {
		_ = os.RemoveAll(st.chroma)
	}
}

func (r *restorer) stage(ctx context.Context, withChroma bool) (*staged, error) {
	st := &staged{}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	var dbErr, chromaErr error
	t0 := time.Now()
	wg.Go(func() {
		if st.db, dbErr = r.stageDB(ctx); dbErr != nil {
			cancel(dbErr)
		}
		r.cfg.Logger.Debug("database staged and checked", "duration", time.Since(t0), "err", dbErr)
	})
	if withChroma {
		wg.Go(func() {
			if st.chroma, chromaErr = r.stageChroma(ctx); chromaErr != nil {
				cancel(chromaErr)
			}
			r.cfg.Logger.Debug("Chroma staged", "duration", time.Since(t0), "err", chromaErr)
		})
	}
	regTmp, regErr := r.stageRegistry(ctx)
	st.registry = regTmp
	wg.Wait()
	for _, err := range []error{dbErr, chromaErr, regErr} {
		var ve *validate.Error
		if errors.As(err, &ve) {
			return st, err // a refusal explains itself best
		}
	}
	for _, err := range []error{dbErr, chromaErr, regErr} {
		if err != nil && !errors.Is(err, context.Canceled) {
			return st, err
		}
	}
	if err := errors.Join(dbErr, chromaErr, regErr, ctx.Err()); err != nil {
		return st, err
	}
	// One flush of each filesystem instead of a wait per file.
	t0 = time.Now()
	defer func() { r.cfg.Logger.Debug("staged files synced", "duration", time.Since(t0)) }()
	osfs := afero.NewOsFs()
	if err := durable.SyncTree(osfs, filepath.Dir(r.cfg.DBPath)); err != nil {
		return st, err
	}
	if withChroma {
		if err := durable.SyncTree(osfs, st.chroma); err != nil {
			return st, err
		}
	}
	return st, nil
}

// stageDB copies the snapshot's database beside the live one, in the
// journal mode the service used (the snapshot's copy is a single
// DELETE-mode file), owned as the live file is.
func (r *restorer) stageDB(ctx context.Context) (string, error) {
	live := r.cfg.DBPath
	o := r.owners["db"]
	if err := mkdirOwned(filepath.Dir(live), o); err != nil {
		return "", err
	}
	tmp := durable.TempName(live, "restore")
	if err := r.copyDBOut(ctx, tmp, o); err != nil {
		return tmp, fmt.Errorf("copy the snapshot's database to %s: %w", filepath.Dir(live), err)
	}
	if err := o.apply(tmp, false); err != nil {
		return tmp, fmt.Errorf("set owner of %s: %w", tmp, err)
	}
	if r.meta.DBJournalMode == "wal" {
		if err := sqlitedb.SetJournalMode(ctx, tmp, "wal"); err != nil {
			return tmp, err
		}
		if err := o.apply(tmp, false); err != nil {
			return tmp, err
		}
	}
	fi, err := os.Stat(tmp)
	if err != nil {
		return tmp, err
	}
	r.checked = fi
	return tmp, ctx.Err()
}

// copyDBOut copies the snapshot's database to tmp, checks the copy's
// digest against the manifest and runs integrity_check (rule 6), while
// Chroma is still being staged: a database that fails either is refused
// before anything live changes. The commit renames this very file into
// place; the only change to it after the check is SQLite's own switch of
// its header to WAL mode.
//
// When the manifest lists the database, integrity_check runs on the
// snapshot's own file from the start, beside the copy, and the copy is
// written around the page cache (durable.CopyFileDirect) with the digest
// of the bytes written: equal to the manifest's, it proves that the staged
// file holds the very bytes checked (the snapshot is not written to, and
// the backup directory's lock keeps prune away). The check no longer waits
// for the copy, and nothing reads the copy back. Without a manifest (a
// snapshot from the Python implementation) the staged copy itself is
// checked. Where the snapshot is not on the OS filesystem, the copy hashes
// as it goes and is checked.
func (r *restorer) copyDBOut(ctx context.Context, tmp string, o owner) error {
	src, onOS := durable.OSPath(r.cfg.FS, filepath.Join(r.dir, filepath.FromSlash(snapshot.DBFile)))
	_, listed := r.manifest[snapshot.DBFile]
	var (
		ic           sqlitedb.Integrity
		d            durable.Digest
		icErr, cpErr error
		wg           sync.WaitGroup
	)
	switch {
	case onOS && listed:
		wg.Go(func() { ic, icErr = sqlitedb.IntegrityCheck(ctx, src) })
		d, cpErr = copyOSFile(ctx, src, tmp)
	case onOS: // no digest to compare with: the copy itself is checked
		if cpErr = durable.CopyRaw(ctx, src, tmp, 0o600); cpErr == nil {
			ic, icErr = sqlitedb.IntegrityCheck(ctx, tmp)
		}
	default:
		if cpErr = r.copyOut(ctx, snapshot.DBFile, tmp, o); cpErr == nil {
			ic, icErr = sqlitedb.IntegrityCheck(ctx, tmp)
		}
	}
	wg.Wait()
	err := errors.Join(cpErr, icErr)
	if err == nil && onOS && listed {
		err = r.checkDigest(snapshot.DBFile, d)
	}
	if err == nil && !ic.OK {
		err = fmt.Errorf("refusing an invalid snapshot; nothing was changed: %w", &validate.Error{Stamp: r.stamp,
			Errors: []string{validate.CodeDBIntegrity + ": " + ic.Detail}})
	}
	if err != nil {
		_ = os.Remove(tmp)
	}
	return err
}

// copyOSFile copies the OS file src to the new file dst with
// durable.CopyFileDirect and returns the digest of the bytes written.
func copyOSFile(ctx context.Context, src, dst string) (durable.Digest, error) {
	in, err := os.Open(src)
	if err != nil {
		return durable.Digest{}, err
	}
	defer in.Close()
	return durable.CopyFileDirect(ctx, dst, in, 0o600)
}

// commitDB applies rule 4: the staged database replaces the live one in one
// rename, after the live file's stale sidecars are gone.
func (r *restorer) commitDB(ctx context.Context, tmp string) error {
	live := r.cfg.DBPath
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

// stageRegistry copies the snapshot's registry beside the live one; "" when
// the snapshot has none.
func (r *restorer) stageRegistry(ctx context.Context) (string, error) {
	if _, err := r.cfg.FS.Stat(filepath.Join(r.dir, filepath.FromSlash(snapshot.RegistryFile))); err != nil {
		return "", nil // the registry did not exist when the snapshot was taken
	}
	live := r.cfg.RegistryPath
	o := r.owners["registry"]
	if err := mkdirOwned(filepath.Dir(live), o); err != nil {
		return "", err
	}
	tmp := durable.TempName(live, "restore")
	if err := r.copyOut(ctx, snapshot.RegistryFile, tmp, o); err != nil {
		return "", fmt.Errorf("copy the snapshot's registry: %w", err)
	}
	return tmp, nil
}

func commitFile(tmp, live string) error {
	if err := os.Rename(tmp, live); err != nil {
		return fmt.Errorf("replace %s: %w", live, err)
	}
	return durable.SyncDir(afero.NewOsFs(), filepath.Dir(live))
}
