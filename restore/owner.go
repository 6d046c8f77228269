package restore

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// owner is who owns a live file and with which permission bits.
type owner struct {
	uid, gid int
	mode     fs.FileMode
	known    bool
}

// ownerOf returns the owner of path; when path does not exist, the owner of
// its nearest existing parent directory with mode fallback.
func ownerOf(path string, fallback fs.FileMode) owner {
	fi, err := os.Stat(path)
	if err == nil {
		o := owner{mode: fi.Mode().Perm()}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			o.uid, o.gid, o.known = int(st.Uid), int(st.Gid), true
		}
		return o
	}
	for dir := filepath.Dir(path); ; dir = filepath.Dir(dir) {
		if fi, err := os.Stat(dir); err == nil {
			o := owner{mode: fallback}
			if st, ok := fi.Sys().(*syscall.Stat_t); ok {
				o.uid, o.gid, o.known = int(st.Uid), int(st.Gid), true
			}
			return o
		}
		if dir == filepath.Dir(dir) {
			return owner{mode: fallback}
		}
	}
}

// apply gives path o's owner and mode. Changing the owner needs privilege;
// when we are not privileged the file is already ours, which is the best
// that can be done, so EPERM is not an error.
func (o owner) apply(path string, isDir bool) error {
	mode := o.mode
	if isDir {
		mode = o.mode | 0o700
	}
	if err := os.Chmod(path, mode); err != nil {
		return err
	}
	if o.known && (o.uid != os.Geteuid() || o.gid != os.Getegid()) {
		if err := os.Lchown(path, o.uid, o.gid); err != nil && !errors.Is(err, syscall.EPERM) {
			return err
		}
	}
	return nil
}

// mkdirOwned creates dir and any missing parents, each 0700 and owned by
// o's owner (the owner of the nearest existing ancestor, or of the live
// path), so that the service user can use what a restore as root creates.
func mkdirOwned(dir string, o owner) error {
	var missing []string
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(d); err == nil {
			break
		}
		missing = append(missing, d)
		if d == filepath.Dir(d) {
			break
		}
	}
	for i := len(missing) - 1; i >= 0; i-- {
		if err := os.Mkdir(missing[i], 0o700); err != nil && !errors.Is(err, os.ErrExist) {
			return fmt.Errorf("create %s: %w", missing[i], err)
		}
		do := o
		do.mode = 0o700
		if err := do.apply(missing[i], true); err != nil {
			return fmt.Errorf("set owner of %s: %w", missing[i], err)
		}
	}
	return nil
}
