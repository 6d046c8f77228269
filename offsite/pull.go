package offsite

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/spf13/afero"

	"github.com/atocore/atocore-backup/backup"
	"github.com/atocore/atocore-backup/internal/ctxio"
	"github.com/atocore/atocore-backup/internal/durable"
	"github.com/atocore/atocore-backup/internal/pagedelta"
	"github.com/atocore/atocore-backup/internal/progress"
	"github.com/atocore/atocore-backup/internal/snapshot"
	"github.com/atocore/atocore-backup/validate"
)

// ErrRemoteCorrupt is matched by errors.Is when a remote file does not
// match its remote manifest.
var ErrRemoteCorrupt = errors.New("remote snapshot is damaged")

// PullResult says what a pull did. Its JSON is the output of `pull`.
type PullResult struct {
	Stamp     string `json:"stamp"`
	Path      string `json:"path"`
	Encrypted bool   `json:"encrypted"`
	Files     int    `json:"files"`
	Bytes     int64  `json:"bytes"`
	Valid     bool   `json:"valid"`
	// Signature is "verified", or "unsigned" when unsigned snapshots were
	// allowed and this one had no verifiable statement (a warning says so).
	Signature string   `json:"signature"`
	Warnings  []string `json:"warnings"`
}

// Pull fetches the remote snapshot stamp (decrypting it with open when it
// is encrypted) into cfg's backup directory, validates it there, and puts
// it in place under snapshots/<stamp>/, where it restores like any other.
// A damaged remote file or an invalid result leaves nothing behind.
func pullRemote(ctx context.Context, cfg backup.Config, remote Remote, stamp string, open Opening) (*PullResult, error) {
	if _, err := snapshot.ParseStamp(stamp); err != nil {
		return nil, fmt.Errorf("pull: %w", err)
	}
	cfg, err := cfg.Resolved()
	if err == nil {
		err = cfg.Require(backup.NeedBackup)
	}
	if err != nil {
		return nil, fmt.Errorf("pull: %w", err)
	}
	lock, err := backup.LockDir(ctx, cfg, "pull", backup.Wait{On: true})
	if err != nil {
		return nil, fmt.Errorf("pull: %w", err)
	}
	defer lock.Release()
	final := snapshot.Dir(cfg.BackupDir, stamp)
	if _, err := cfg.FS.Stat(final); err == nil {
		return nil, fmt.Errorf("pull: snapshot %s is already in %s; validate or restore it there", stamp, cfg.BackupDir)
	}
	if err := backup.RemoveLeftovers(cfg.FS, cfg.BackupDir); err != nil {
		return nil, fmt.Errorf("pull: %w", err)
	}
	staging := filepath.Join(cfg.BackupDir, snapshot.StagingPrefix+"pull-"+stamp)
	if err := cfg.FS.MkdirAll(staging, 0o700); err != nil {
		return nil, fmt.Errorf("pull: %w", err)
	}
	placed := false
	defer func() {
		if !placed {
			_ = cfg.FS.RemoveAll(staging)
		}
	}()
	if open.Trust.Memory == nil { // a remote drill remembers in the real backup directory, not its scratch one
		open.Trust.Memory = &Memory{FS: cfg.FS, BackupDir: cfg.BackupDir, Create: true}
	}
	st, sight, newest, warn, err := open.Trust.admit(ctx, remote, stamp)
	if err != nil {
		return nil, fmt.Errorf("pull %s from %s: %w; nothing was added locally", stamp, remote.URL, err)
	}
	res, err := fetch(ctx, remote, stamp, open, st, backupDirBases(cfg.FS, cfg.BackupDir), cfg.FS, staging)
	if err != nil {
		return nil, fmt.Errorf("pull %s from %s: %w; nothing was added locally", stamp, remote.URL, err)
	}
	v, err := validate.Dir(ctx, cfg.FS, staging, stamp, validate.Options{})
	if err != nil {
		return nil, fmt.Errorf("pull: %w", err)
	}
	if !v.Valid {
		return nil, fmt.Errorf("pull %s: the fetched snapshot is invalid, nothing was added locally: %w", stamp, v.Err())
	}
	if err := checkPulled(ctx, cfg.FS, staging, v, st); err != nil {
		return nil, fmt.Errorf("pull %s from %s: %w; nothing was added locally", stamp, remote.URL, err)
	}
	res.Valid, res.Warnings = true, v.Warnings
	res.Signature = SignatureVerified
	if st == nil {
		res.Signature = SignatureUnsigned
	}
	if warn != "" {
		res.Warnings = append(res.Warnings, warn)
	}
	if err := cfg.FS.MkdirAll(filepath.Join(cfg.BackupDir, snapshot.SnapshotsDir), 0o700); err != nil {
		return nil, err
	}
	if err := cfg.FS.Rename(staging, final); err != nil {
		return nil, fmt.Errorf("pull: put %s in place: %w", final, err)
	}
	placed = true
	_ = durable.SyncDir(cfg.FS, filepath.Join(cfg.BackupDir, snapshot.SnapshotsDir))
	res.Path = final
	if err := sight.record(newest); err != nil {
		return res, err
	}
	return res, nil
}

