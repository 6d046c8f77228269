package offsite

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"time"

	"github.com/spf13/afero"

	"github.com/atocore/atocore-backup/backup"
	"github.com/atocore/atocore-backup/internal/durable"
	"github.com/atocore/atocore-backup/internal/snapshot"
	"github.com/atocore/atocore-backup/target"
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
	// Signature is "verified", "unsigned", "unverified" (signed, and no
	// trusted signers were given) or "bad: REASON".
	Signature string `json:"signature"`
	// SignedBy names the allowed_signers principals of a verified entry.
	SignedBy string `json:"signed_by,omitempty"`
	// Sequence is the statement's sequence number (0 when unsigned).
	Sequence uint64 `json:"sequence,omitempty"`
	// TargetID is the target the verified statement names ("" for one
	// pushed before statements named their target).
	TargetID string `json:"target_id,omitempty"`
}

// List returns the remote's snapshots, oldest first, each with its
// signature checked against trust's signers. Kind and creation time come
// from the signed statement when it verifies.
func listRemote(ctx context.Context, remote Remote, trust Trust) ([]RemoteSnapshot, error) {
	if err := countSnapshots(remote); err != nil {
		return nil, err
	}
	snaps, err := backup.ListDir(ctx, remote.FS, remote.Root)
	if err != nil {
		return nil, err
	}
	b := newBudget()
	v, err := trust.look(remote)
	if err != nil {
		return nil, err
	}
	out := []RemoteSnapshot{}
	judged := make([]*signed, 0, len(snaps))
	objects := target.IsObjectStore(remote.FS)
	for _, s := range snaps {
		if objects && !hasStatement(remote.FS, s.Path) {
			continue // an upload in progress, not a snapshot yet
		}
		e := RemoteSnapshot{Stamp: s.Stamp, Path: s.Path, Metadata: s.RawMetadata}
		if p, ok := durable.OSPath(remote.FS, s.Path); ok {
			e.Path = p // a local target: the path on this machine, as `list` gives
		}
		if s.Metadata != nil {
			e.Kind, e.CreatedAt = s.Metadata.Kind, s.Metadata.CreatedAt
		}
		sg := v.judge(readSignedWithin(remote.FS, s.Path, s.Stamp, trust.Signers, b))
		if errors.Is(sg.err, ErrTooMuch) {
			return nil, sg.err
		}
		// The remote manifest is the target's word: read only for an entry
		// whose statement cannot say (unsigned, or no signers given).
		if fi, err := lstat(remote.FS, filepath.Join(s.Path, RemoteManifestFile)); err == nil {
			e.Encrypted = true
			if sg.status == SignatureUnsigned || sg.status == SignatureUnverified {
				if err := b.take(min(fi.Size(), maxManifestSize)); err != nil {
					return nil, err
				}
				if rm, err := readRemoteManifest(remote.FS, s.Path); err == nil && rm != nil {
					e.Kind, e.CreatedAt = rm.Kind, rm.CreatedAt
				}
			}
		}
		e.Signature, e.SignedBy = sg.label(), sg.signer
		if sg.status == SignatureVerified {
			e.Sequence, e.Kind, e.CreatedAt, e.Encrypted = sg.st.Sequence, sg.st.Kind, sg.st.CreatedAt, sg.st.Encrypted
			e.TargetID = sg.st.TargetID
		}
		judged = append(judged, sg)
		out = append(out, e)
	}
	// The sequence, against this machine's memory: a rolled-back target's
	// statements of the signer concerned are marked bad, with the reason;
	// the newest verified are remembered otherwise.
	newest, bad := v.rollback(judged)
	if len(bad) == 0 {
		return out, v.record(newest)
	}
	for i, sg := range judged {
		if sg.status != SignatureVerified {
			continue
		}
		if err, ok := bad[""]; ok {
			out[i].Signature = SignatureBad + ": " + err.Error()
		} else if err, ok := bad[sg.fp]; ok {
			out[i].Signature = SignatureBad + ": " + err.Error()
		}
	}
	return out, nil
}

// checkCiphertext compares the files of an encrypted remote snapshot with
// its remote manifest: sizes always, SHA-256 when full.
func checkCiphertext(ctx context.Context, rfs afero.Fs, dir string, rm *RemoteManifest, full bool) []string {
	var f findings
	listed := map[string]snapshot.File{}
	for _, f := range rm.Files {
		listed[f.Path] = f
	}
	seen := map[string]bool{}
	_ = walkFiles(rfs, dir, func(p string, info fs.FileInfo, err error) error {
		if f.full {
			return filepath.SkipAll
		}
		if err != nil {
			f.add(validate.CodeManifestMismatch + ": " + err.Error())
			return nil
		}
		if info.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		if !info.Mode().IsRegular() {
			f.add(fmt.Sprintf("%s: %s is %s, not a regular file (links are refused)", validate.CodeManifestMismatch, rel, typeText(info.Mode())))
			return nil
		}
		if rel == RemoteManifestFile || (rm.KeyFile != "" && rel == rm.KeyFile) || isStatementFile(rel) {
			return nil
		}
		want, ok := listed[rel]
		seen[rel] = true
		switch {
		case !ok:
			f.add(fmt.Sprintf("%s: %s is not in %s", validate.CodeManifestMismatch, rel, RemoteManifestFile))
		case info.Size() != want.Size:
			f.add(fmt.Sprintf("%s: %s is %d bytes, %s says %d", validate.CodeManifestMismatch, rel, info.Size(), RemoteManifestFile, want.Size))
		case full:
			d, err := durable.HashFile(ctx, rfs, p)
			if err != nil || d.SHA256 != want.SHA256 {
				f.add(fmt.Sprintf("%s: %s: sha256 differs from %s", validate.CodeManifestMismatch, rel, RemoteManifestFile))
			}
		}
		return nil
	})
	for _, want := range rm.Files {
		if !seen[want.Path] {
			f.add(fmt.Sprintf("%s: %s is missing", validate.CodeManifestMismatch, want.Path))
		}
	}
	if rm.KeyFile != "" {
		if _, err := lstat(rfs, filepath.Join(dir, filepath.FromSlash(rm.KeyFile))); err != nil {
			f.add(fmt.Sprintf("%s: key file %s is missing", validate.CodeManifestMismatch, rm.KeyFile))
		}
	}
	return f.list
}

