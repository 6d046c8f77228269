package target

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/pkg/sftp"
	"github.com/spf13/afero"
)

// NewSFTPFS is an afero.Fs over an SFTP client, with POSIX-like semantics
// where the protocol allows. Use it instead of afero's sftpfs, which
// chmods files on every open, silently skips fsync and WriteAt, and whose
// RemoveAll deletes nothing.
//
// Paths are the server's. Errors are *os.PathError or *os.LinkError and
// match os.ErrNotExist, os.ErrExist and os.ErrPermission with errors.Is.
// Differences from the OS filesystem, by design of SFTP:
//   - new files and directories get perm exactly (no umask), set right
//     after creation; opening an existing file never changes its mode;
//   - Rename of a file replaces an existing file (posix-rename@openssh.com
//     when offered); Rename of a directory never replaces anything;
//   - File.Sync is fsync@openssh.com, and a no-op when the server lacks it;
//   - Link, PosixRename, FreeSpace fail with errors.ErrUnsupported when the
//     server lacks hardlink@, posix-rename@ or statvfs@openssh.com; Link
//     also when the server's links are not real (ErrLinkNotMade).
//
// For fast uploads the client should be made with
// sftp.UseConcurrentWrites(true); WriteFileFrom and io.Copy onto its files
// then keep many write requests in flight.
func NewSFTPFS(c *sftp.Client) afero.Fs { return newSFTPFS(c) }

type sftpFS struct {
	c           *sftp.Client
	fsync       bool
	posixRename bool
	hardlink    bool
	statvfs     bool
	// fakeLinks is set once the server answered success to a hard link
	// it did not make (see Link); shared by the upload sessions' copies.
	fakeLinks *atomic.Bool

	// writers, when set, lends each WriteFileFrom an SFTP session of its
	// own. OpenSSH serves every session in a process of its own and
	// handles a session's requests one at a time: on a single session,
	// one upload's fsync (seconds, for a large file) holds up every other
	// upload's writes.
	writers chan *sftpFS
}

// lendWriters gives WriteFileFrom the SFTP sessions cs (on the same
// server) to upload through.
func (s *sftpFS) lendWriters(cs []*sftp.Client) {
	if len(cs) == 0 {
		return
	}
	s.writers = make(chan *sftpFS, len(cs))
	for _, c := range cs {
		w := *s
		w.c, w.writers = c, nil
		s.writers <- &w
	}
}

var (
	_ afero.Fs      = (*sftpFS)(nil)
	_ afero.Lstater = (*sftpFS)(nil)
	_ Linker        = (*sftpFS)(nil)
	_ PosixRenamer  = (*sftpFS)(nil)
	_ SpaceReporter = (*sftpFS)(nil)
	_ StreamWriter  = (*sftpFS)(nil)
)

func newSFTPFS(c *sftp.Client) *sftpFS {
	has := func(ext string) bool { _, ok := c.HasExtension(ext); return ok }
	return &sftpFS{
		c:           c,
		fsync:       has("fsync@openssh.com"),
		posixRename: has("posix-rename@openssh.com"),
		hardlink:    has("hardlink@openssh.com"),
		statvfs:     has("statvfs@openssh.com"),
		fakeLinks:   new(atomic.Bool),
	}
}

func (s *sftpFS) Name() string { return "SFTP" }

func (s *sftpFS) Create(name string) (afero.File, error) {
	return s.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o666)
}

func (s *sftpFS) Open(name string) (afero.File, error) {
	return s.OpenFile(name, os.O_RDONLY, 0)
}

// OpenFile opens name. A file it creates gets perm (set with fsetstat right
// after the open, since the protocol's open carries no mode here); an
// existing file keeps its mode. Directories open read-only, for Readdir.
func (s *sftpFS) OpenFile(name string, flag int, perm os.FileMode) (afero.File, error) {
	create := flag&os.O_CREATE != 0
	excl := create && flag&os.O_EXCL != 0
	existed := false
	if create && !excl {
		_, err := s.c.Lstat(name)
		existed = err == nil
	}
	f, err := s.c.OpenFile(name, flag)
	if err != nil {
		if flag&(os.O_WRONLY|os.O_RDWR|os.O_CREATE) == 0 {
			// Some servers refuse to open a directory; Readdir needs no handle.
			if fi, serr := s.c.Stat(name); serr == nil && fi.IsDir() {
				return &sftpFile{fs: s, name: name}, nil
			}
		}
		if excl && s.exists(name, err) {
			err = os.ErrExist
		}
		return nil, pathErr("open", name, err)
	}
	if create && !existed {
		if err := f.Chmod(perm); err != nil {
			f.Close()
			return nil, pathErr("chmod", name, err)
		}
	}
	return &sftpFile{fs: s, name: name, f: f}, nil
}

