package offsite

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"time"

	"github.com/spf13/afero"

	"github.com/atocore/atocore-backup/internal/snapshot"
	"github.com/atocore/atocore-backup/target"
)

// Object storage (target.ObjectStore): a snapshot's files are uploaded
// straight to its place, locked there (S3 Object Lock) when asked, and the
// statement, written last, makes it a snapshot.

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
		return fmt.Errorf("%s: %w", url, ErrCannotLock)
	}
	return nil
}

// ErrCannotLock is matched when a push asks for an object lock that its
// target cannot keep.
var ErrCannotLock = errors.New("this target cannot lock objects: Object Lock needs an s3:// target whose bucket was created with Object Lock enabled")

func (l ObjectLock) mode() string {
	if l.Mode == "" {
		return LockGovernance
	}
	return l.Mode
}

// placeObjects makes the snapshot whose files were uploaded straight to
// their place dir (object storage) a snapshot: it locks each of them
// (lock), then sign writes the statement's signature and the statement
// itself, the file whose presence makes the snapshot (readers ignore a
// snapshot directory without one: hasStatement), and those two are
// locked last. Locking before the statement means a snapshot never
// appears unlocked; a push cut off before it leaves files that the next
// push resumes (they are not rewritten: their bytes are checked).
func placeObjects(rfs afero.Fs, dir string, lock ObjectLock, now time.Time, sign func() (*signed, error)) (*signed, error) {
	until := now.Add(time.Duration(lock.Days) * 24 * time.Hour)
	lockAll := func(names []string) error {
		if !lock.enabled() {
			return nil
		}
		rl := rfs.(target.RetentionLocker)
		for _, name := range names {
			if err := rl.SetRetention(name, lock.mode(), until); err != nil {
				return fmt.Errorf("lock %s on the target until %s: %w", name, until.UTC().Format(time.RFC3339), err)
			}
		}
		return nil
	}
	var names []string
	err := walkFiles(rfs, dir, func(p string, info fs.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		if rel, _ := filepath.Rel(dir, p); rel != StatementFile && rel != SignatureFile {
			names = append(names, p)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list %s on the target: %w", dir, err)
	}
	if err := lockAll(names); err != nil {
		return nil, err
	}
	sg, err := sign()
	if err != nil {
		return nil, err
	}
	last := []string{filepath.Join(dir, StatementFile)}
	if sg.sigDigest != "" {
		last = append([]string{filepath.Join(dir, SignatureFile)}, last...)
	}
	if err := lockAll(last); err != nil {
		return nil, err
	}
	if err := holds(rfs, dir, sg); err != nil {
		return nil, fmt.Errorf("%w: this push wrote the statement of %s, and another push's is there now (%v); push from one host per stamp", ErrStampTaken, dir, err)
	}
	return sg, nil
}

// hasStatement reports whether dir, a snapshot's place, holds a statement:
// on object storage, where files are uploaded straight to their place, a
// snapshot directory without one is a push in progress (or cut off) and
// not a snapshot.
func hasStatement(rfs afero.Fs, dir string) bool {
	fi, err := lstat(rfs, filepath.Join(dir, StatementFile))
	return err == nil && fi.Mode().IsRegular()
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
	err := walkFiles(rfs, dir, func(p string, info fs.FileInfo, err error) error {
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

// removeObjects is remote prune's delete of one snapshot on object
// storage: the statement first, so that what a cut-off delete leaves is
// an upload in progress that readers ignore (and that removeAbandoned
// clears), never a snapshot with files missing.
func removeObjects(rfs afero.Fs, dir string) error {
	for _, name := range []string{StatementFile, SignatureFile} {
		if err := rfs.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return rfs.RemoveAll(dir)
}

// removeAbandonedObjects deletes, on object storage, the snapshot
// directories without a statement that no push claims: what a delete or a
// push cut off left. A push in progress holds its claim until it ends; one
// killed leaves its claim, and its upload waits for it to resume. The
// claim is looked for just before each directory is deleted, after the
// listing: a push that claimed its stamp meanwhile keeps its upload.
func removeAbandonedObjects(remote Remote) {
	entries, err := afero.ReadDir(remote.FS, filepath.Join(remote.Root, snapshot.SnapshotsDir))
	if err != nil {
		return
	}
	for _, e := range entries {
		dir := snapshot.Dir(remote.Root, e.Name())
		if !e.IsDir() || !snapshot.IsStamp(e.Name()) || hasStatement(remote.FS, dir) {
			continue
		}
		if _, err := lstat(remote.FS, filepath.Join(remote.Root, IncomingPrefix+e.Name()+claimSuffix)); !errors.Is(err, fs.ErrNotExist) {
			continue // claimed (or not known to be free)
		}
		_ = remote.FS.RemoveAll(dir)
	}
}
