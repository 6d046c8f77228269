package backup

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/atocore/atocore-backup/internal/durable"
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
	stat fileState
}

// fileState is what tells a changed file from an unchanged one without
// reading it: Chroma rewrites segment files in place, which moves mtime.
type fileState struct {
	size  int64
	mtime int64
	ino   uint64
}

func stateOf(fi fs.FileInfo) fileState {
	st := fileState{size: fi.Size(), mtime: fi.ModTime().UnixNano()}
	if sys, ok := fi.Sys().(*syscall.Stat_t); ok {
		st.ino = sys.Ino
	}
	return st
}

// copyChroma copies the live Chroma directory into the snapshot in the
// order that matches Chroma's own crash recovery: segment files first, then
// chroma.sqlite3 through SQLite's online backup, then a check that no
// segment file changed meanwhile. Chroma records a segment's progress in
// chroma.sqlite3 only after writing its files, so unchanged segment files
// plus a later database is a state Chroma recovers from; a segment that
// changed is copied again (bounded), and then the database too.
func (c *creation) copyChroma(ctx context.Context, meta *Metadata) error {
	if c.opts.IngestionLock != nil {
		unlock, err := c.opts.IngestionLock.Lock(ctx)
		if err != nil {
			return fmt.Errorf("take the ingestion lock: %w", err)
		}
		defer unlock()
	}
	files, dirs, err := listChroma(c.cfg.ChromaPath)
	if err != nil {
		return err
	}
	for _, d := range dirs {
		if err := c.mkdir(path.Join(snapshot.ChromaDir, d)); err != nil {
			return err
		}
	}
	attempts := maxChromaAttempts
	if c.opts.IngestionLock != nil {
		attempts = 1 // nothing writes under the lock: a change is an error
	}
	digests := map[string]durable.Digest{}
	pending := files
	for attempt := 1; ; attempt++ {
		for i := range pending {
			f := &pending[i]
			d, err := c.copyChromaFile(ctx, f)
			if err != nil {
				return err
			}
			digests[f.rel] = d
		}
		if chromaCopiedHook != nil {
			chromaCopiedHook(attempt)
		}
		dbRel := path.Join(snapshot.ChromaDir, snapshot.ChromaDBName)
		dbDst := filepath.Join(c.staging, filepath.FromSlash(dbRel))
		_ = c.fs.Remove(dbDst)
		d, _, err := c.onlineCopy(ctx, filepath.Join(c.cfg.ChromaPath, snapshot.ChromaDBName), dbDst)
		if err != nil {
			return err
		}
		digests[snapshot.ChromaDBName] = d

		var changed []chromaFile
		for _, f := range files {
			fi, err := os.Lstat(f.live)
			if err != nil || stateOf(fi) != f.stat {
				changed = append(changed, f)
			}
		}
		if len(changed) == 0 {
			break
		}
		if attempt >= attempts {
			return fmt.Errorf("%w: %d Chroma segment file(s) (first %s) kept changing while copied, %d attempts; "+
				"run the backup while no ingestion runs, or through the server so it holds the ingestion lock",
				ErrChromaChanged, len(changed), changed[0].rel, attempt)
		}
		c.cfg.Logger.Info("chroma files changed during copy; copying them again", "files", len(changed), "attempt", attempt)
		for i := range changed {
			_ = c.fs.Remove(filepath.Join(c.staging, snapshot.ChromaDir, filepath.FromSlash(changed[i].rel)))
			fi, err := os.Lstat(changed[i].live)
			if err != nil {
				return fmt.Errorf("Chroma file %s vanished during the copy: %w", changed[i].live, err)
			}
			changed[i].stat = stateOf(fi)
		}
		// The unchanged files keep their states; the changed ones get new ones.
		for _, ch := range changed {
			for j := range files {
				if files[j].rel == ch.rel {
					files[j].stat = ch.stat
				}
			}
		}
		pending = changed
	}

	var total int64
	for _, f := range files {
		d := digests[f.rel]
		total += d.Size
		c.addFile(path.Join(snapshot.ChromaDir, f.rel), d, liveMode(f.live))
	}
	dbd := digests[snapshot.ChromaDBName]
	total += dbd.Size
	c.addFile(path.Join(snapshot.ChromaDir, snapshot.ChromaDBName), dbd, liveMode(filepath.Join(c.cfg.ChromaPath, snapshot.ChromaDBName)))
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
	if _, err := os.Stat(filepath.Join(root, snapshot.ChromaDBName)); err != nil {
		return nil, nil, fmt.Errorf("Chroma directory %s has no %s: %w; check --chroma-path", root, snapshot.ChromaDBName, err)
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
		case d.Type()&fs.ModeSymlink != 0:
			return fmt.Errorf("Chroma directory holds a symbolic link %s; Chroma never makes links: remove it, or back up without Chroma", p)
		case d.IsDir():
			dirs = append(dirs, rel)
			return nil
		case !d.Type().IsRegular():
			return fmt.Errorf("Chroma directory holds %s, which is not a regular file; remove it, or back up without Chroma", p)
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

func (c *creation) copyChromaFile(ctx context.Context, f *chromaFile) (durable.Digest, error) {
	src, err := os.Open(f.live)
	if err != nil {
		return durable.Digest{}, fmt.Errorf("read Chroma file: %w", err)
	}
	defer src.Close()
	dst := filepath.Join(c.staging, snapshot.ChromaDir, filepath.FromSlash(f.rel))
	return durable.CopyFile(ctx, c.fs, dst, src, 0o600)
}
