package backup

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/afero"

	"github.com/atocore/atocore-backup/internal/durable"
	"github.com/atocore/atocore-backup/internal/progress"
	"github.com/atocore/atocore-backup/internal/snapshot"
)

// maxChromaAttempts bounds how often the Chroma copy is retried when
// ingestion rewrites segment files while they are copied.
const maxChromaAttempts = 4

// chromaCopiedHook, when set (by tests), runs after each pass over the
// segment files and before chroma.sqlite3 is copied: the moment a
// concurrent ingestion would have to strike to make the copy inconsistent.
var chromaCopiedHook func(attempt int)

// chromaFile is a live Chroma file and what it looked like when listed.
type chromaFile struct {
	rel  string // slash path inside the Chroma directory
	live string
	stat snapshot.SourceState
}

// racyWindow: a file changed this recently may change again within the
// same timestamp tick, so its state is not recorded for linking next time
// (git's "racily clean" problem).
var racyWindow = 2 * time.Second

func stateOf(fi fs.FileInfo) snapshot.SourceState {
	st := snapshot.SourceState{Size: fi.Size(), MtimeNS: fi.ModTime().UnixNano()}
	if sys, ok := fi.Sys().(*syscall.Stat_t); ok {
		st.Inode, st.Device = sys.Ino, uint64(sys.Dev)
		st.CtimeNS = sys.Ctim.Sec*1e9 + sys.Ctim.Nsec
	}
	return st
}

// chromaCopy is the outcome for one file.
type chromaCopy struct {
	digest durable.Digest
	linked bool
}

// previous is an earlier validated snapshot whose unchanged files are
// hardlinked instead of copied.
type previous struct {
	dir   string
	files map[string]snapshot.File
	meta  *Metadata
}

// previousSnapshot is the newest validated snapshot (read once per create).
func (c *creation) previousSnapshot(ctx context.Context) *previous {
	c.prevOnce.Do(func() {
		snaps, err := ListDir(ctx, c.fs, c.cfg.BackupDir)
		if err != nil {
			return
		}
		for i := len(snaps) - 1; i >= 0; i-- {
			if m := snaps[i].Metadata; m != nil && m.Validated {
				if c.prev = readPrevious(c.fs, snaps[i].Path); c.prev != nil {
					c.prev.meta = m
				}
				return
			}
		}
	})
	return c.prev
}

func (c *creation) previousChroma(ctx context.Context) *previous {
	snaps, err := ListDir(ctx, c.fs, c.cfg.BackupDir)
	if err != nil {
		return nil
	}
	for i := len(snaps) - 1; i >= 0; i-- {
		m := snaps[i].Metadata
		if m == nil || !m.Validated || !m.IncludeChroma {
			continue
		}
		return readPrevious(c.fs, snaps[i].Path)
	}
	return nil
}

// readPrevious reads the manifest of the snapshot in dir; nil when it has none.
func readPrevious(fsys afero.Fs, dir string) *previous {
	data, err := afero.ReadFile(fsys, filepath.Join(dir, snapshot.ManifestFile))
	if err != nil {
		return nil
	}
	man, err := snapshot.DecodeManifest(data)
	if err != nil {
		return nil
	}
	return &previous{dir: dir, files: man.Index()}
}

