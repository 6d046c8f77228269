package backup

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/spf13/afero"

	"github.com/atocore/atocore-backup/internal/dirlock"
	"github.com/atocore/atocore-backup/internal/durable"
	"github.com/atocore/atocore-backup/internal/snapshot"
	"github.com/atocore/atocore-backup/internal/timeline"
	"github.com/atocore/atocore-backup/validate"
)

// CreateOptions tunes one Create. The zero value makes a manual snapshot of
// the database and registry, failing at once if the directory is busy.
type CreateOptions struct {
	// Kind is recorded in the metadata: KindManual (the default),
	// KindScheduled, KindPreRestore or KindDrill.
	Kind string
	// IncludeChroma also copies the Chroma directory.
	IncludeChroma bool
	// Wait waits for the backup directory's lock instead of failing with ErrBusy.
	Wait bool
	// WaitLimit, with Wait, gives up after this long with an error that
	// matches ErrBusy; 0 waits until ctx ends.
	WaitLimit time.Duration
	// Waiting, with Wait, is called once when the wait begins, with the
	// error (matching ErrBusy) that names the lock's holder.
	Waiting func(busy error)
	// Lock, when set, is the backup directory's lock, already held by the
	// caller (restore's pre-restore snapshot); Create neither takes nor
	// releases it.
	Lock *Lock
	// IngestionLock, when set, is held while the Chroma directory is copied.
	IngestionLock Locker
}

// ErrChromaChanged is matched by errors.Is when the Chroma directory kept
// changing while it was copied.
var ErrChromaChanged = errors.New("chroma_changed_during_copy")

// Create takes a snapshot of the live state, validates it and puts it in
// place under snapshots/<STAMP>/. It returns the snapshot's metadata.
//
// When validation fails the snapshot is moved to failed/<STAMP>/ for
// inspection, never listed, and Create returns its metadata (Validated
// false, ValidationErrors set) with an error wrapping *validate.Error. Any
// other failure leaves nothing behind but the error.
func Create(ctx context.Context, cfg Config, opts CreateOptions) (*Metadata, error) {
	start := time.Now()
	cfg, err := cfg.Resolved()
	if err != nil {
		return nil, fmt.Errorf("create: %w", err)
	}
	needs := []string{NeedDB, NeedBackup}
	if opts.IncludeChroma {
		needs = append(needs, NeedChroma)
	}
	if err := cfg.Require(needs...); err != nil {
		return nil, fmt.Errorf("create: %w", err)
	}
	if opts.Kind == "" {
		opts.Kind = KindManual
	}
	if !snapshot.ValidKind(opts.Kind) {
		return nil, fmt.Errorf("create: unknown kind %q: use manual, scheduled, pre-restore or drill", opts.Kind)
	}
	if _, err := durable.StatRegular(cfg.DBPath); errors.Is(err, ErrNotRegular) {
		return nil, fmt.Errorf("create: live database: %w", err)
	}
	needExist := []string{NeedDB}
	if opts.IncludeChroma {
		needExist = append(needExist, NeedChroma)
	}
	if err := cfg.Paths.CheckLayout(opts.IncludeChroma); err != nil {
		return nil, fmt.Errorf("create: %w", err)
	}
	if err := cfg.RequireExisting(needExist...); err != nil {
		return nil, fmt.Errorf("create: %w", err)
	}
	// Every read of the live state goes through the links' targets (rule
	// 9): SQLite keeps the -wal beside the file a link points to, and the
	// unchanged-database check must stat that file's sidecars. The
	// metadata records the paths as configured.
	configured := cfg.Paths
	if cfg.Paths, err = cfg.Paths.Real(); err != nil {
		return nil, fmt.Errorf("create: resolve the live paths: %w", err)
	}
	if opts.Lock == nil {
		l, err := dirlock.Acquire(ctx, cfg.FS, cfg.BackupDir, "create", dirlock.Wait{On: opts.Wait, Limit: opts.WaitLimit, Notify: opts.Waiting})
		if err != nil {
			return nil, fmt.Errorf("create: %w", err)
		}
		defer l.Release()
	}
	c := &creation{cfg: cfg, configured: configured, opts: opts, fs: cfg.FS, chromaCopied: make(chan struct{}),
		segmentsCopied: make(chan struct{}),
		timeline:       timeline.NewAt(cfg.Logger, start)}
	if err := RemoveLeftovers(cfg.FS, cfg.BackupDir); err != nil {
		return nil, fmt.Errorf("create: %w", err)
	}
	meta, err := c.run(ctx, start)
	if err != nil {
		return meta, fmt.Errorf("create: %w", err)
	}
	cfg.Logger.Info("snapshot created", "stamp", meta.Stamp, "kind", meta.Kind, "chroma", meta.IncludeChroma, "duration", time.Since(start))
	return meta, nil
}

