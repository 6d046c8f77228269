package backup

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/spf13/afero"

	"github.com/atocore/atocore-backup/internal/durable"
	"github.com/atocore/atocore-backup/internal/snapshot"
)

// KeepFailed is how many copies a prune keeps in failed/ (the newest):
// enough to compare a failure with the ones before it, while a create that
// fails every night does not fill the disk.
const KeepFailed = 3

// failedBeyondBound lists the stamps of failed/ beyond the newest
// KeepFailed, oldest first. Only directories named by a stamp count:
// anything else an operator put there is never touched.
func failedBeyondBound(fsys afero.Fs, backupDir string) ([]string, error) {
	root := filepath.Join(backupDir, snapshot.FailedDir)
	entries, err := afero.ReadDir(fsys, root)
	if errors.Is(err, os.ErrNotExist) {
		return []string{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", root, err)
	}
	var stamps []string
	for _, e := range entries {
		if e.IsDir() && snapshot.IsStamp(e.Name()) {
			stamps = append(stamps, e.Name())
		}
	}
	slices.Sort(stamps)
	if len(stamps) <= KeepFailed {
		return []string{}, nil
	}
	return stamps[:len(stamps)-KeepFailed], nil
}

// pruneFailed removes the copies of failed/ beyond the newest KeepFailed,
// under the backup directory's lock (the caller's), and returns their
// stamps. The bound is computed again from a second listing right before
// the removals, so that a copy placed in between is counted, and each
// copy leaves failed/ by one rename to a trash name before it is deleted,
// as a condemned snapshot does.
func pruneFailed(fsys afero.Fs, backupDir string) ([]string, error) {
	first, err := failedBeyondBound(fsys, backupDir)
	if err != nil || len(first) == 0 {
		return first, err
	}
	again, err := failedBeyondBound(fsys, backupDir)
	if err != nil {
		return []string{}, err
	}
	removed := []string{}
	for _, stamp := range again {
		if !slices.Contains(first, stamp) {
			continue // counted once only: leave it to the next prune
		}
		dir := filepath.Join(backupDir, snapshot.FailedDir, stamp)
		trash := filepath.Join(backupDir, snapshot.TrashPrefix+"failed-"+stamp)
		if err := fsys.Rename(dir, trash); err != nil {
			return removed, fmt.Errorf("move %s out of failed/: %w", dir, err)
		}
		if err := durable.SyncDir(fsys, filepath.Join(backupDir, snapshot.FailedDir)); err != nil {
			return removed, err
		}
		if err := fsys.RemoveAll(trash); err != nil {
			return removed, fmt.Errorf("delete %s (already out of failed/; the next run retries): %w", trash, err)
		}
		removed = append(removed, stamp)
	}
	return removed, nil
}
