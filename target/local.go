package target

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/afero"

	"github.com/atocore/atocore-backup/internal/durable"
)

// Local is a target in a directory of this machine (a mounted disk, an NFS
// export): FS() is that directory seen as "/", and Root() is "/". The
// directory is created 0700 when missing.
//
// Its FS has OS paths (durable.OSPather), so SQLite checks run in place and
// the backup directory lock is a real flock; it can hard-link, fsync
// directories and report free space.
func Local(dir string) (Target, error) {
	if dir == "" || !filepath.IsAbs(dir) {
		return nil, fmt.Errorf("target: local directory %q must be an absolute path", dir)
	}
	if err := os.MkdirAll(filepath.Clean(dir), 0o700); err != nil {
		return nil, fmt.Errorf("target: create %s: %w", dir, err)
	}
	return openLocal(dir, false)
}

// openLocal opens the local target dir. A missing dir is a
// *NotFoundError unless create; then it is made (0700) when its
// parent exists, and the parent's absence is the NotFoundError.
func openLocal(dir string, create bool) (Target, error) {
	if dir == "" || !filepath.IsAbs(dir) {
		return nil, fmt.Errorf("target: local directory %q must be an absolute path", dir)
	}
	dir = filepath.Clean(dir)
	fi, err := os.Stat(dir)
	if errors.Is(err, os.ErrNotExist) {
		missing := dir
		if create {
			if _, perr := os.Stat(filepath.Dir(dir)); errors.Is(perr, os.ErrNotExist) {
				missing = filepath.Dir(dir)
			} else if err = os.Mkdir(dir, 0o700); err != nil {
				return nil, fmt.Errorf("target: create %s: %w", dir, err)
			}
		}
		if err != nil {
			return nil, &NotFoundError{URL: URL{Scheme: SchemeFile, Path: missing}.String()}
		}
		fi, err = os.Stat(dir)
	}
	if err != nil {
		return nil, fmt.Errorf("target: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("target: %s is not a directory", dir)
	}
	base := afero.NewBasePathFs(afero.NewOsFs(), dir).(*afero.BasePathFs)
	return &localTarget{dir: dir, fs: &localFS{BasePathFs: base}}, nil
}

type localTarget struct {
	dir string
	fs  *localFS
}

var _ Target = (*localTarget)(nil)

func (t *localTarget) FS() afero.Fs { return t.fs }
func (t *localTarget) Root() string { return "/" }
func (t *localTarget) URL() string  { return URL{Scheme: SchemeFile, Path: t.dir}.String() }
func (t *localTarget) Close() error { return nil }

// localFS is the filesystem of a Local target: a base-path view of the OS
// filesystem that also knows the real path behind each name.
type localFS struct {
	*afero.BasePathFs
}

var (
	_ afero.Fs         = (*localFS)(nil)
	_ durable.OSPather = (*localFS)(nil)
	_ Linker           = (*localFS)(nil)
	_ PosixRenamer     = (*localFS)(nil)
	_ DirSyncer        = (*localFS)(nil)
	_ SpaceReporter    = (*localFS)(nil)
)

// Name names the filesystem.
func (l *localFS) Name() string { return "localFS" }

// OSPath is the real path behind name, for SQLite, which opens real files.
func (l *localFS) OSPath(name string) (string, error) { return l.RealPath(name) }

// Rename renames oldname to newname. A file replaces an existing file
// (rename(2)); a directory never replaces an existing one, even an empty
// one, so that a snapshot moved into place cannot overwrite another
// (rename(2) alone would replace an empty directory).
func (l *localFS) Rename(oldname, newname string) error {
	if fi, err := l.Lstat(oldname); err == nil && fi.IsDir() {
		if _, err := l.Lstat(newname); err == nil {
			return &os.LinkError{Op: "rename", Old: oldname, New: newname, Err: os.ErrExist}
		}
	}
	return l.BasePathFs.Rename(oldname, newname)
}

// PosixRename is rename(2): newname, if it exists, is replaced atomically.
func (l *localFS) PosixRename(oldname, newname string) error {
	return l.BasePathFs.Rename(oldname, newname)
}

// Lstat is os.Lstat on the real path.
func (l *localFS) Lstat(name string) (os.FileInfo, error) {
	fi, _, err := l.LstatIfPossible(name)
	return fi, err
}

// Link hard-links newname to oldname.
func (l *localFS) Link(oldname, newname string) error {
	o, n, err := l.realPaths(oldname, newname)
	if err != nil {
		return &os.LinkError{Op: "link", Old: oldname, New: newname, Err: err}
	}
	if err := os.Link(o, n); err != nil {
		return &os.LinkError{Op: "link", Old: oldname, New: newname, Err: unwrapLinkError(err)}
	}
	return nil
}

// SyncDir fsyncs the directory name.
func (l *localFS) SyncDir(name string) error {
	p, err := l.RealPath(name)
	if err != nil {
		return &os.PathError{Op: "sync", Path: name, Err: err}
	}
	d, err := os.Open(p)
	if err != nil {
		return &os.PathError{Op: "sync", Path: name, Err: unwrapPathError(err)}
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return &os.PathError{Op: "sync", Path: name, Err: unwrapPathError(err)}
	}
	return nil
}

// FreeSpace is the number of bytes an unprivileged user may still write on
// the filesystem that holds path.
func (l *localFS) FreeSpace(path string) (uint64, error) {
	p, err := l.RealPath(path)
	if err != nil {
		return 0, &os.PathError{Op: "statfs", Path: path, Err: err}
	}
	n, err := freeSpace(p)
	if err != nil {
		return 0, &os.PathError{Op: "statfs", Path: path, Err: err}
	}
	return n, nil
}

func (l *localFS) realPaths(a, b string) (string, string, error) {
	ra, err := l.RealPath(a)
	if err != nil {
		return "", "", err
	}
	rb, err := l.RealPath(b)
	return ra, rb, err
}

// unwrapPathError and unwrapLinkError drop the real path from an os error,
// whose message would otherwise show where the base directory is twice.
func unwrapPathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

func unwrapLinkError(err error) error {
	var le *os.LinkError
	if errors.As(err, &le) {
		return le.Err
	}
	return err
}

var (
	_ Target        = (*localTarget)(nil)
	_ PosixRenamer  = (*localFS)(nil)
	_ Linker        = (*localFS)(nil)
	_ DirSyncer     = (*localFS)(nil)
	_ SpaceReporter = (*localFS)(nil)
)