// RemoveLeftovers deletes what crashed runs left in a backup directory:
// staging directories of creates and trash directories of prunes. Neither
// can hold a snapshot anyone relies on. The caller holds the lock.
func RemoveLeftovers(fsys afero.Fs, backupDir string) error {
	entries, err := afero.ReadDir(fsys, backupDir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("read backup directory %s: %w", backupDir, err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), snapshot.StagingPrefix) || strings.HasPrefix(e.Name(), snapshot.TrashPrefix) {
			if err := fsys.RemoveAll(filepath.Join(backupDir, e.Name())); err != nil {
				return fmt.Errorf("remove leftover %s: %w", e.Name(), err)
			}
		}
	}
	return nil
}

type creation struct {
	cfg Config // live paths resolved through their symbolic links
	// configured is the live paths as given, for the metadata.
	configured Paths
	opts       CreateOptions
	fs         afero.Fs

	stamp   string
	staging string // where the snapshot is built
	final   string // snapshots/<stamp>

	mu     sync.Mutex
	files  []snapshot.File
	linked map[string]bool // snapshot files hardlinked from a validated snapshot
	// checked names database copies that passed integrity_check as soon as
	// they were written; their digest was computed from the same file.
	checked map[string]bool
	// chromaCopied is closed when the Chroma copy has ended (or was never
	// started); segmentsCopied when its first pass over the segment files
	// has ended, before chroma.sqlite3 is copied (or when chromaCopied
	// is). See hashAndCheck.
	chromaCopied   chan struct{}
	segmentsCopied chan struct{}
	segmentsOnce   sync.Once

	prevOnce sync.Once
	prev     *previous

	timeline timeline.Timeline
}

// signalSegmentsCopied closes segmentsCopied, once.
func (c *creation) signalSegmentsCopied() { c.segmentsOnce.Do(func() { close(c.segmentsCopied) }) }

// setSourceWAL records the -wal state of a database file already added.
func (c *creation) setSourceWAL(rel string, wal *snapshot.SourceState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := range c.files {
		if c.files[i].Path == rel {
			c.files[i].SourceWAL = wal
		}
	}
}

// addFile records a copied file for the manifest, with the permission bits
// its live original had (restore gives them back on a fresh machine; the
// snapshot's own files are always 0600).
func (c *creation) addFile(rel string, d durable.Digest, liveMode os.FileMode) {
	c.mu.Lock()
	c.files = append(c.files, snapshot.File{Path: rel, Size: d.Size, SHA256: d.SHA256, Mode: snapshot.ModeString(liveMode)})
	c.mu.Unlock()
}

// addChromaFile records a Chroma file with the live state it was copied
// from (nil when that state is too fresh to trust next time).
func (c *creation) addChromaFile(rel string, res chromaCopy, liveMode os.FileMode, src *snapshot.SourceState) {
	c.mu.Lock()
	c.files = append(c.files, snapshot.File{Path: rel, Size: res.digest.Size, SHA256: res.digest.SHA256,
		Mode: snapshot.ModeString(liveMode), Source: src})
	c.mu.Unlock()
}

func liveMode(p string) os.FileMode {
	if fi, err := os.Stat(p); err == nil {
		return fi.Mode().Perm()
	}
	return 0o600
}

