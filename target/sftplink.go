package target

import (
	"os"

	"github.com/atocore/atocore-backup/internal/durable"
)

// ErrLinkNotMade is matched (errors.Is) by the error of an SFTP Link that
// the server answered with success but did not make: the new name is
// missing or is not the same file. rclone serve sftp 1.60 does this (it
// advertises hardlink@openssh.com and ignores the request). It also
// matches errors.ErrUnsupported: callers copy instead, as for a server
// without the extension.
var ErrLinkNotMade = durable.ErrLinkNotMade

// Link makes a hard link on the server (hardlink@openssh.com), and checks
// that it is there: newname must then stat as a regular file of oldname's
// size, mode and modification time (SFTP reports no inode or link count;
// a hard link shares all three). A server whose link is not there gets
// ErrLinkNotMade for this and every later Link on the connection, and
// whatever it left under newname is removed.
func (s *sftpFS) Link(oldname, newname string) error {
	if !s.hardlink {
		return &os.LinkError{Op: "link", Old: oldname, New: newname, Err: unsupported("hardlink@openssh.com")}
	}
	if s.fakeLinks.Load() {
		return &os.LinkError{Op: "link", Old: oldname, New: newname, Err: ErrLinkNotMade}
	}
	if err := s.c.Link(oldname, newname); err != nil {
		if s.exists(newname, err) {
			err = os.ErrExist
		}
		return &os.LinkError{Op: "link", Old: oldname, New: newname, Err: normalize(err)}
	}
	old, err := s.c.Lstat(oldname)
	if err != nil {
		return &os.LinkError{Op: "link", Old: oldname, New: newname, Err: normalize(err)}
	}
	made, err := s.c.Lstat(newname)
	if err == nil && made.Mode().IsRegular() && made.Size() == old.Size() &&
		made.Mode() == old.Mode() && made.ModTime().Equal(old.ModTime()) {
		return nil
	}
	s.fakeLinks.Store(true)
	if err == nil {
		_ = s.c.Remove(newname) // a copy or stray file under our new name
	}
	return &os.LinkError{Op: "link", Old: oldname, New: newname, Err: ErrLinkNotMade}
}
