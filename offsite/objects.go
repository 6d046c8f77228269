package offsite

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/afero"

	"github.com/atocore/atocore-backup/target"
)

// Object storage (target.ObjectStore): a snapshot is put in place file by
// file, its statement last, and may be locked (S3 Object Lock) as it goes.

// ObjectLock asks that every object of a pushed snapshot be kept from
// deletion and overwrite for Days days (S3 Object Lock retention) once it
// is in place. Mode is "governance" (an account with the bypass
// permission can still delete) or "compliance" (nobody can, not even the
// bucket's owner, until the date passes); "" is governance.
type ObjectLock struct {
	Days int
	Mode string
}

// Lock modes of ObjectLock.
const (
	LockGovernance = "governance"
	LockCompliance = "compliance"
)

func (l ObjectLock) enabled() bool { return l.Days > 0 }

// check refuses a lock this target cannot keep, before anything is sent.
func (l ObjectLock) check(rfs afero.Fs, url string) error {
	if l.Days < 0 {
		return fmt.Errorf("object lock of %d days: the days must be 0 (no lock) or more", l.Days)
	}
	if l.Mode != "" && l.Mode != LockGovernance && l.Mode != LockCompliance {
		return fmt.Errorf("object lock mode %q: it is governance or compliance", l.Mode)
	}
	if !l.enabled() {
		return nil
	}
	if _, ok := rfs.(target.RetentionLocker); !ok {
		return fmt.Errorf("%s cannot lock objects: Object Lock needs an s3:// target whose bucket was created with Object Lock enabled", url)
	}
	return nil
}

func (l ObjectLock) mode() string {
	if l.Mode == "" {
		return LockGovernance
	}
	return l.Mode
}

// placeObjects moves this push's incoming directory to final one file at
// a time (a server-side copy, then the delete of the incoming object),
// the statement's signature and the statement last, so that a reader
// never finds a statement beside missing files, and locks each object as
// it arrives. It resumes a placement interrupted halfway: a file already
// at final whose incoming copy is still there is moved again. A final
// that holds a statement already is another push's (or this one's,
// finished): takenEnd decides.
func placeObjects(rfs afero.Fs, incoming, final string, sg *signed, lock ObjectLock, now time.Time) error {
	if _, err := lstat(rfs, filepath.Join(final, StatementFile)); err == nil {
		return takenEnd(rfs, incoming, final, sg)
	}
	var rels []string
	err := afero.Walk(rfs, incoming, func(p string, info fs.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(incoming, p)
		rels = append(rels, rel)
		return nil
	})
	if err != nil {
		return fmt.Errorf("list %s on the target: %w", incoming, err)
	}
	if !slices.Contains(rels, StatementFile) {
		return fmt.Errorf("%s on the target has no %s: push again", incoming, StatementFile)
	}
	last := func(rel string) int {
		switch rel {
		case StatementFile:
			return 2
		case SignatureFile:
			return 1
		}
		return 0
	}
	slices.SortStableFunc(rels, func(a, b string) int {
		if d := last(a) - last(b); d != 0 {
			return d
		}
		return strings.Compare(a, b)
	})
	until := now.Add(time.Duration(lock.Days) * 24 * time.Hour)
	for _, rel := range rels {
		src, dst := filepath.Join(incoming, rel), filepath.Join(final, rel)
		if err := moveObject(rfs, src, dst); err != nil {
			return fmt.Errorf("put %s in place on the target: %w", dst, err)
		}
		if lock.enabled() {
			if err := rfs.(target.RetentionLocker).SetRetention(dst, lock.mode(), until); err != nil {
				return fmt.Errorf("lock %s on the target until %s: %w", dst, until.UTC().Format(time.RFC3339), err)
			}
		}
	}
	_ = rfs.RemoveAll(incoming)
	if err := holds(rfs, final, sg); err != nil {
		return fmt.Errorf("%w: this push placed its upload at %s, and another push's statement is there now (%v); push from one host per stamp", ErrStampTaken, final, err)
	}
	return nil
}

// moveObject copies src to dst on the server and deletes src. A dst left
// by an interrupted move is replaced (it is not locked yet: locking
// follows the move).
func moveObject(rfs afero.Fs, src, dst string) error {
	if _, err := lstat(rfs, dst); err == nil {
		if err := rfs.Remove(dst); err != nil {
			return err
		}
	}
	if c, ok := rfs.(target.ServerCopier); ok {
		if err := c.CopyFile(src, dst); err != nil {
			return err
		}
		return rfs.Remove(src)
	}
	return rfs.Rename(src, dst)
}

// heldByLock is remote prune's target.RetentionLocker check of one
// snapshot: the latest retention date among its objects that has not
// passed, as a reason to keep it ("" when none holds it).
func heldByLock(ctx context.Context, rfs afero.Fs, dir string, now time.Time) (string, error) {
	rl, ok := rfs.(target.RetentionLocker)
	if !ok {
		return "", nil
	}
	var latest time.Time
	var mode string
	locked := 0
	err := afero.Walk(rfs, dir, func(p string, info fs.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		m, until, err := rl.Retention(p)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("retention of %s: %w", p, err)
		}
		if until.After(now) {
			locked++
			if until.After(latest) {
				latest, mode = until, m
			}
		}
		return nil
	})
	if err != nil || locked == 0 {
		return "", err
	}
	return fmt.Sprintf("object lock (%s) holds %d object(s) until %s", mode, locked, latest.UTC().Format(time.RFC3339)), nil
}
