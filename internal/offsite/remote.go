package offsite

import (
	"context"
	"encoding/json"
	"fmt"
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

// RemoteSnapshot is one entry of `remote list`: as in `list`, plus whether
// it is encrypted. An encrypted snapshot's metadata is encrypted too: its
// entry carries the kind and creation time from the remote manifest.
type RemoteSnapshot struct {
	Stamp     string          `json:"stamp"`
	Path      string          `json:"path"`
	Metadata  json.RawMessage `json:"metadata"`
	Encrypted bool            `json:"encrypted"`
	Kind      string          `json:"kind,omitempty"`
	CreatedAt string          `json:"created_at,omitempty"`
}

// List returns the remote's snapshots, oldest first.
func List(ctx context.Context, remote Remote) ([]RemoteSnapshot, error) {
	snaps, err := backup.ListDir(ctx, remote.FS, remote.Root)
	if err != nil {
		return nil, err
	}
	out := []RemoteSnapshot{}
	for _, s := range snaps {
		e := RemoteSnapshot{Stamp: s.Stamp, Path: s.Path, Metadata: s.RawMetadata}
		if p, ok := durable.OSPath(remote.FS, s.Path); ok {
			e.Path = p // a local target: the path on this machine, as `list` gives
		}
		if s.Metadata != nil {
			e.Kind, e.CreatedAt = s.Metadata.Kind, s.Metadata.CreatedAt
		}
		if rm, err := readRemoteManifest(remote.FS, s.Path); err == nil && rm != nil {
			e.Encrypted, e.Kind, e.CreatedAt = true, rm.Kind, rm.CreatedAt
		}
		out = append(out, e)
	}
	return out, nil
}

// Validate checks a remote snapshot. A plaintext copy gets the full
// validation in place. An encrypted one has every ciphertext file checked
// against remote-manifest.json (size, SHA-256, nothing missing or stray);
// with open able to decrypt, it is also fetched into a temporary directory
// and fully validated there. The result has the shape of `validate`.
func Validate(ctx context.Context, remote Remote, stamp string, open Opening) (*validate.Result, error) {
	if _, err := snapshot.ParseStamp(stamp); err != nil {
		return nil, err
	}
	dir := snapshot.Dir(remote.Root, stamp)
	rm, err := readRemoteManifest(remote.FS, dir)
	if err != nil {
		return &validate.Result{Stamp: stamp, Errors: []string{validate.CodeManifestMismatch + ": " + err.Error()}, Warnings: []string{}}, nil
	}
	if rm == nil {
		return validate.Dir(ctx, remote.FS, dir, stamp, validate.Options{})
	}
	res := &validate.Result{Stamp: stamp, Errors: []string{}, Warnings: []string{}}
	if errs := checkCiphertext(ctx, remote.FS, dir, rm, true); len(errs) > 0 {
		res.Errors = errs
		return res, nil
	}
	if !open.Any() {
		res.Valid = true
		res.Warnings = append(res.Warnings, "contents_not_checked: the snapshot is encrypted; ciphertext digests match; with the identity (or the passphrase) the contents are decrypted and validated too")
		return res, nil
	}
	tmp, err := os.MkdirTemp("", "atocore-remote-validate-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	osfs := afero.NewOsFs()
	if _, err := fetch(ctx, remote, stamp, open, osfs, tmp); err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if operatorsKey(err) {
			return nil, fmt.Errorf("remote validate %s: %w", stamp, err) // the operator's key, not the snapshot
		}
		res.Errors = append(res.Errors, validate.CodeManifestMismatch+": cannot decrypt: "+err.Error())
		return res, nil
	}
	return validate.Dir(ctx, osfs, tmp, stamp, validate.Options{})
}

// checkCiphertext compares the files of an encrypted remote snapshot with
// its remote manifest: sizes always, SHA-256 when full.
func checkCiphertext(ctx context.Context, rfs afero.Fs, dir string, rm *RemoteManifest, full bool) []string {
	var errs []string
	listed := map[string]snapshot.File{}
	for _, f := range rm.Files {
		listed[f.Path] = f
	}
	seen := map[string]bool{}
	_ = afero.Walk(rfs, dir, func(p string, info fs.FileInfo, err error) error {
		if err != nil {
			errs = append(errs, validate.CodeManifestMismatch+": "+err.Error())
			return nil
		}
		if info.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		if !info.Mode().IsRegular() {
			errs = append(errs, fmt.Sprintf("%s: %s is %s, not a regular file (links are refused)", validate.CodeManifestMismatch, rel, typeText(info.Mode())))
			return nil
		}
		if rel == RemoteManifestFile || (rm.KeyFile != "" && rel == rm.KeyFile) {
			return nil
		}
		want, ok := listed[rel]
		seen[rel] = true
		switch {
		case !ok:
			errs = append(errs, fmt.Sprintf("%s: %s is not in %s", validate.CodeManifestMismatch, rel, RemoteManifestFile))
		case info.Size() != want.Size:
			errs = append(errs, fmt.Sprintf("%s: %s is %d bytes, %s says %d", validate.CodeManifestMismatch, rel, info.Size(), RemoteManifestFile, want.Size))
		case full:
			d, err := durable.HashFile(ctx, rfs, p)
			if err != nil || d.SHA256 != want.SHA256 {
				errs = append(errs, fmt.Sprintf("%s: %s: sha256 differs from %s", validate.CodeManifestMismatch, rel, RemoteManifestFile))
			}
		}
		return nil
	})
	for _, f := range rm.Files {
		if !seen[f.Path] {
			errs = append(errs, fmt.Sprintf("%s: %s is missing", validate.CodeManifestMismatch, f.Path))
		}
	}
	if rm.KeyFile != "" {
		if _, err := lstat(rfs, filepath.Join(dir, filepath.FromSlash(rm.KeyFile))); err != nil {
			errs = append(errs, fmt.Sprintf("%s: key file %s is missing", validate.CodeManifestMismatch, rm.KeyFile))
		}
	}
	return errs
}

// Prune applies a retention policy on the remote. Encrypted snapshots are
// judged by their remote manifest (every file present at its size),
// plaintext ones by the usual quick check. Unlike a local prune, it never
// reads the snapshots' bytes: that would download the whole target on
// every run; remote validate does.
func Prune(ctx context.Context, remote Remote, opts backup.PruneOptions) (*backup.PruneResult, error) {
	opts.Check = func(ctx context.Context, fsys afero.Fs, dir, stamp string) (bool, string, error) {
		rm, err := readRemoteManifest(fsys, dir)
		if err != nil {
			return false, "", nil
		}
		if rm == nil {
			return backup.QuickCheck(ctx, fsys, dir, stamp)
		}
		return len(checkCiphertext(ctx, fsys, dir, rm, false)) == 0, rm.Kind, nil
	}
	res, err := backup.PruneDir(ctx, remote.FS, remote.Root, opts)
	if err == nil && !opts.DryRun {
		removeAbandoned(remote)
	}
	return res, err
}

// removeAbandoned deletes incoming directories of snapshots that are now
// complete on the remote (a push that died after its rename) .
func removeAbandoned(remote Remote) {
	entries, err := afero.ReadDir(remote.FS, remote.Root)
	if err != nil {
		return
	}
	for _, e := range entries {
		stamp, ok := strings.CutPrefix(e.Name(), IncomingPrefix)
		if !ok || !snapshot.IsStamp(stamp) {
			continue
		}
		if _, err := remote.FS.Stat(snapshot.Dir(remote.Root, stamp)); err == nil {
			_ = remote.FS.RemoveAll(filepath.Join(remote.Root, e.Name()))
		}
	}
}
