package offsite

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/afero"

	"github.com/atocore/atocore-backup/backup"
	"github.com/atocore/atocore-backup/internal/durable"
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
func Pull(ctx context.Context, cfg backup.Config, remote Remote, stamp string, open Opening) (*PullResult, error) {
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
	lock, err := backup.LockDir(ctx, cfg, "pull", true)
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
	mem := loadSeen(cfg.FS, cfg.BackupDir, remote.URL)
	st, newest, warn, err := open.Trust.admit(ctx, remote, stamp, mem)
	if err != nil {
		return nil, fmt.Errorf("pull %s from %s: %w; nothing was added locally", stamp, remote.URL, err)
	}
	res, err := fetch(ctx, remote, stamp, open, st, cfg.FS, staging)
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
	if err := mem.note(cfg.FS, newest); err != nil {
		return res, err
	}
	return res, nil
}

// fetch copies the remote snapshot into dst on fsys, decrypting and
// checking every stored file's digest against the trusted statement st
// (when there is one) and the remote manifest.
func fetch(ctx context.Context, remote Remote, stamp string, open Opening, st *Statement, fsys afero.Fs, dst string) (*PullResult, error) {
	dir := snapshot.Dir(remote.Root, stamp)
	if fi, err := remote.FS.Stat(dir); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("the target has no snapshot %s", stamp)
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
		got := 0
		err := afero.Walk(remote.FS, dir, func(p string, info fs.FileInfo, err error) error {
			if err != nil || info.IsDir() {
				return err
			}
			rel, _ := filepath.Rel(dir, p)
			if isStatementFile(filepath.ToSlash(rel)) {
				return nil
			}
			if !snapshot.LocalPath(filepath.ToSlash(rel)) {
				return fmt.Errorf("remote file %q is outside the snapshot", rel)
			}
			want, err := signedDigest(st, filepath.ToSlash(rel), "")
			if err != nil {
				return err
			}
			n, err := copyIn(ctx, remote.FS, p, fsys, filepath.Join(dst, rel), nil, want)
			res.Files++
			res.Bytes += n
			got++
			return err
		})
		if err == nil && st != nil && got != len(st.Files) {
			err = fmt.Errorf("%w: the target lacks %d file(s) the statement lists", ErrRemoteCorrupt, len(st.Files)-got)
		}
		return res, err
	}
	res.Encrypted = true
	var keyFile []byte
	if rm.KeyFile != "" {
		if keyFile, err = afero.ReadFile(remote.FS, filepath.Join(dir, filepath.FromSlash(rm.KeyFile))); err != nil {
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
	for _, f := range rm.Files {
		rel := strings.TrimSuffix(f.Path, ".age")
		if rel == f.Path || !snapshot.LocalPath(rel) {
			return nil, fmt.Errorf("%w: %s lists %q, which is not an encrypted file", ErrRemoteCorrupt, RemoteManifestFile, f.Path)
		}
		want, err := signedDigest(st, f.Path, f.SHA256)
		if err != nil {
			return nil, err
		}
		n, err := copyIn(ctx, remote.FS, filepath.Join(dir, filepath.FromSlash(f.Path)), fsys, filepath.Join(dst, filepath.FromSlash(rel)), dec, want)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.Path, err)
		}
		res.Files++
		res.Bytes += n
	}
	return res, nil
}

// copyIn copies one remote file to a new local file, decrypting with dec
// when set, and checks the remote bytes' SHA-256 against want when set.
func copyIn(ctx context.Context, rfs afero.Fs, src string, fsys afero.Fs, dst string, dec interface {
	Decrypt(io.Reader) (io.Reader, error)
}, want string) (int64, error) {
	in, err := rfs.Open(src)
	if err != nil {
		return 0, err
	}
	defer in.Close()
	h := sha256.New()
	var r io.Reader = io.TeeReader(&ctxReader{ctx: ctx, r: in}, h)
	if dec != nil {
		if r, err = dec.Decrypt(r); err != nil {
			return 0, err
		}
	}
	if err := fsys.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return 0, err
	}
	d, err := durable.CopyFile(ctx, fsys, dst, r, 0o600)
	if err != nil {
		return 0, err
	}
	// Drain what the decrypter did not need, so the digest covers the file.
	if _, err := io.Copy(io.Discard, io.TeeReader(in, h)); err != nil {
		return 0, err
	}
	if want != "" && hex.EncodeToString(h.Sum(nil)) != want {
		_ = fsys.Remove(dst)
		return 0, fmt.Errorf("%w: %s does not match its digest in %s", ErrRemoteCorrupt, filepath.Base(src), RemoteManifestFile)
	}
	return d.Size, nil
}

func readRemoteManifest(rfs afero.Fs, dir string) (*RemoteManifest, error) {
	data, err := afero.ReadFile(rfs, filepath.Join(dir, RemoteManifestFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return decodeRemoteManifest(data)
}
