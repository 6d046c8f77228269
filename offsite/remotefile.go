package offsite

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"

	"github.com/spf13/afero"

	"github.com/atocore/atocore-backup/internal/durable"
	"github.com/atocore/atocore-backup/internal/snapshot"
)

// Reading from a target that may be hostile. The target is trusted to
// store bytes, not to say what they are: every entry read must be a
// regular file reached through real directories (a link could make a pull
// read, and restore into the live state, any file of this machine), and
// every read is bounded: small files by a cap, data files by their listed
// sizes, refused before a byte past them is written locally.

// Caps on the small files read whole into memory from a target.
const (
	// maxMetadataSize caps backup-metadata.json (a few hundred bytes).
	maxMetadataSize = 1 << 20
	// maxKeyFileSize caps key.age (about 400 bytes).
	maxKeyFileSize = 64 << 10
)

// checkSnapshotDir refuses a snapshot directory that is not a directory
// under a snapshots/ directory that is not one either (a link to a
// directory of this machine, for instance).
func checkSnapshotDir(rfs afero.Fs, dir string) error {
	for _, p := range []string{filepath.Dir(dir), dir} {
		fi, err := lstat(rfs, p)
		if err != nil {
			return err
		}
		if !fi.IsDir() {
			return fmt.Errorf("the target's %s is %s: refused (a target may hold only regular files and directories)", p, typeText(fi.Mode()))
		}
	}
	return nil
}

// readSnapshotFile reads rel of the snapshot directory dir, a regular file
// of at most max bytes reached through no link.
func readSnapshotFile(rfs afero.Fs, dir, rel string, max int64) ([]byte, error) {
	if err := checkSnapshotDir(rfs, dir); err != nil {
		return nil, err
	}
	data, err := durable.ReadFileNoLinks(rfs, dir, rel, max)
	if err != nil {
		return nil, hostile(err)
	}
	return data, nil
}

// openSnapshotFile opens rel of the snapshot directory dir for a copy of
// exactly size bytes: it must be a regular file reached through no link,
// of that size.
func openSnapshotFile(rfs afero.Fs, dir, rel string, size int64) (afero.File, error) {
	if err := checkSnapshotDir(rfs, dir); err != nil {
		return nil, err
	}
	f, fi, err := durable.OpenNoLinks(rfs, dir, rel)
	if err != nil {
		return nil, hostile(err)
	}
	if fi.Size() != size {
		f.Close()
		return nil, fmt.Errorf("%w: the target's %s is %d bytes, its snapshot lists %d: refused before copying", ErrRemoteCorrupt, rel, fi.Size(), size)
	}
	return f, nil
}

// exactly reads r, which must hold exactly size bytes: it never returns
// more, and a source that turns out longer fails at size+1.
type exactly struct {
	r    io.Reader
	name string
	left int64
}

func (e *exactly) Read(p []byte) (int, error) {
	if e.left <= 0 {
		var one [1]byte
		if n, _ := io.ReadFull(e.r, one[:]); n > 0 {
			return 0, fmt.Errorf("%w: the target's %s grew past its listed size while it was read: refused", ErrRemoteCorrupt, e.name)
		}
		return 0, io.EOF
	}
	if int64(len(p)) > e.left {
		p = p[:e.left]
	}
	n, err := e.r.Read(p)
	e.left -= int64(n)
	if err == io.EOF && e.left > 0 {
		return n, fmt.Errorf("%w: the target's %s shrank while it was read", ErrRemoteCorrupt, e.name)
	}
	return n, err
}

// hostile adds the rule to a refusal of a link or special file.
func hostile(err error) error {
	if !errors.Is(err, durable.ErrNotRegular) {
		return err
	}
	return fmt.Errorf("%w (a target may hold only regular files and directories: links are refused)", err)
}

func typeText(m fs.FileMode) string {
	if m&fs.ModeSymlink != 0 {
		return "a symbolic link"
	}
	return "not a directory (" + m.Type().String() + ")"
}

// keyFileID is the session identity of a passphrase key file, as the push
// state and the journal record it.
func keyFileID(keyFile []byte) string {
	sum := sha256.Sum256(keyFile)
	return "passphrase:" + hex.EncodeToString(sum[:])
}

// snapshotEntries walks the snapshot directory dir and returns its files by
// slash path with their sizes; a link or special file anywhere is refused.
func snapshotEntries(ctx context.Context, rfs afero.Fs, dir string) (map[string]int64, error) {
	if err := checkSnapshotDir(rfs, dir); err != nil {
		return nil, err
	}
	out := map[string]int64{}
	err := walkFiles(rfs, dir, func(p string, info fs.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if cerr := ctx.Err(); cerr != nil {
			return cerr
		}
		if info.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		if !info.Mode().IsRegular() {
			return hostile(&durable.NotRegularError{Path: p, Mode: info.Mode()})
		}
		if !snapshot.LocalPath(rel) {
			return fmt.Errorf("remote file %q is outside the snapshot", rel)
		}
		out[rel] = info.Size()
		return nil
	})
	return out, err
}
