package backup

import (
	"context"
	"path/filepath"
	"strings"

	"github.com/atocore/atocore-backup/internal/durable"
	"github.com/atocore/atocore-backup/internal/snapshot"
)

// dedupe replaces each copied file whose digest equals the same path's in
// the newest validated snapshot by a hardlink to that snapshot's file, so an
// unchanged database or chroma.sqlite3 costs no disk. The copy was made
// anyway (a database can only be compared by copying it consistently);
// this saves space, not time. Failures leave the copy in place.
func (c *creation) dedupe(ctx context.Context, meta *Metadata) {
	prev := c.previousSnapshot(ctx)
	if prev == nil {
		return
	}
	c.mu.Lock()
	files := append([]snapshot.File(nil), c.files...)
	c.mu.Unlock()
	for _, f := range files {
		old, ok := prev.files[f.Path]
		if !ok || c.isLinked(f.Path) || old.SHA256 != f.SHA256 || old.Size != f.Size {
			continue
		}
		dst := filepath.Join(c.staging, filepath.FromSlash(f.Path))
		tmp := durable.TempName(dst, "link")
		if err := durable.Link(c.fs, filepath.Join(prev.dir, filepath.FromSlash(f.Path)), tmp); err != nil {
			continue
		}
		if fi, err := c.fs.Stat(tmp); err != nil || fi.Size() != f.Size {
			_ = c.fs.Remove(tmp)
			continue
		}
		if err := c.fs.Rename(tmp, dst); err != nil {
			_ = c.fs.Remove(tmp)
			continue
		}
		c.markLinked(f.Path)
		if strings.HasPrefix(f.Path, snapshot.ChromaDir+"/") {
			meta.ChromaFilesLinked++
			meta.ChromaFilesCopied--
			meta.ChromaBytesWritten -= f.Size
		}
	}
}

func (c *creation) isLinked(rel string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.linked[rel]
}

func (c *creation) markChecked(rel string) { c.mark(&c.checked, rel) }

// knownGood names the files validation need not read again: hardlinks to a
// validated snapshot, and database copies already checked (markChecked).
func (c *creation) knownGood(rel string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.linked[rel] || c.checked[rel]
}

// markLinked records that rel is a hardlink to a validated snapshot's file.
func (c *creation) markLinked(rel string) { c.mark(&c.linked, rel) }

// mark adds rel to the set (linked or checked), under c.mu.
func (c *creation) mark(set *map[string]bool, rel string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if *set == nil {
		*set = map[string]bool{}
	}
	(*set)[rel] = true
}

// unmarkLinked forgets what was known of rel (linked or checked) before
// it is copied again.
func (c *creation) unmarkLinked(rel string) {
	c.mu.Lock()
	delete(c.linked, rel)
	delete(c.checked, rel)
	c.mu.Unlock()
}
