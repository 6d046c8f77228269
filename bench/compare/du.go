package main

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// inode identifies a file across its hardlinked names.
type inode struct{ dev, ino uint64 }

// diskUsage returns the bytes allocated on disk (st_blocks × 512) to
// everything under paths, directories included, counting an inode once
// however many names it has under any of them, as du does. A path that
// does not exist counts 0, and so do files that vanish during the walk.
//
// The growth of this figure across a command is the report's "bytes
// written": a hardlinked file (ours' unchanged Chroma files, rsync -H)
// costs nothing, a deduplicated chunk costs nothing, a replaced file costs
// the difference.
func diskUsage(paths ...string) (int64, error) {
	seen := map[inode]bool{}
	var total int64
	for _, p := range paths {
		err := filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					return nil
				}
				return err
			}
			fi, err := os.Lstat(path)
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					return nil
				}
				return err
			}
			st, ok := fi.Sys().(*syscall.Stat_t)
			if !ok {
				return nil
			}
			k := inode{uint64(st.Dev), st.Ino}
			if !seen[k] {
				seen[k] = true
				total += st.Blocks * 512
			}
			return nil
		})
		if err != nil {
			return total, err
		}
	}
	return total, nil
}