// Prune applies a retention policy on the remote. Encrypted snapshots are
// judged by their remote manifest (every file present at its size),
// plaintext ones by the usual quick check. Unlike a local prune, it never
// reads the snapshots' bytes: that would download the whole target on
// every run; remote validate does. On a target that locks objects
// (target.RetentionLocker) a condemned snapshot any of whose objects is
// still under retention is kept and named in the result's Held, with the
// date.
func pruneRemote(ctx context.Context, remote Remote, opts backup.PruneOptions) (*backup.PruneResult, error) {
	opts.Check = func(ctx context.Context, fsys afero.Fs, dir, stamp string) (backup.Verdict, error) {
		rm, err := readRemoteManifest(fsys, dir)
		if err != nil {
			return backup.Verdict{Error: validate.CodeManifestMismatch + ": " + RemoteManifestFile + ": " + err.Error()}, nil
		}
		if rm == nil {
			res, err := validate.Dir(ctx, fsys, dir, stamp, validate.Options{Quick: true, Ignore: isStatementFile})
			if err != nil {
				return backup.Verdict{}, err
			}
			return backup.VerdictOf(res, fsys, dir), nil
		}
		v := backup.Verdict{Valid: true, Kind: rm.Kind}
		if errs := checkCiphertext(ctx, fsys, dir, rm, false); len(errs) > 0 {
			v.Valid, v.Error = false, errs[0]
		} else if b := baseGone(fsys, remote.Root, paths(rm.Files)); b != "" {
			// Not restorable: it takes no retention slot.
			v.Valid, v.Error = false, validate.CodeManifestMismatch+": its database is a page delta on snapshot "+b+", which the target no longer holds"
		}
		return v, nil
	}
	// A snapshot whose database is a page delta keeps the snapshots its
	// chain runs through: without them it cannot be rebuilt.
	opts.Needs = func(ctx context.Context, fsys afero.Fs, dir, stamp string) ([]string, error) {
		var names []string
		if rm, err := readRemoteManifest(fsys, dir); err == nil && rm != nil {
			names = paths(rm.Files)
		} else {
			// A manifest that cannot be read (the snapshot is invalid for
			// it) says nothing: the files there say which bases it has.
			present, err := snapshotEntries(ctx, fsys, dir)
			if err != nil {
				return nil, fmt.Errorf("list %s to find the snapshots it needs: %w", dir, err)
			}
			for n := range present {
				names = append(names, n)
			}
		}
		return deltaBases(names), nil
	}
	if target.IsObjectStore(remote.FS) {
		check := opts.Check
		opts.Check = func(ctx context.Context, fsys afero.Fs, dir, stamp string) (backup.Verdict, error) {
			if !hasStatement(fsys, dir) {
				return backup.Verdict{InProgress: true}, nil
			}
			return check(ctx, fsys, dir, stamp)
		}
		opts.Remove = removeObjects
	}
	if _, ok := remote.FS.(target.RetentionLocker); ok && opts.Held == nil {
		now := time.Now
		if opts.Now != nil {
			now = opts.Now
		}
		opts.Held = func(ctx context.Context, fsys afero.Fs, dir, _ string) (string, error) {
			return heldByLock(ctx, fsys, dir, now())
		}
	}
	res, err := backup.PruneDir(ctx, remote.FS, remote.Root, opts)
	if err == nil && !opts.DryRun {
		removeAbandoned(remote)
	}
	return res, err
}

// removeAbandoned deletes incoming directories of snapshots that are now
// complete on the remote (a push that died after its rename, or another
// host's upload of a stamp that was pushed first), of any holder and of
// the name earlier versions used.
func removeAbandoned(remote Remote) {
	entries, err := afero.ReadDir(remote.FS, remote.Root)
	if err != nil {
		return
	}
	if target.IsObjectStore(remote.FS) {
		removeAbandonedObjects(remote)
	}
	for _, e := range entries {
		stamp, ok := incomingStamp(e.Name())
		if !ok || !e.IsDir() {
			continue
		}
		if _, err := remote.FS.Stat(snapshot.Dir(remote.Root, stamp)); err == nil {
			_ = remote.FS.RemoveAll(filepath.Join(remote.Root, e.Name()))
		}
	}
}