// copyChroma copies the live Chroma directory into the snapshot in the
// order that matches Chroma's own crash recovery: segment files first, then
// chroma.sqlite3 through SQLite's online backup, then a check that no
// segment file changed meanwhile. Chroma records a segment's progress in
// chroma.sqlite3 only after writing its files, so unchanged segment files
// plus a later database is a state Chroma recovers from; a segment that
// changed is copied again (bounded), and then the database too.
//
// A segment file that looks exactly as it did when the previous snapshot
// copied it (same size, mtime, ctime, inode, device) is hardlinked from that
// snapshot instead of copied: each snapshot stays a complete directory that
// survives the deletion of any other, and an unchanged 1 GiB Chroma
// directory costs no bytes and no reading.
func (c *creation) copyChroma(ctx context.Context, meta *Metadata) error {
	if c.opts.IngestionLock != nil {
		unlock, err := c.opts.IngestionLock.Lock(ctx)
		if err != nil {
			return fmt.Errorf("take the ingestion lock: %w", err)
		}
		defer unlock()
	}
	// The Chroma path may be a symbolic link (to a volume): read through it.
	chromaRoot, err := filepath.EvalSymlinks(c.cfg.ChromaPath)
	if err != nil {
		return fmt.Errorf("Chroma directory %s: %w", c.cfg.ChromaPath, err)
	}
	files, dirs, err := listChroma(chromaRoot)
	if err != nil {
		return err
	}
	for _, f := range files {
		progress.Plan(ctx, f.stat.Size)
	}
	if err := c.mkdir(snapshot.ChromaDir); err != nil {
		return err
	}
	for _, d := range dirs {
		if err := c.mkdir(path.Join(snapshot.ChromaDir, d)); err != nil {
			return err
		}
	}
	prev := c.previousChroma(ctx)
	attempts := maxChromaAttempts
	if c.opts.IngestionLock != nil {
		attempts = 1 // nothing writes under the lock: a change is an error
	}
	done := map[string]chromaCopy{}
	var dbSrc, dbWAL *snapshot.SourceState
	pending := files
	for attempt := 1; ; attempt++ {
		for i := range pending {
			res, err := c.copyChromaFile(ctx, &pending[i], prev)
			if err != nil {
				return err
			}
			done[pending[i].rel] = res
		}
		if chromaCopiedHook != nil {
			chromaCopiedHook(attempt)
		}
		c.signalSegmentsCopied()
		dbDst := filepath.Join(c.staging, snapshot.ChromaDir, snapshot.ChromaDBName)
		_ = c.fs.Remove(dbDst)
		c.unmarkLinked(path.Join(snapshot.ChromaDir, snapshot.ChromaDBName))
		dbRes, err := c.copyDatabase(ctx, filepath.Join(chromaRoot, snapshot.ChromaDBName), path.Join(snapshot.ChromaDir, snapshot.ChromaDBName))
		if err != nil {
			return err
		}
		done[snapshot.ChromaDBName] = chromaCopy{digest: dbRes.digest, linked: dbRes.linked}
		dbSrc, dbWAL = dbRes.src, dbRes.wal

		pending = pending[:0:0]
		for i := range files {
			fi, err := os.Lstat(files[i].live)
			if err != nil {
				return fmt.Errorf("Chroma file %s vanished during the copy: %w", files[i].live, err)
			}
			if now := stateOf(fi); now != files[i].stat {
				files[i].stat = now
				pending = append(pending, files[i])
			}
		}
		if len(pending) == 0 {
			break
		}
		if attempt >= attempts {
			return fmt.Errorf("%w: %d Chroma segment file(s) (first %s) kept changing while copied, %d attempts; "+
				"run the backup while no ingestion runs, or through the server so it holds the ingestion lock",
				ErrChromaChanged, len(pending), pending[0].rel, attempt)
		}
		c.cfg.Logger.Info("chroma files changed during copy; copying them again", "files", len(pending), "attempt", attempt)
		for _, f := range pending {
			_ = c.fs.Remove(filepath.Join(c.staging, snapshot.ChromaDir, filepath.FromSlash(f.rel)))
		}
	}

	var total int64
	stable := time.Now().Add(-racyWindow).UnixNano()
	for _, f := range files {
		res := done[f.rel]
		total += res.digest.Size
		var src *snapshot.SourceState
		if f.stat.MtimeNS < stable && f.stat.CtimeNS < stable {
			st := f.stat
			src = &st
		}
		c.addChromaFile(path.Join(snapshot.ChromaDir, f.rel), res, liveMode(f.live), src)
		if res.linked {
			meta.ChromaFilesLinked++
		} else {
			meta.ChromaFilesCopied++
			meta.ChromaBytesWritten += res.digest.Size
		}
	}
	dbRes := done[snapshot.ChromaDBName]
	total += dbRes.digest.Size
	if dbRes.linked {
		meta.ChromaFilesLinked++
	} else {
		meta.ChromaFilesCopied++
		meta.ChromaBytesWritten += dbRes.digest.Size
	}
	c.addChromaFile(path.Join(snapshot.ChromaDir, snapshot.ChromaDBName), dbRes, liveMode(filepath.Join(chromaRoot, snapshot.ChromaDBName)), dbSrc)
	c.setSourceWAL(path.Join(snapshot.ChromaDir, snapshot.ChromaDBName), dbWAL)
	p := filepath.Join(c.final, snapshot.ChromaDir)
	meta.IncludeChroma = true
	meta.ChromaSnapshotPath = &p
	meta.ChromaFiles = len(files) + 1
	meta.ChromaBytes = total
	return nil
}