// exists tells whether a generic SFTP failure was about an existing name
// (SFTP v3 has no "file exists" status; OpenSSH reports EEXIST as Failure).
func (s *sftpFS) exists(name string, err error) bool {
	if errors.Is(err, os.ErrNotExist) || errors.Is(err, os.ErrPermission) || isConnErr(err) {
		return false
	}
	_, serr := s.c.Lstat(name)
	return serr == nil
}

// Mkdir creates the directory name with perm.
func (s *sftpFS) Mkdir(name string, perm os.FileMode) error {
	if err := s.c.Mkdir(name); err != nil {
		if s.exists(name, err) {
			err = os.ErrExist
		}
		return pathErr("mkdir", name, err)
	}
	return pathErr("chmod", name, s.c.Chmod(name, perm))
}

// MkdirAll creates name and its missing parents, each with perm.
func (s *sftpFS) MkdirAll(name string, perm os.FileMode) error {
	fi, err := s.c.Stat(name)
	if err == nil {
		if fi.IsDir() {
			return nil
		}
		return pathErr("mkdir", name, syscall.ENOTDIR)
	}
	if !errors.Is(err, os.ErrNotExist) {
		return pathErr("mkdir", name, err)
	}
	if parent := path.Dir(name); parent != name && parent != "." {
		if err := s.MkdirAll(parent, perm); err != nil {
			return err
		}
	}
	err = s.Mkdir(name, perm)
	if errors.Is(err, os.ErrExist) {
		if fi, serr := s.c.Stat(name); serr == nil && fi.IsDir() {
			return nil // created meanwhile
		}
	}
	return err
}

// Remove removes a file or an empty directory.
func (s *sftpFS) Remove(name string) error {
	return pathErr("remove", name, s.c.Remove(name))
}

// removeWorkers bounds the deletes in flight during RemoveAll: each is a
// round trip, and a Chroma copy holds many files.
const removeWorkers = 16

// RemoveAll removes name and everything under it, without following
// symbolic links; a missing name is not an error (os.RemoveAll). It checks
// that name is gone before returning nil.
func (s *sftpFS) RemoveAll(name string) error {
	if name == "" || path.Clean(name) == "/" {
		return pathErr("removeall", name, syscall.EINVAL)
	}
	if err := s.removeAll(name, make(chan struct{}, removeWorkers)); err != nil {
		return err
	}
	if _, err := s.c.Lstat(name); !errors.Is(err, os.ErrNotExist) {
		if err == nil {
			err = errors.New("still present after removal")
		}
		return pathErr("removeall", name, err)
	}
	return nil
}

func (s *sftpFS) removeAll(name string, sem chan struct{}) error {
	fi, err := s.c.Lstat(name)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return pathErr("removeall", name, err)
	}
	if !fi.IsDir() {
		return s.removeMissingOK(name, s.c.Remove)
	}
	entries, err := s.c.ReadDir(name)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return pathErr("removeall", name, err)
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	keep := func(err error) {
		mu.Lock()
		if first == nil {
			first = err
		}
		mu.Unlock()
	}
	for _, e := range entries {
		child := path.Join(name, e.Name())
		if e.IsDir() {
			if err := s.removeAll(child, sem); err != nil {
				keep(err)
			}
			continue
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := s.removeMissingOK(child, s.c.Remove); err != nil {
				keep(err)
			}
		})
	}
	wg.Wait()
	if first != nil {
		return first
	}
	return s.removeMissingOK(name, s.c.RemoveDirectory)
}

func (s *sftpFS) removeMissingOK(name string, rm func(string) error) error {
	if err := rm(name); err != nil && !errors.Is(err, os.ErrNotExist) {
		return pathErr("removeall", name, err)
	}
	return nil
}

// Rename renames a file, replacing an existing file as rename(2) does
// (posix-rename@openssh.com; without it, an existing target is an error).
// A directory is never renamed onto an existing name, even an empty
// directory: a snapshot moved into place cannot replace another.
func (s *sftpFS) Rename(oldname, newname string) error {
	fi, err := s.c.Lstat(oldname)
	if err != nil {
		return linkErr(oldname, newname, err)
	}
	switch {
	case fi.IsDir():
		if _, err := s.c.Lstat(newname); err == nil {
			return linkErr(oldname, newname, os.ErrExist)
		}
		err = s.c.Rename(oldname, newname)
	case s.posixRename:
		err = s.c.PosixRename(oldname, newname)
	default:
		err = s.c.Rename(oldname, newname)
	}
	if err != nil && s.exists(newname, err) {
		err = os.ErrExist
	}
	return linkErr(oldname, newname, err)
}