// fetch copies the remote snapshot into dst on fsys, decrypting and
// checking every stored file's digest against the trusted statement st
// (when there is one) and the remote manifest. Only what the snapshot
// lists is copied, each file at its listed size: the target cannot fill
// the local disk or slip a file in. A file the target holds as a page
// delta is rebuilt on its base, found through bases first.
func fetch(ctx context.Context, remote Remote, stamp string, open Opening, st *Statement, bases localBases, fsys afero.Fs, dst string) (*PullResult, error) {
	dir := snapshot.Dir(remote.Root, stamp)
	if fi, err := remote.FS.Stat(dir); err != nil || !fi.IsDir() {
		return nil, &backup.NotFoundError{What: backup.WhatSnapshot, Path: remote.URL + " " + stamp}
	}
	res := &PullResult{Stamp: stamp, Warnings: []string{}}
	rm, err := readManifestFor(remote.FS, dir, st)
	if err != nil {
		return nil, err
	}
	if rm == nil && open.Any() {
		return nil, ErrDowngrade
	}
	if rm == nil { // a plaintext copy: the same files as locally
		files, err := plaintextFiles(ctx, remote.FS, dir)
		if err != nil {
			return nil, err
		}
		if st != nil {
			// A trusted statement says which files there are and how
			// large: copy exactly those, at the signed sizes, whatever
			// the target holds besides (nothing is written past them).
			if files, err = signedFiles(st, files); err != nil {
				return nil, err
			}
		}
		for _, f := range files {
			want, err := signedDigest(st, f.Path, "")
			if err != nil {
				return nil, err
			}
			n, err := copyIn(ctx, remote.FS, dir, f.Path, f.Size, fsys, filepath.Join(dst, filepath.FromSlash(f.Path)), nil, want, nil)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", f.Path, err)
			}
			res.Files++
			res.Bytes += n
		}
		return res, nil
	}
	res.Encrypted = true
	var keyFile []byte
	if rm.KeyFile != "" {
		if keyFile, err = readSnapshotFile(remote.FS, dir, rm.KeyFile, maxKeyFileSize); err != nil {
			return nil, fmt.Errorf("read the snapshot's key file: %w", err)
		}
		if err := checkSignedBytes(st, rm.KeyFile, keyFile); err != nil {
			return nil, err
		}
	}
	dec, err := open.decryptor(keyFile)
	if err != nil {
		return nil, err
	}
	var deltas []link // rebuilt once the manifest that gives their sizes is in
	for _, f := range rm.Files {
		rel := strings.TrimSuffix(f.Path, ".age")
		if rel == f.Path || !snapshot.LocalPath(rel) {
			return nil, fmt.Errorf("%w: %s lists %q, which is not an encrypted file", ErrRemoteCorrupt, RemoteManifestFile, f.Path)
		}
		want, err := signedDigest(st, f.Path, f.SHA256)
		if err != nil {
			return nil, err
		}
		if _, _, ok := pagedelta.Parse(rel); ok {
			deltas = append(deltas, link{stamp: stamp, dir: dir, file: f, want: want, dec: dec})
			continue
		}
		n, err := copyIn(ctx, remote.FS, dir, f.Path, f.Size, fsys, filepath.Join(dst, filepath.FromSlash(rel)), dec, want, nil)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.Path, err)
		}
		res.Files++
		res.Bytes += n
	}
	if len(deltas) == 0 {
		return res, nil
	}
	data, err := afero.ReadFile(fsys, filepath.Join(dst, snapshot.ManifestFile))
	if err != nil {
		return nil, fmt.Errorf("%w: it holds page deltas and no %s", ErrRemoteCorrupt, snapshot.ManifestFile)
	}
	m, err := snapshot.DecodeManifest(data)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrRemoteCorrupt, err)
	}
	for _, d := range deltas {
		rel, _, _ := pagedelta.Parse(strings.TrimSuffix(d.file.Path, ".age"))
		mf, ok := m.Lookup(rel)
		if !ok {
			return nil, fmt.Errorf("%w: %s is a page delta of %s, which its %s does not list", ErrRemoteCorrupt, d.file.Path, rel, snapshot.ManifestFile)
		}
		d.size = mf.Size
		n, err := rebuild(ctx, remote, open, bases, d, fsys, filepath.Join(dst, filepath.FromSlash(rel)))
		if err != nil && bases != nil && ctx.Err() == nil {
			// Whatever went wrong may be the local base's (damaged, or
			// another database than the target's): the target's own
			// chain then, whose error is the one to report.
			n, err = rebuild(ctx, remote, open, nil, d, fsys, filepath.Join(dst, filepath.FromSlash(rel)))
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", d.file.Path, err)
		}
		res.Files++
		res.Bytes += n
	}
	return res, nil
}

