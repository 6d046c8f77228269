package offsite

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/afero"

	"github.com/atocore/atocore-backup/internal/ctxio"
	"github.com/atocore/atocore-backup/internal/durable"
	"github.com/atocore/atocore-backup/internal/pagedelta"
	"github.com/atocore/atocore-backup/internal/progress"
	"github.com/atocore/atocore-backup/internal/snapshot"
)

// localBases finds, for a rebuild, a local snapshot's copy of a file: the
// filesystem and path of rel in the snapshot stamp, ok false when there is
// none. nil finds none: everything comes from the target.
type localBases func(stamp, rel string) (afero.Fs, string, bool)

// backupDirBases finds bases among the snapshots of a backup directory.
func backupDirBases(fsys afero.Fs, backupDir string) localBases {
	return func(stamp, rel string) (afero.Fs, string, bool) {
		p := filepath.Join(snapshot.Dir(backupDir, stamp), filepath.FromSlash(rel))
		fi, err := fsys.Stat(p)
		return fsys, p, err == nil && fi.Mode().IsRegular()
	}
}

// link is one delta of a chain, or the whole copy that starts it, on the
// target: the remote file, where it is, how to decrypt it, the digest its
// bytes must have, and the size of the file it makes (its snapshot's
// manifest's).
type link struct {
	stamp string
	dir   string
	file  snapshot.File // as the remote manifest lists it
	want  string
	size  int64
	dec   interface {
		Decrypt(io.Reader) (io.Reader, error)
	}
}

// rebuild writes to dst on fsys the file that the page delta f (of the
// snapshot stamp, in the target directory dir) makes, size bytes: it
// walks the chain of deltas back to a whole copy, local (bases) or on the
// target, copies that, and applies every delta after it in order. The
// caller checks the result's SHA-256 against the snapshot's manifest.
func rebuild(ctx context.Context, remote Remote, open Opening, bases localBases, top link, fsys afero.Fs, dst string) (int64, error) {
	rel, base, _ := pagedelta.Parse(strings.TrimSuffix(top.file.Path, ".age"))
	chain := []link{top}
	var start *link
	var local afero.Fs
	var localPath string
	for cur, after := base, top.stamp; ; {
		if len(chain) > maxChainRead || cur >= after || !snapshot.IsStamp(cur) {
			return 0, fmt.Errorf("%w: %s is a delta on %q (%s)", ErrRemoteCorrupt, top.file.Path, base, errDeltaChain)
		}
		if bases != nil {
			if bfs, p, ok := bases(cur, rel); ok {
				local, localPath = bfs, p
				break
			}
		}
		l, next, err := chainLink(ctx, remote, open, cur, rel)
		if err != nil {
			return 0, err
		}
		if next == "" {
			start = l
			break
		}
		chain = append(chain, *l)
		cur, after = next, cur
	}
	// A hostile target's files may name any size: every step is bounded
	// by the size its own snapshot's manifest gives the file.
	tmp := dst + ".rebuild"
	if err := fsys.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return 0, err
	}
	var err error
	// The copy's checksum is summed as it is written: the first delta
	// then needs no second read of the database.
	track := &pagedelta.Tracker{}
	defer track.Close()
	if start != nil {
		if start.file.Size > ageSize(start.size) {
			return 0, fmt.Errorf("%w: snapshot %s lists its %s at %d bytes, more than a copy of its %d-byte database takes", ErrRemoteCorrupt, start.stamp, start.file.Path, start.file.Size, start.size)
		}
		var n int64
		n, err = copyIn(ctx, remote.FS, start.dir, start.file.Path, start.file.Size, fsys, tmp, start.dec, start.want, track)
		if err == nil && n != start.size {
			_ = fsys.Remove(tmp)
			err = fmt.Errorf("%w: snapshot %s's %s decrypts to %d bytes, its manifest says %d", ErrRemoteCorrupt, start.stamp, start.file.Path, n, start.size)
		}
	} else {
		err = copyLocal(ctx, local, localPath, fsys, tmp, track)
	}
	if err != nil {
		return 0, fmt.Errorf("the copy of %s it is a page delta on: %w", rel, err)
	}
	out, err := fsys.OpenFile(tmp, os.O_RDWR, 0)
	if err != nil {
		_ = fsys.Remove(tmp)
		return 0, err
	}
	done := false
	defer func() {
		out.Close()
		if !done {
			_ = fsys.Remove(tmp)
		}
	}()
	rb := pagedelta.NewRebuilderFrom(out, track)
	for i := len(chain) - 1; i >= 0; i-- {
		l := chain[i]
		where := l.file.Path
		if i > 0 {
			where = "snapshot " + l.stamp + "'s " + where
		}
		if err := applyLink(ctx, remote.FS, l, rb, l.size); err != nil {
			return 0, fmt.Errorf("%s: %w", where, err)
		}
		if fi, err := out.Stat(); err != nil || fi.Size() != l.size {
			return 0, fmt.Errorf("%w: %s rebuilds a file of another size than its manifest lists (%d bytes)", ErrRemoteCorrupt, where, l.size)
		}
	}
	if err := out.Sync(); err != nil {
		return 0, err
	}
	if err := out.Close(); err != nil {
		return 0, err
	}
	if err := fsys.Rename(tmp, dst); err != nil {
		return 0, err
	}
	done = true
	return top.size, nil
}

