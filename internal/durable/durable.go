package durable

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/spf13/afero"
	"golang.org/x/sys/unix"
)

// TempName returns a fresh name beside target: target's directory, a dot, its
// base name and a random suffix. A rename from it is atomic because it is on
// the same filesystem.
func TempName(target, tag string) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return filepath.Join(filepath.Dir(target), "."+filepath.Base(target)+"."+tag+"-"+hex.EncodeToString(b[:]))
}

// WriteFile atomically replaces name with data: a temporary file in the same
// directory is written, synced and renamed over name, then the directory is
// synced. On error name is unchanged and the temporary file is removed.
func WriteFile(fsys afero.Fs, name string, data []byte, perm fs.FileMode) error {
	tmp := TempName(name, "tmp")
	f, err := fsys.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return fmt.Errorf("create %s: %w", tmp, err)
	}
	n, err := f.Write(data)
	if err == nil && n != len(data) {
		err = io.ErrShortWrite
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = fsys.Rename(tmp, name)
	}
	if err != nil {
		_ = fsys.Remove(tmp)
		return fmt.Errorf("write %s: %w", name, err)
	}
	return SyncDir(fsys, filepath.Dir(name))
}

// SyncDir fsyncs a directory so that the names created, renamed or removed
// in it survive a power loss. Filesystems that cannot sync a directory
// (in-memory ones, some remote ones) are not an error.
func SyncDir(fsys afero.Fs, dir string) error {
	d, err := fsys.Open(dir)
	if err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !unsupported(err) {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}

func unsupported(err error) bool {
	return errors.Is(err, syscall.EINVAL) || errors.Is(err, syscall.ENOTSUP) ||
		errors.Is(err, syscall.EBADF) || errors.Is(err, errors.ErrUnsupported)
}

// OSPather is implemented by filesystems backed by real files under
// another name (a base-path view of the OS filesystem, say).
type OSPather interface {
	OSPath(name string) (string, error)
}

// OSPath returns the operating-system path behind name on fsys, when fsys
// is the OS filesystem or implements OSPather. SQLite can only open real
// files; callers use this to open them in place and fall back to a
// temporary copy (or a read-only VFS) when there is no such path.
func OSPath(fsys afero.Fs, name string) (string, bool) {
	switch f := fsys.(type) {
	case *afero.OsFs:
		return name, true
	case OSPather:
		p, err := f.OSPath(name)
		return p, err == nil
	}
	return "", false
}

// Linker is implemented by filesystems that can make a hard link (a second
// name for the same file), such as a local directory or an SFTP server
// with the hardlink@openssh.com extension.
type Linker interface {
	Link(oldname, newname string) error
}

// ErrLinkNotMade is a hard link that the filesystem reported made but that
// is not there, or is not the same file as its source (a server that
// answers success and makes nothing, as rclone serve sftp 1.60 does). It
// matches errors.ErrUnsupported too: callers copy instead.
var ErrLinkNotMade = fmt.Errorf("the server reported the hard link made, but it is not there: %w", errors.ErrUnsupported)

// Link makes newname a hard link to oldname on fsys, through fsys's own
// Linker or, on OS paths, os.Link. It returns an error matching
// errors.ErrUnsupported when fsys cannot link; callers then copy.
func Link(fsys afero.Fs, oldname, newname string) error {
	if l, ok := fsys.(Linker); ok {
		return l.Link(oldname, newname)
	}
	po, ok1 := OSPath(fsys, oldname)
	pn, ok2 := OSPath(fsys, newname)
	if !ok1 || !ok2 {
		return fmt.Errorf("link %s: %w", newname, errors.ErrUnsupported)
	}
	return os.Link(po, pn)
}

// SyncTree makes every file and directory under root durable. On an OS
// filesystem that is one syncfs(2) of root's filesystem (what `sync` does,
// scoped to one filesystem): the device can write everything in one
// batch, where a fsync per file waits once per file. Elsewhere each file
// and directory is synced in turn.
func SyncTree(fsys afero.Fs, root string) error {
	if p, ok := OSPath(fsys, root); ok {
		d, err := os.Open(p)
		if err != nil {
			return fmt.Errorf("sync %s: %w", root, err)
		}
		defer d.Close()
		if err := unix.Syncfs(int(d.Fd())); err != nil {
			return fmt.Errorf("sync %s: %w", root, err)
		}
		return nil
	}
	return afero.Walk(fsys, root, func(p string, info fs.FileInfo, err error) error {
		if err != nil {
			return err
		}
		f, err := fsys.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := f.Sync(); err != nil && !unsupported(err) {
			return fmt.Errorf("sync %s: %w", p, err)
		}
		return nil
	})
}