func (c *creation) run(ctx context.Context, start time.Time) (*Metadata, error) {
	if err := c.pickStamp(ctx); err != nil {
		return nil, err
	}
	c.staging = filepath.Join(c.cfg.BackupDir, snapshot.StagingPrefix+c.stamp)
	if err := c.fs.MkdirAll(c.staging, 0o700); err != nil {
		return nil, fmt.Errorf("create staging directory %s: %w", c.staging, err)
	}
	placed := false
	defer func() {
		if !placed {
			_ = c.fs.RemoveAll(c.staging)
		}
	}()

	meta := &Metadata{
		FormatVersion: snapshot.FormatVersion,
		Stamp:         c.stamp,
		CreatedAt:     c.cfg.Now().UTC().Format(time.RFC3339),
		BackupRoot:    c.final,
		Kind:          c.opts.Kind,
		Source: snapshot.Source{Root: c.configured.Root, DBPath: c.configured.DBPath,
			RegistryPath: c.configured.RegistryPath, ChromaPath: c.configured.ChromaPath},
		ToolVersion:      Version,
		BuildSHA:         buildSHA(),
		ValidationErrors: []string{},
		DBSnapshotPath:   filepath.Join(c.final, filepath.FromSlash(snapshot.DBFile)),
	}

	// The database and the Chroma directory are copied at the same time,
	// one core each, from the start (the database's integrity_check then
	// has its core, and the Chroma copy has the other: waiting for the
	// database's bytes first left that core idle, 0.4 s at 1 GiB); the
	// registry is a few kilobytes.
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	var dbErr, chromaErr error
	wg.Go(func() {
		t0 := time.Now()
		defer func() { c.timeline.Step("database copied, checked and hashed", t0, "err", dbErr) }()
		if dbErr = c.copyDB(ctx, meta); dbErr != nil {
			cancel(dbErr)
		}
	})
	if c.opts.IncludeChroma {
		wg.Go(func() {
			defer close(c.chromaCopied)
			defer c.signalSegmentsCopied()
			t0 := time.Now()
			defer func() { c.timeline.Step("chroma copied and hashed", t0, "err", chromaErr) }()
			if chromaErr = c.copyChroma(ctx, meta); chromaErr != nil {
				cancel(chromaErr)
			}
		})
	}
	if !c.opts.IncludeChroma {
		close(c.chromaCopied)
		c.signalSegmentsCopied()
	}
	regErr := c.copyRegistry(ctx, meta)
	wg.Wait()
	if err := firstRealError(dbErr, chromaErr, regErr); err != nil {
		return nil, err
	}
	if err := context.Cause(ctx); err != nil {
		return nil, err
	}

	t0 := time.Now()
	c.dedupe(ctx, meta)
	c.timeline.Step("deduplicated against the previous snapshot", t0)
	t0 = time.Now()

	// Validate exactly what will be put in place, then record the outcome.
	if err := c.writeMetadata(meta); err != nil {
		return nil, err
	}
	// Every check of validate runs here (integrity_check of both databases,
	// registry JSON, Chroma segments, every file present at its manifest
	// size, nothing stray) except re-reading file digests: each digest was
	// just computed from the bytes as they were written (or, for a
	// hardlink, is that of a snapshot validated before), and reading them
	// back from the page cache a moment later would prove nothing while
	// doubling the cost. `validate` re-reads every byte.
	res, err := validate.Dir(ctx, c.fs, c.staging, c.stamp, validate.Options{
		SkipDigest: func(rel string) bool { return rel != snapshot.MetadataFile },
		KnownGood:  c.knownGood,
	})
	if err != nil {
		return nil, err
	}
	meta.Validated = res.Valid
	meta.ValidationErrors = res.Errors
	meta.DurationMS = time.Since(start).Milliseconds()
	if !res.Valid {
		c.final = filepath.Join(c.cfg.BackupDir, snapshot.FailedDir, c.stamp)
		meta.BackupRoot = c.final
		meta.DBSnapshotPath = filepath.Join(c.final, filepath.FromSlash(snapshot.DBFile))
		if meta.RegistrySnapshotPath != nil {
			p := filepath.Join(c.final, filepath.FromSlash(snapshot.RegistryFile))
			meta.RegistrySnapshotPath = &p
		}
		if meta.ChromaSnapshotPath != nil {
			p := filepath.Join(c.final, snapshot.ChromaDir)
			meta.ChromaSnapshotPath = &p
		}
		_ = c.writeMetadata(meta)
		if err := c.moveToFailed(); err == nil {
			placed = true
		}
		hint := ""
		if res.Has(validate.CodeDBIntegrity) {
			hint = fmt.Sprintf("; the copy fails integrity_check, so the LIVE database (or the backup disk) may be damaged: "+
				"check it with sqlite3 %s 'PRAGMA integrity_check'", c.cfg.DBPath)
		}
		return meta, fmt.Errorf("snapshot %s failed validation (kept for inspection in %s)%s: %w", c.stamp, meta.BackupRoot, hint, res.Err())
	}
	if err := c.writeMetadata(meta); err != nil {
		return nil, err
	}
	c.timeline.Step("validated", t0, "valid", res.Valid)
	t0 = time.Now()
	defer func() { c.timeline.Step("synced and placed", t0) }()
	if err := c.place(); err != nil {
		return nil, err
	}
	placed = true
	return meta, nil
}