// ageSize is the most an age file of a plaintext of n bytes takes: the
// header (its stanzas: hundreds of recipients fit in 1 MiB) and 16 bytes
// per 64 KiB chunk.
func ageSize(n int64) int64 { return n + n/4096 + 1<<20 }

// chainLink finds the copy of rel in the target's snapshot stamp: the
// whole file (next "") or a delta on the snapshot next.
func chainLink(ctx context.Context, remote Remote, open Opening, stamp, rel string) (*link, string, error) {
	dir := snapshot.Dir(remote.Root, stamp)
	if fi, err := remote.FS.Stat(dir); err != nil || !fi.IsDir() {
		return nil, "", fmt.Errorf("%w: its database is a page delta on snapshot %s, which the target no longer holds: pull an older snapshot, or push again from the host that made it", ErrRemoteCorrupt, stamp)
	}
	var st *Statement
	sg := readSigned(remote.FS, dir, stamp, open.Trust.Signers)
	switch {
	case sg.status == SignatureVerified:
		st = sg.st
	case open.Trust.Signers != nil && !open.Trust.AllowUnsigned:
		// A base is trusted as much as the snapshot that needs it.
		return nil, "", fmt.Errorf("%w: snapshot %s, a base of its page delta, has no statement signed by a trusted key", ErrBadSignature, stamp)
	}
	rm, err := readManifestFor(remote.FS, dir, st)
	if err != nil {
		return nil, "", fmt.Errorf("snapshot %s (a base of its page delta): %w", stamp, err)
	}
	if rm == nil {
		return nil, "", fmt.Errorf("%w: snapshot %s, a base of its page delta, is not encrypted", ErrRemoteCorrupt, stamp)
	}
	var keyFile []byte
	if rm.KeyFile != "" {
		if keyFile, err = readSnapshotFile(remote.FS, dir, rm.KeyFile, maxKeyFileSize); err != nil {
			return nil, "", fmt.Errorf("snapshot %s: read its key file: %w", stamp, err)
		}
		if err := checkSignedBytes(st, rm.KeyFile, keyFile); err != nil {
			return nil, "", err
		}
	}
	dec, err := open.decryptor(keyFile)
	if err != nil {
		return nil, "", err
	}
	size, err := manifestSize(remote.FS, dir, rm, st, dec, rel)
	if err != nil {
		return nil, "", fmt.Errorf("snapshot %s (a base of its page delta): %w", stamp, err)
	}
	for _, f := range rm.Files {
		name := strings.TrimSuffix(f.Path, ".age")
		next := ""
		if r, b, ok := pagedelta.Parse(name); ok {
			name, next = r, b
		}
		if name != rel || name == f.Path {
			continue
		}
		want, err := signedDigest(st, f.Path, f.SHA256)
		if err != nil {
			return nil, "", err
		}
		return &link{stamp: stamp, dir: dir, file: f, want: want, size: size, dec: dec}, next, nil
	}
	return nil, "", fmt.Errorf("%w: snapshot %s, a base of its page delta, holds no copy of %s", ErrRemoteCorrupt, stamp, rel)
}

