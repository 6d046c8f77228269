package durable

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/afero"
)

// ErrTooLarge is matched by errors.Is when a file is larger than what may
// be read into memory or written from it.
var ErrTooLarge = errors.New("file too large")

// TooLargeError names a file that is larger than its cap.
type TooLargeError struct {
	Path string
	Size int64 // what the file holds (at least), or -1 when unknown
	Max  int64
}

func (e *TooLargeError) Error() string {
	if e.Size < 0 {
		return fmt.Sprintf("%s is larger than the %s this tool reads from it: refused", e.Path, SizeText(e.Max))
	}
	return fmt.Sprintf("%s is %d bytes, more than the %s this tool reads from it: refused", e.Path, e.Size, SizeText(e.Max))
}

// Is makes errors.Is(err, ErrTooLarge) match.
func (e *TooLargeError) Is(target error) bool { return target == ErrTooLarge }

// SizeText is n in the largest binary unit that divides it, e.g. "16 MiB".
func SizeText(n int64) string {
	for _, u := range []struct {
		shift int
		name  string
	}{{30, "GiB"}, {20, "MiB"}, {10, "KiB"}} {
		if n >= 1<<u.shift && n%(1<<u.shift) == 0 {
			return fmt.Sprintf("%d %s", n>>u.shift, u.name)
		}
	}
	return fmt.Sprintf("%d bytes", n)
}

// LstatNoLinks checks that base/rel is a regular file and that no
// directory on the way from base to it is a symbolic link or anything but
// a directory, with Lstat where fsys offers it (base itself is trusted: it
// is where the caller was told to look). It returns the file's info.
// Anything else is a *NotRegularError naming the entry: a link planted on
// a target could make a pull read (and copy into the live state) any file
// of this machine.
func LstatNoLinks(fsys afero.Fs, base, rel string) (fs.FileInfo, error) {
	parts := strings.Split(filepath.ToSlash(rel), "/")
	p := base
	for i, part := range parts {
		p = filepath.Join(p, part)
		fi, err := lstat(fsys, p)
		if err != nil {
			return nil, err
		}
		last := i == len(parts)-1
		if (!last && !fi.IsDir()) || (last && !fi.Mode().IsRegular()) {
			return nil, &NotRegularError{Path: p, Mode: fi.Mode()}
		}
		if last {
			return fi, nil
		}
	}
	return nil, &os.PathError{Op: "lstat", Path: base, Err: fs.ErrInvalid}
}

// lstat is Lstat where fsys offers it, else Stat.
func lstat(fsys afero.Fs, name string) (fs.FileInfo, error) {
	if l, ok := fsys.(afero.Lstater); ok {
		fi, _, err := l.LstatIfPossible(name)
		return fi, err
	}
	return fsys.Stat(name)
}

// OpenNoLinks opens base/rel for reading after LstatNoLinks, and checks
// that what was opened is still a regular file and, on the OS filesystem,
// the same one (a link swapped in between is caught).
func OpenNoLinks(fsys afero.Fs, base, rel string) (afero.File, fs.FileInfo, error) {
	fi, err := LstatNoLinks(fsys, base, rel)
	if err != nil {
		return nil, nil, err
	}
	name := filepath.Join(base, filepath.FromSlash(rel))
	f, err := fsys.Open(name)
	if err != nil {
		return nil, nil, err
	}
	ofi, err := f.Stat()
	if err == nil {
		err = CheckRegular(name, ofi)
	}
	if err == nil && os.SameFile(fi, fi) && !os.SameFile(fi, ofi) { // OS infos only compare to themselves
		err = fmt.Errorf("%s changed while it was opened: refused", name)
	}
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return f, ofi, nil
}

// ReadFileNoLinks reads base/rel, a regular file reached through no link
// (OpenNoLinks), of at most max bytes: a larger one is a *TooLargeError
// before anything is read, and a file growing while read is refused at
// max+1 bytes.
func ReadFileNoLinks(fsys afero.Fs, base, rel string, max int64) ([]byte, error) {
	f, fi, err := OpenNoLinks(fsys, base, rel)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	name := filepath.Join(base, filepath.FromSlash(rel))
	if fi.Size() > max {
		return nil, &TooLargeError{Path: name, Size: fi.Size(), Max: max}
	}
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > max {
		return nil, &TooLargeError{Path: name, Size: -1, Max: max}
	}
	return data, nil
}
