package backup

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/atocore/atocore-backup/internal/durable"
	"github.com/atocore/atocore-backup/internal/progress"
	"github.com/atocore/atocore-backup/internal/snapshot"
	"github.com/atocore/atocore-backup/internal/sqlitedb"
)

// copyDB makes the online copy of the live database into the snapshot.
func (c *creation) copyDB(ctx context.Context, meta *Metadata) error {
	if err := c.mkdir("db"); err != nil {
		return err
	}
	res, err := c.copyDatabase(ctx, c.cfg.DBPath, snapshot.DBFile)
	if err != nil {
		return err
	}
	meta.DBJournalMode = res.mode
	meta.DBSizeBytes = res.digest.Size
	c.mu.Lock()
	c.files = append(c.files, snapshot.File{Path: snapshot.DBFile, Size: res.digest.Size, SHA256: res.digest.SHA256,
		Mode: snapshot.ModeString(liveMode(c.cfg.DBPath)), Source: res.src, SourceWAL: res.wal})
	c.mu.Unlock()
	return nil
}

// dbCopy is the outcome of copyDatabase.
type dbCopy struct {
	digest   durable.Digest
	mode     string // the live journal mode
	linked   bool
	src, wal *snapshot.SourceState // the live state copied, when settled enough to record
}

// copyDatabase copies the live SQLite database live into the snapshot at
// rel. When the database file and its -wal look exactly as they did when
// the newest validated snapshot copied them (size, mtime, ctime, inode; a
// commit always moves one of them), nothing was written since: that copy
// is hardlinked instead of copying the database again.
func (c *creation) copyDatabase(ctx context.Context, live, rel string) (dbCopy, error) {
	dst := filepath.Join(c.staging, filepath.FromSlash(rel))
	src, wal := dbState(live)
	if prev := c.previousSnapshot(ctx); prev != nil && src != nil {
		old, ok := prev.files[rel]
		if ok && old.Source != nil && old.SourceWAL != nil && *old.Source == *src && *old.SourceWAL == *wal {
			if err := durable.Link(c.fs, filepath.Join(prev.dir, filepath.FromSlash(rel)), dst); err == nil {
				if fi, err := c.fs.Stat(dst); err == nil && fi.Size() == old.Size {
					c.markLinked(rel)
					mode := ""
					if prev.meta != nil {
						mode = prev.meta.DBJournalMode
					}
					return dbCopy{digest: durable.Digest{Size: old.Size, SHA256: old.SHA256}, mode: mode, linked: true, src: src, wal: wal}, nil
				}
				_ = c.fs.Remove(dst)
			}
		}
	}
	if src != nil {
		progress.Plan(ctx, src.Size+max(wal.Size, 0)) // the copy; its hash is planned once its size is known
	}
	d, mode, err := c.onlineCopy(ctx, live, dst)
	if err != nil {
		return dbCopy{}, err
	}
	res := dbCopy{digest: d, mode: mode}
	// Record the state seen before the copy only if it had settled: a
	// write during the copy, or one within the same timestamp tick, must
	// not be mistaken for "unchanged" next time.
	if src != nil && settled(src) && settled(wal) {
		res.src, res.wal = src, wal
	}
	return res, nil
}

// dbState returns the state of a database file and of its -wal ({Size: -1}
// when there is none); nil when the database cannot be read.
func dbState(path string) (*snapshot.SourceState, *snapshot.SourceState) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, nil
	}
	src := stateOf(fi)
	wal := snapshot.SourceState{Size: -1}
	if wfi, err := os.Stat(path + "-wal"); err == nil {
		wal = stateOf(wfi)
	}
	return &src, &wal
}

func settled(st *snapshot.SourceState) bool {
	if st.Size < 0 {
		return true
	}
	stable := time.Now().Add(-racyWindow).UnixNano()
	return st.MtimeNS < stable && st.CtimeNS < stable
}