// firstRealError prefers the error that caused a cancellation over the
// "context canceled" it made the other copier return.
func firstRealError(errs ...error) error {
	var cancelled error
	for _, err := range errs {
		if err == nil {
			continue
		}
		if errors.Is(err, context.Canceled) {
			cancelled = err
			continue
		}
		return err
	}
	return cancelled
}

// pickStamp chooses a stamp no snapshot (placed or failed) has. Two creates
// in one second are serialised by the lock; the second waits for the next
// second rather than ever reusing a stamp.
func (c *creation) pickStamp(ctx context.Context) error {
	for range 5 {
		now := c.cfg.Now()
		stamp := snapshot.FormatStamp(now)
		final := snapshot.Dir(c.cfg.BackupDir, stamp)
		_, err1 := c.fs.Stat(final)
		_, err2 := c.fs.Stat(filepath.Join(c.cfg.BackupDir, snapshot.FailedDir, stamp))
		if errors.Is(err1, os.ErrNotExist) && errors.Is(err2, os.ErrNotExist) {
			c.stamp, c.final = stamp, final
			return nil
		}
		wait := now.Truncate(time.Second).Add(time.Second).Sub(now) + time.Millisecond
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
	return errors.New("no free stamp: snapshots already exist for every second tried; is the clock stuck?")
}

func (c *creation) mkdir(rel string) error {
	p := filepath.Join(c.staging, filepath.FromSlash(rel))
	if err := c.fs.MkdirAll(p, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", p, err)
	}
	return nil
}

// writeMetadata writes backup-metadata.json and then manifest.json, which
// lists it, into the staging directory.
func (c *creation) writeMetadata(meta *Metadata) error {
	data, err := meta.Encode()
	if err != nil {
		return err
	}
	if err := durable.WriteFile(c.fs, filepath.Join(c.staging, snapshot.MetadataFile), data, 0o600); err != nil {
		return err
	}
	d, err := durable.HashFile(context.Background(), c.fs, filepath.Join(c.staging, snapshot.MetadataFile))
	if err != nil {
		return err
	}
	c.mu.Lock()
	files := make([]snapshot.File, 0, len(c.files)+1)
	for _, f := range c.files {
		if f.Path != snapshot.MetadataFile {
			files = append(files, f)
		}
	}
	c.mu.Unlock()
	files = append(files, snapshot.File{Path: snapshot.MetadataFile, Size: d.Size, SHA256: d.SHA256, Mode: snapshot.ModeString(0o600)})
	m := &snapshot.Manifest{Files: files}
	mdata, err := m.Encode()
	if err != nil {
		return err
	}
	return durable.WriteFile(c.fs, filepath.Join(c.staging, snapshot.ManifestFile), mdata, 0o600)
}

// place syncs every directory of the staging tree, renames it to
// snapshots/<stamp> and syncs the parents: after this returns, the snapshot
// survives a power cut, and before it, no directory with its stamp exists.
func (c *creation) place() error {
	if err := durable.SyncTree(c.fs, c.staging); err != nil {
		return err
	}
	var dirs []string
	err := afero.Walk(c.fs, c.staging, func(p string, info os.FileInfo, err error) error {
		if err == nil && info.IsDir() {
			dirs = append(dirs, p)
		}
		return err
	})
	if err != nil {
		return err
	}
	for i := len(dirs) - 1; i >= 0; i-- {
		if err := durable.SyncDir(c.fs, dirs[i]); err != nil {
			return err
		}
	}
	parent := filepath.Join(c.cfg.BackupDir, snapshot.SnapshotsDir)
	if err := c.fs.MkdirAll(parent, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", parent, err)
	}
	if _, err := c.fs.Stat(c.final); err == nil {
		return fmt.Errorf("snapshot %s already exists; refusing to overwrite it", c.final)
	}
	if err := c.fs.Rename(c.staging, c.final); err != nil {
		return fmt.Errorf("put snapshot in place at %s: %w", c.final, err)
	}
	if err := durable.SyncDir(c.fs, parent); err != nil {
		return err
	}
	return durable.SyncDir(c.fs, c.cfg.BackupDir)
}

func (c *creation) moveToFailed() error {
	parent := filepath.Join(c.cfg.BackupDir, snapshot.FailedDir)
	if err := c.fs.MkdirAll(parent, 0o700); err != nil {
		return err
	}
	return c.fs.Rename(c.staging, filepath.Join(parent, c.stamp))
}
