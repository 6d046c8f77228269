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

	"github.com/atocore/atocore-backup/internal/durable"
	"github.com/atocore/atocore-backup/internal/progress"
	"github.com/atocore/atocore-backup/internal/snapshot"
	"github.com/atocore/atocore-backup/internal/sqlitedb"
	"github.com/atocore/atocore-backup/validate"
)

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
		r.timeline.Step("database staged and checked", t0, "err", dbErr)
	})
	if withChroma {
		wg.Go(func() {
			if st.chroma, chromaErr = r.stageChroma(ctx); chromaErr != nil {
				cancel(chromaErr)
			}
			r.timeline.Step("Chroma staged", t0, "err", chromaErr)
		})
	}
	regTmp, regErr := r.stageRegistry(ctx)
	st.registry = regTmp
	wg.Wait()
	for _, err := range []error{dbErr, chromaErr, regErr} {
		var re *RefusedError
		if errors.As(err, &re) {
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
	defer func() { r.timeline.Step("staged files synced", t0) }()
	osfs := afero.NewOsFs()
	if err := durable.SyncTree(osfs, filepath.Dir(r.live.DBPath)); err != nil {
		return st, err
	}
	if withChroma {
		if err := durable.SyncTree(osfs, st.chroma); err != nil {
			return st, err
		}
	}
	return st, nil
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
	size := int64(-1) // unknown: not listed (a snapshot without a manifest)
	if f, ok := r.manifest[rel]; ok {
		size = f.Size
	} else if fi, err := src.Stat(); err == nil {
		size = fi.Size()
	}
	progress.Plan(ctx, size)
	d, err := durable.CopyFileSized(ctx, tmp, src, 0o600, size) // synced with the rest by stage
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

// invalid is the refusal of a snapshot whose staged copy failed a check.
func (r *restorer) invalid(code, detail string) error {
	return &RefusedError{Reason: ReasonInvalidSnapshot, Detail: "the snapshot is invalid",
		Err: &validate.Error{Stamp: r.stamp, Errors: []string{code + ": " + detail}}}
}

// checkDigest refuses a staged copy of rel whose digest d is not the
// manifest's (the snapshot changed after it was validated).
func (r *restorer) checkDigest(rel string, d durable.Digest) error {
	if want, ok := r.manifest[rel]; ok && (want.SHA256 != d.SHA256 || want.Size != d.Size) {
		return r.invalid(validate.CodeManifestMismatch, rel+": sha256 differs from the manifest")
	}
	return nil
}

func (r *restorer) manifestMode(rel string) os.FileMode {
	if f, ok := r.manifest[rel]; ok {
		return f.FileMode()
	}
	return 0o600
}

// stageDB copies the snapshot's database beside the live one, in the
// journal mode the service used (the snapshot's copy is a single
// DELETE-mode file), owned as the live file is.
func (r *restorer) stageDB(ctx context.Context) (string, error) {
	live := r.live.DBPath
	o := r.owners["db"]
	if err := mkdirOwned(filepath.Dir(live), o); err != nil {
		return "", err
	}
	tmp := durable.TempName(live, "restore")
	if err := r.copyDBOut(ctx, tmp, o); err != nil {
		return tmp, fmt.Errorf("copy the snapshot's database to %s: %w", filepath.Dir(live), err)
	}
	if r.opts.Rebuild != nil {
		if err := r.rebuild(ctx, tmp); err != nil {
			return tmp, err
		}
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
// written around the page cache unless small (durable.CopyFileSized) with the digest
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
		if r.opts.Rebuild != nil {
			// The database restored is the one rebuilt over this copy,
			// and that one is checked (rebuild): checking the base too
			// would only hold the copy up.
			ic.OK = true
		} else {
			wg.Go(func() {
				t0 := time.Now()
				ic, icErr = sqlitedb.IntegrityCheck(ctx, src)
				r.timeline.Step("integrity_check of the snapshot's database", t0, "ok", ic.OK)
			})
		}
		t0 := time.Now()
		// A copy to replay over goes through the page cache: the replay
		// reads and writes its pages, and integrity_check reads them all
		// in B-tree order, which from a cold disk is page-sized random
		// reads.
		d, cpErr = copyOSFile(ctx, src, tmp, r.opts.Rebuild != nil)
		r.timeline.Step("database copied and hashed", t0)
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
		err = r.invalid(validate.CodeDBIntegrity, ic.Detail)
	}
	if err != nil {
		_ = os.Remove(tmp)
	}
	return err
}

// copyOSFile copies the OS file src to the new file dst and returns the
// digest of the bytes written: with durable.CopyFileSized (around the
// page cache unless it is small), or, cached, through the page cache by
// the kernel (durable.CopyFileKernel), unsynced (stage syncs the
// filesystem once at its end).
func copyOSFile(ctx context.Context, src, dst string, cached bool) (durable.Digest, error) {
	in, err := os.Open(src)
	if err != nil {
		return durable.Digest{}, err
	}
	defer in.Close()
	fi, err := in.Stat()
	if err != nil {
		return durable.Digest{}, err
	}
	progress.Plan(ctx, fi.Size())
	if cached {
		return durable.CopyFileKernel(ctx, in, dst, 0o600)
	}
	return durable.CopyFileSized(ctx, dst, in, 0o600, fi.Size())
}

// stageRegistry copies the snapshot's registry beside the live one; "" when
// the snapshot has none.
func (r *restorer) stageRegistry(ctx context.Context) (string, error) {
	if _, err := r.cfg.FS.Stat(filepath.Join(r.dir, filepath.FromSlash(snapshot.RegistryFile))); err != nil {
		return "", nil // the registry did not exist when the snapshot was taken
	}
	live := r.live.RegistryPath
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

// rebuild runs Options.Rebuild on the staged database and checks the
// result: a database that fails integrity_check is refused.
func (r *restorer) rebuild(ctx context.Context, tmp string) error {
	t0 := time.Now()
	f, err := os.OpenFile(tmp, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	// No fsync here: stage syncs the whole filesystem once (SyncTree)
	// before anything live changes.
	err = r.opts.Rebuild(ctx, f)
	if err == nil {
		// The replay's pages go to the disk while integrity_check reads
		// them: the sync at the end of stage then finds little to write.
		durable.StartWriteback(f)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	r.timeline.Step("replication replayed over the staged database", t0, "err", err)
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("replay replication over the staged database: %w", err)
	}
	ic, err := sqlitedb.IntegrityCheck(ctx, tmp)
	if err == nil && !ic.OK {
		err = r.invalid(validate.CodeDBIntegrity, "after replaying replication: "+ic.Detail)
	}
	if err != nil {
		_ = os.Remove(tmp)
	}
	return err
}