// onlineCopy copies the live SQLite database live to dst in the snapshot
// and returns the copy's digest and the live journal mode. On an OS
// filesystem SQLite writes dst in place; elsewhere it writes a temporary
// file that is then streamed in.
func (c *creation) onlineCopy(ctx context.Context, live, dst string) (durable.Digest, string, error) {
	if p, ok := durable.OSPath(c.fs, dst); ok {
		t0 := time.Now()
		mode, err := sqlitedb.OnlineCopy(ctx, live, p)
		c.timeline.Step("database bytes copied", t0, "file", filepath.Base(dst))
		if err != nil {
			return durable.Digest{}, "", fmt.Errorf("copy database %s: %w", live, err)
		}
		if fi, err := os.Stat(p); err == nil {
			progress.Plan(ctx, fi.Size())
		}
		d, err := c.hashAndCheck(ctx, dst, p, func() (durable.Digest, error) { return durable.HashOSFile(ctx, p) })
		return d, mode, err
	}
	tmp, err := os.MkdirTemp("", "atocore-backup-")
	if err != nil {
		return durable.Digest{}, "", err
	}
	defer os.RemoveAll(tmp)
	tp := filepath.Join(tmp, filepath.Base(dst))
	mode, err := sqlitedb.OnlineCopy(ctx, live, tp)
	if err != nil {
		return durable.Digest{}, "", fmt.Errorf("copy database %s: %w", live, err)
	}
	f, err := os.Open(tp)
	if err != nil {
		return durable.Digest{}, "", err
	}
	defer f.Close()
	d, err := c.hashAndCheck(ctx, dst, tp, func() (durable.Digest, error) { return durable.CopyFile(ctx, c.fs, dst, f, 0o600) })
	return d, mode, err
}

// hashAndCheck runs digest (which reads the database copy at dst, or
// writes it there) and integrity_check of the same bytes at the OS path p
// at the same time, and marks dst checked when it passed. A copy that
// fails is left for validation to report.
//
// integrity_check of the main database starts as soon as the copy exists
// and keeps a core to itself, while the Chroma copy has the other core.
// The database's digest starts when the first of these ends: the Chroma
// segment files' copy (chroma.sqlite3's copy and check then share the
// two cores with the digest and the database's check), or the check
// itself (a small database beside a large Chroma directory). Waiting for
// the whole Chroma copy instead left the digest running alone on one
// core at the end (256 MiB random shape: 1.04 s against 0.93 s, medians
// of 5); starting it with the check slowed a chroma.sqlite3 with a large
// full-text index, whose own check is then the longest chain (text shape:
// 0.99 s against 0.84 s). See docs/performance.md.
func (c *creation) hashAndCheck(ctx context.Context, dst, p string, digest func() (durable.Digest, error)) (durable.Digest, error) {
	var ic sqlitedb.Integrity
	var icErr error
	var wg sync.WaitGroup
	checked := make(chan struct{})
	wg.Go(func() {
		defer close(checked)
		t0 := time.Now()
		ic, icErr = sqlitedb.IntegrityCheck(ctx, p)
		c.timeline.Step("integrity_check", t0, "file", filepath.Base(dst), "ok", ic.OK)
	})
	mainDB := dst == filepath.Join(c.staging, filepath.FromSlash(snapshot.DBFile))
	if mainDB {
		select {
		case <-c.segmentsCopied:
		case <-checked:
		case <-ctx.Done():
		}
	}
	t0 := time.Now()
	d, err := digest()
	c.timeline.Step("database hashed", t0, "file", filepath.Base(dst))
	if err == nil && mainDB {
		select {
		case <-c.chromaCopied:
		case <-ctx.Done():
		}
	}
	if err == nil && mainDB && ctx.Err() == nil {
		// Every large file of the snapshot is written now: send the rest
		// to the disk while integrity_check may still run, so that
		// place()'s sync (which runs anyway) finds little left to write.
		// An error here fails the create: a failed writeback is reported
		// only once.
		t0 = time.Now()
		err = durable.SyncTree(c.fs, c.staging)
		c.timeline.Step("snapshot written to disk", t0)
	}
	wg.Wait()
	if err != nil {
		return durable.Digest{}, err
	}
	if icErr != nil {
		return durable.Digest{}, icErr
	}
	if ic.OK {
		if rel, rerr := filepath.Rel(c.staging, dst); rerr == nil {
			c.markChecked(filepath.ToSlash(rel))
		}
	}
	return d, nil
}