// plaintextFiles lists what a pull copies of a plaintext remote snapshot:
// the files its manifest.json lists (with their sizes), the manifest
// itself and the metadata; any other file there is refused before a byte is
// copied. A snapshot of the earlier implementation has no manifest: its
// files are copied at the sizes they have now.
func plaintextFiles(ctx context.Context, rfs afero.Fs, dir string) ([]snapshot.File, error) {
	present, err := snapshotEntries(ctx, rfs, dir)
	if err != nil {
		return nil, err
	}
	for p := range present {
		if isStatementFile(p) {
			delete(present, p) // the signed statement, checked before the fetch
		}
	}
	if _, ok := present[snapshot.ManifestFile]; !ok {
		var out []snapshot.File
		for p, size := range present {
			out = append(out, snapshot.File{Path: p, Size: size})
		}
		return out, nil
	}
	data, err := readSnapshotFile(rfs, dir, snapshot.ManifestFile, maxManifestSize)
	if err != nil {
		return nil, err
	}
	m, err := snapshot.DecodeManifest(data)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrRemoteCorrupt, err)
	}
	out := append([]snapshot.File{{Path: snapshot.ManifestFile, Size: int64(len(data))}}, m.Files...)
	listed := map[string]bool{}
	for _, f := range out {
		listed[f.Path] = true
	}
	if _, ok := m.Lookup(snapshot.MetadataFile); !ok {
		if size, ok := present[snapshot.MetadataFile]; ok {
			if size > maxMetadataSize {
				return nil, &durable.TooLargeError{Path: filepath.Join(dir, snapshot.MetadataFile), Size: size, Max: maxMetadataSize}
			}
			out = append(out, snapshot.File{Path: snapshot.MetadataFile, Size: size})
			listed[snapshot.MetadataFile] = true
		}
	}
	for p := range present {
		if !listed[p] {
			return nil, fmt.Errorf("%w: the target's snapshot holds %s, which its %s does not list: refused, nothing was copied", ErrRemoteCorrupt, p, snapshot.ManifestFile)
		}
	}
	return out, nil
}