// listChroma walks the live Chroma directory. chroma.sqlite3 and its
// sidecars are left out (the online copy includes what they hold).
// Symbolic links are refused: Chroma never makes them, and following one
// could copy (and later restore) files from outside the directory.
func listChroma(root string) (files []chromaFile, dirs []string, err error) {
	if _, err := durable.StatRegular(filepath.Join(root, snapshot.ChromaDBName)); errors.Is(err, ErrNotRegular) {
		return nil, nil, fmt.Errorf("Chroma directory holds a file that is not regular: %w; Chroma's database must be a file", err)
	} else if err != nil {
		return nil, nil, fmt.Errorf("Chroma directory %s has no %s: %w; is the Chroma path the Chroma directory itself?", root, snapshot.ChromaDBName, err)
	}
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("read Chroma directory: %w", err)
		}
		rel, _ := filepath.Rel(root, p)
		rel = filepath.ToSlash(rel)
		switch {
		case rel == ".":
			return nil
		case rel == snapshot.ChromaRestoreStaging:
			return filepath.SkipDir // a restore in progress stages files here
		case !snapshot.LocalPath(path.Join(snapshot.ChromaDir, rel)):
			// Any byte but '/' and NUL may be in a Linux file name, and
			// the manifest keeps non-UTF-8 names exactly; a backslash is
			// the one byte a snapshot refuses (it separates paths on
			// Windows).
			return fmt.Errorf("Chroma directory holds %q, whose name has a backslash, which a snapshot cannot hold; rename it, or back up without Chroma", p)
		case d.Type()&fs.ModeSymlink != 0:
			return fmt.Errorf("Chroma directory holds a symbolic link %s; Chroma never makes links: remove it, or back up without Chroma", p)
		case d.IsDir():
			dirs = append(dirs, rel)
			return nil
		case !d.Type().IsRegular():
			return fmt.Errorf("Chroma directory holds a file that is not regular: %w; Chroma makes none: remove it, or back up without Chroma",
				&durable.NotRegularError{Path: p, Mode: d.Type()})
		case rel == snapshot.ChromaDBName || strings.HasPrefix(rel, snapshot.ChromaDBName+"-"):
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		files = append(files, chromaFile{rel: rel, live: p, stat: stateOf(fi)})
		return nil
	})
	return files, dirs, err
}

// copyChromaFile links f from the previous snapshot when it is unchanged
// since that snapshot copied it, and otherwise copies it (hashing as it goes).
func (c *creation) copyChromaFile(ctx context.Context, f *chromaFile, prev *previous) (chromaCopy, error) {
	rel := path.Join(snapshot.ChromaDir, f.rel)
	dst := filepath.Join(c.staging, filepath.FromSlash(rel))
	if prev != nil {
		if old, ok := prev.files[rel]; ok && old.Source != nil && *old.Source == f.stat {
			src := filepath.Join(prev.dir, filepath.FromSlash(rel))
			if err := durable.Link(c.fs, src, dst); err == nil {
				if fi, err := c.fs.Stat(dst); err == nil && fi.Size() == old.Size {
					c.markLinked(rel)
					progress.Add(ctx, old.Size)
					return chromaCopy{digest: durable.Digest{Size: old.Size, SHA256: old.SHA256}, linked: true}, nil
				}
				_ = c.fs.Remove(dst)
			}
			// No hardlinks here (or the old copy is damaged): copy instead.
		}
	}
	c.unmarkLinked(rel)
	src, _, err := durable.OpenRegular(f.live)
	if err != nil {
		return chromaCopy{}, fmt.Errorf("read Chroma file: %w", err)
	}
	defer src.Close()
	// Made durable by place(), through the page cache: O_DIRECT here
	// (durable.CopyFileDirect) made create slower at 256 MiB (1.80 s
	// against 1.46 s) and no faster at 1 GiB; see docs/performance.md.
	var d durable.Digest
	if p, ok := durable.OSPath(c.fs, dst); ok {
		d, err = durable.CopyFileKernel(ctx, src, p, 0o600)
	} else {
		d, err = durable.CopyFileUnsynced(ctx, c.fs, dst, src, 0o600)
	}
	return chromaCopy{digest: d}, err
}
