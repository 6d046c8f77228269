package offsite

import (
	"fmt"
	"io/fs"
	"syscall"

	"github.com/spf13/afero"

	"github.com/atocore/atocore-backup/internal/durable"
)

// sameFile checks that dst, a link just made to src, is the same file:
// a regular file of src's size and, where the target reports them (a
// local directory), the same device and inode with a link count of two
// or more; elsewhere (SFTP reports neither) the same mode and modification
// time, which a hard link shares.
func sameFile(rfs afero.Fs, src, dst string) error {
	s, err := lstat(rfs, src)
	if err != nil {
		return fmt.Errorf("link %s: %w", dst, err)
	}
	d, err := lstat(rfs, dst)
	if err != nil {
		return fmt.Errorf("link %s: %w (%w)", dst, durable.ErrLinkNotMade, err)
	}
	if !d.Mode().IsRegular() || d.Size() != s.Size() {
		return fmt.Errorf("link %s: %w: %s of %d bytes where the source is %d", dst, durable.ErrLinkNotMade, d.Mode().Type(), d.Size(), s.Size())
	}
	ss, ok1 := s.Sys().(*syscall.Stat_t)
	ds, ok2 := d.Sys().(*syscall.Stat_t)
	if ok1 && ok2 {
		if ss.Dev != ds.Dev || ss.Ino != ds.Ino || ds.Nlink < 2 {
			return fmt.Errorf("link %s: %w: another file (inode %d, %d links) than %s (inode %d)", dst, durable.ErrLinkNotMade, ds.Ino, ds.Nlink, src, ss.Ino)
		}
		return nil
	}
	if d.Mode() != s.Mode() || !d.ModTime().Equal(s.ModTime()) {
		return fmt.Errorf("link %s: %w: mode %s, modified %s; the source has %s, %s", dst, durable.ErrLinkNotMade, d.Mode(), d.ModTime(), s.Mode(), s.ModTime())
	}
	return nil
}

// lstat is Lstat where fsys has it, else Stat.
func lstat(fsys afero.Fs, name string) (fs.FileInfo, error) {
	if l, ok := fsys.(afero.Lstater); ok {
		fi, _, err := l.LstatIfPossible(name)
		return fi, err
	}
	return fsys.Stat(name)
}