// copyIn copies the remote file rel of the snapshot directory dir, which
// must be a regular file of exactly size bytes, to a new local file,
// decrypting with dec when set, and checks the remote bytes' SHA-256
// against want when set; tee, when set, sees the plaintext written. No
// byte past size is read or written.
func copyIn(ctx context.Context, rfs afero.Fs, dir, rel string, size int64, fsys afero.Fs, dst string, dec interface {
	Decrypt(io.Reader) (io.Reader, error)
}, want string, tee io.Writer) (int64, error) {
	in, err := openSnapshotFile(rfs, dir, rel, size)
	if err != nil {
		return 0, err
	}
	defer in.Close()
	progress.Plan(ctx, size)
	src := &exactly{r: ctxio.NewReader(ctx, in), name: rel, left: size}
	h := sha256.New()
	var r io.Reader = io.TeeReader(src, h)
	if dec != nil {
		if r, err = dec.Decrypt(r); err != nil {
			return 0, err
		}
	}
	if err := fsys.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return 0, err
	}
	if tee != nil {
		r = io.TeeReader(r, tee)
	}
	d, err := durable.CopyFile(ctx, fsys, dst, r, 0o600)
	if err != nil {
		_ = fsys.Remove(dst)
		return 0, err
	}
	// Drain what the decrypter did not need, so the digest covers the file.
	if _, err := io.Copy(io.Discard, io.TeeReader(src, h)); err != nil {
		_ = fsys.Remove(dst)
		return 0, err
	}
	if want != "" && hex.EncodeToString(h.Sum(nil)) != want {
		_ = fsys.Remove(dst)
		return 0, fmt.Errorf("%w: %s does not match its digest in %s", ErrRemoteCorrupt, path.Base(rel), RemoteManifestFile)
	}
	return d.Size, nil
}

// readRemoteManifest reads the remote manifest of the snapshot directory
// dir: nil for a plaintext snapshot (none there), an error when it cannot
// be read, is a link, or is larger than maxManifestSize.
func readRemoteManifest(rfs afero.Fs, dir string) (*RemoteManifest, error) {
	if _, err := lstat(rfs, filepath.Join(dir, RemoteManifestFile)); errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	data, err := readSnapshotFile(rfs, dir, RemoteManifestFile, maxManifestSize)
	if err != nil {
		return nil, err
	}
	return decodeRemoteManifest(data)
}

// signedFiles is the list of files to copy of a plaintext snapshot whose
// statement st is trusted: the statement's files at their signed sizes.
// A file the target holds that the statement does not list, or one the
// statement lists that the target lacks, refuses the pull before any byte
// is copied.
func signedFiles(st *Statement, present []snapshot.File) ([]snapshot.File, error) {
	have := map[string]bool{}
	for _, f := range present {
		have[f.Path] = true
	}
	var out []snapshot.File
	listed := map[string]bool{}
	for _, f := range st.Files {
		if isStatementFile(f.Path) {
			continue
		}
		if !have[f.Path] {
			return nil, fmt.Errorf("%w: the target lacks %s, which the signed statement lists", ErrRemoteCorrupt, f.Path)
		}
		listed[f.Path] = true
		out = append(out, snapshot.File{Path: f.Path, Size: f.Size, SHA256: f.SHA256})
	}
	for _, f := range present {
		if !listed[f.Path] {
			return nil, fmt.Errorf("%w: the target's snapshot holds %s, which the signed statement does not list: refused, nothing was copied", ErrRemoteCorrupt, f.Path)
		}
	}
	return out, nil
}
