package restore

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"

	"github.com/spf13/afero"

	"github.com/atocore/atocore-backup/internal/durable"
	"github.com/atocore/atocore-backup/internal/snapshot"
)

// stagingName is the directory, inside the live Chroma directory, that the
// snapshot's Chroma files are copied into before they replace the old ones.
const stagingName = ".atocore-restore"

// restoreChroma applies rule 5. The live Chroma directory may be a bind
// mount: unlinking or renaming a mount point fails with "device or resource
// busy", so the directory itself stays (its inode unchanged). The snapshot's
// files are first copied into a staging directory inside it (same
// filesystem, so the later renames are atomic), then the old contents are
// removed and the staged entries moved up. The window in which the
// directory holds neither the old nor the new state is a few renames long.
func (r *restorer) restoreChroma(ctx context.Context) error {
	live := r.cfg.ChromaPath
	dirOwner := r.owners["chroma"]
	if err := mkdirOwned(live, dirOwner); err != nil {
		return err
	}
	staging := filepath.Join(live, stagingName)
	if err := os.RemoveAll(staging); err != nil {
		return fmt.Errorf("remove leftover %s: %w", staging, err)
	}
	if err := os.Mkdir(staging, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", staging, err)
	}
	defer os.RemoveAll(staging)

	src := filepath.Join(r.dir, snapshot.ChromaDir)
	err := afero.Walk(r.cfg.FS, src, func(p string, info fs.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil || rel == "." {
			return err
		}
		dst := filepath.Join(staging, rel)
		fileOwner := dirOwner
		switch {
		case info.IsDir():
			if err := os.Mkdir(dst, 0o700); err != nil {
				return err
			}
			dirOwner := dirOwner
			dirOwner.mode = dirOwner.mode | 0o700
			return dirOwner.apply(dst, true)
		case !info.Mode().IsRegular():
			return fmt.Errorf("snapshot holds %s, which is not a regular file", p)
		}
		fileOwner.mode = r.manifestMode(path.Join(snapshot.ChromaDir, filepath.ToSlash(rel)))
		return r.copyOut(ctx, path.Join(snapshot.ChromaDir, filepath.ToSlash(rel)), dst, fileOwner)
	})
	if err != nil {
		return fmt.Errorf("copy the snapshot's Chroma files into %s: %w", staging, err)
	}
	if err := syncTree(staging); err != nil {
		return err
	}

	// Swap: clear the old contents (never the directory), move the new up.
	old, err := os.ReadDir(live)
	if err != nil {
		return err
	}
	for _, e := range old {
		if e.Name() == stagingName {
			continue
		}
		if err := os.RemoveAll(filepath.Join(live, e.Name())); err != nil {
			return fmt.Errorf("clear Chroma directory %s: %w", live, err)
		}
	}
	staged, err := os.ReadDir(staging)
	if err != nil {
		return err
	}
	for _, e := range staged {
		if err := os.Rename(filepath.Join(staging, e.Name()), filepath.Join(live, e.Name())); err != nil {
			return fmt.Errorf("move restored %s into %s: %w", e.Name(), live, err)
		}
	}
	if err := os.Remove(staging); err != nil {
		return err
	}
	return durable.SyncDir(afero.NewOsFs(), live)
}

// syncTree fsyncs every directory under root, deepest first.
func syncTree(root string) error {
	var dirs []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			dirs = append(dirs, p)
		}
		return err
	})
	if err != nil {
		return err
	}
	osfs := afero.NewOsFs()
	for i := len(dirs) - 1; i >= 0; i-- {
		if err := durable.SyncDir(osfs, dirs[i]); err != nil {
			return err
		}
	}
	return nil
}