// manifestSize reads the encrypted manifest.json of the target's snapshot
// in dir (bounded, its ciphertext digest checked) and returns the size it
// gives rel.
func manifestSize(rfs afero.Fs, dir string, rm *RemoteManifest, st *Statement, dec interface {
	Decrypt(io.Reader) (io.Reader, error)
}, rel string) (int64, error) {
	name := snapshot.ManifestFile + ".age"
	var listed *snapshot.File
	for i := range rm.Files {
		if rm.Files[i].Path == name {
			listed = &rm.Files[i]
		}
	}
	if listed == nil {
		return 0, fmt.Errorf("%w: it has no %s", ErrRemoteCorrupt, name)
	}
	data, err := readSnapshotFile(rfs, dir, name, maxManifestSize)
	if err != nil {
		return 0, err
	}
	want, err := signedDigest(st, name, listed.SHA256)
	if err != nil {
		return 0, err
	}
	if digestOf(data) != want {
		return 0, fmt.Errorf("%w: %s does not match its digest in %s", ErrRemoteCorrupt, name, RemoteManifestFile)
	}
	r, err := dec.Decrypt(bytesReader(data))
	if err != nil {
		return 0, err
	}
	plain, err := io.ReadAll(io.LimitReader(r, maxManifestSize+1))
	if err != nil {
		return 0, fmt.Errorf("%w: %s: %w", ErrRemoteCorrupt, name, err)
	}
	m, err := snapshot.DecodeManifest(plain)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrRemoteCorrupt, err)
	}
	f, ok := m.Lookup(rel)
	if !ok {
		return 0, fmt.Errorf("%w: its manifest lists no %s", ErrRemoteCorrupt, rel)
	}
	return f.Size, nil
}

// applyLink applies the delta l, read from the target and decrypted as
// it streams, to the file rb rebuilds; its bytes must hash to l.want.
func applyLink(ctx context.Context, rfs afero.Fs, l link, rb *pagedelta.Rebuilder, max int64) error {
	in, err := openSnapshotFile(rfs, l.dir, l.file.Path, l.file.Size)
	if err != nil {
		return err
	}
	defer in.Close()
	progress.Plan(ctx, l.file.Size)
	src := &exactly{r: ctxio.NewReader(ctx, in), name: l.file.Path, left: l.file.Size}
	h := sha256.New()
	r, err := l.dec.Decrypt(io.TeeReader(src, h))
	if err != nil {
		return err
	}
	if err := rb.Apply(ctx, r, max); err != nil {
		return fmt.Errorf("%w: %w", ErrRemoteCorrupt, err)
	}
	if _, err := io.Copy(io.Discard, io.TeeReader(src, h)); err != nil {
		return err
	}
	if l.want != "" && hex.EncodeToString(h.Sum(nil)) != l.want {
		return fmt.Errorf("%w: it does not match its digest in %s", ErrRemoteCorrupt, RemoteManifestFile)
	}
	return nil
}

// copyLocal copies a local snapshot's file to dst. (A wrong one fails
// the first delta's checksum, and the rebuild goes to the target's chain.)
func copyLocal(ctx context.Context, from afero.Fs, src string, to afero.Fs, dst string, tee io.Writer) error {
	in, err := from.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	_, err = durable.CopyFile(ctx, to, dst, io.TeeReader(in, tee), 0o600)
	return err
}