// PosixRename renames with rename(2)'s semantics on the server
// (posix-rename@openssh.com): an existing newname is replaced atomically.
func (s *sftpFS) PosixRename(oldname, newname string) error {
	if !s.posixRename {
		return linkErr(oldname, newname, unsupported("posix-rename@openssh.com"))
	}
	return linkErr(oldname, newname, s.c.PosixRename(oldname, newname))
}

// FreeSpace is the space available to unprivileged users on the server's
// filesystem that holds name (statvfs@openssh.com).
func (s *sftpFS) FreeSpace(name string) (uint64, error) {
	if !s.statvfs {
		return 0, pathErr("statvfs", name, unsupported("statvfs@openssh.com"))
	}
	st, err := s.c.StatVFS(name)
	if err != nil {
		return 0, pathErr("statvfs", name, err)
	}
	return st.Bavail * st.Frsize, nil
}

// WriteFileFrom uploads r into the new file name with many write
// requests in flight whatever r is (io.Copy would send a stream of unknown
// length one packet per round trip), fsyncs it when the server can, and
// closes it. A failed upload is removed: concurrent writes can leave holes.
func (s *sftpFS) WriteFileFrom(name string, r io.Reader, perm os.FileMode) (int64, error) {
	return s.writeFrom(name, r, perm, true)
}

// WriteFileFromNoSync is WriteFileFrom without the fsync: the caller syncs
// the file later (through another session, say: an fsync holds up the
// session it runs on), before relying on it.
func (s *sftpFS) WriteFileFromNoSync(name string, r io.Reader, perm os.FileMode) (int64, error) {
	return s.writeFrom(name, r, perm, false)
}

func (s *sftpFS) writeFrom(name string, r io.Reader, perm os.FileMode, sync bool) (int64, error) {
	if s.writers != nil {
		w := <-s.writers
		defer func() { s.writers <- w }()
		return w.writeFrom(name, r, perm, sync)
	}
	af, err := s.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return 0, err
	}
	f := af.(*sftpFile)
	n, err := f.f.ReadFromWithConcurrency(r, 0)
	if err == nil && sync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = s.c.Remove(name)
		return n, pathErr("write", name, err)
	}
	return n, nil
}

func (s *sftpFS) Stat(name string) (os.FileInfo, error) {
	fi, err := s.c.Stat(name)
	return fi, pathErr("stat", name, err)
}

// Lstat does not follow a final symbolic link.
func (s *sftpFS) Lstat(name string) (os.FileInfo, error) {
	fi, err := s.c.Lstat(name)
	return fi, pathErr("lstat", name, err)
}

// LstatIfPossible implements afero.Lstater.
func (s *sftpFS) LstatIfPossible(name string) (os.FileInfo, bool, error) {
	fi, err := s.Lstat(name)
	return fi, true, err
}

func (s *sftpFS) Chmod(name string, mode os.FileMode) error {
	return pathErr("chmod", name, s.c.Chmod(name, mode))
}

func (s *sftpFS) Chown(name string, uid, gid int) error {
	return pathErr("chown", name, s.c.Chown(name, uid, gid))
}

func (s *sftpFS) Chtimes(name string, atime, mtime time.Time) error {
	return pathErr("chtimes", name, s.c.Chtimes(name, atime, mtime))
}

// normalize unwraps the client's own *os.PathError (we add ours) and makes
// the protocol's "unsupported" status match errors.ErrUnsupported.
func normalize(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	var se *sftp.StatusError
	if errors.As(err, &se) && se.FxCode() == sftp.ErrSSHFxOpUnsupported {
		return fmt.Errorf("%w: %w", errors.ErrUnsupported, err)
	}
	return err
}

func pathErr(op, name string, err error) error {
	if err == nil {
		return nil
	}
	return &os.PathError{Op: op, Path: name, Err: normalize(err)}
}

func linkErr(oldname, newname string, err error) error {
	if err == nil {
		return nil
	}
	return &os.LinkError{Op: "rename", Old: oldname, New: newname, Err: normalize(err)}
}

func unsupported(ext string) error {
	return fmt.Errorf("%w: the server does not offer %s", errors.ErrUnsupported, ext)
}

// isConnErr is a lost or closed connection, after which no further request
// is worth sending.
func isConnErr(err error) bool {
	return errors.Is(err, sftp.ErrSSHFxConnectionLost) || errors.Is(err, io.EOF) ||
		errors.Is(err, net.ErrClosed) || errorContains(err, "connection lost")
}

func errorContains(err error, s string) bool { return err != nil && strings.Contains(err.Error(), s) }

var (
	_ Target        = (*sftpTarget)(nil)
	_ PosixRenamer  = (*sftpFS)(nil)
	_ Linker        = (*sftpFS)(nil)
	_ SpaceReporter = (*sftpFS)(nil)
	_ StreamWriter  = (*sftpFS)(nil)
)
