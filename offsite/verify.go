package offsite

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/spf13/afero"

	"github.com/atocore/atocore-backup/backup"
	"github.com/atocore/atocore-backup/internal/durable"
	"github.com/atocore/atocore-backup/internal/snapshot"
	"github.com/atocore/atocore-backup/internal/sshsig"
	"github.com/atocore/atocore-backup/target"
	"github.com/atocore/atocore-backup/validate"
)

// Errors of reading a remote snapshot that callers branch on.
var (
	// ErrUnsigned: the remote snapshot has no signed statement (it was
	// pushed before statements existed, or without a signing key), and
	// unsigned snapshots were not allowed.
	ErrUnsigned = errors.New("the remote snapshot carries no signed statement")
	// ErrNotVerified: the snapshot is signed but no trusted signers were
	// given to check it against, and unverified snapshots were not allowed.
	ErrNotVerified = errors.New("the remote snapshot's signature cannot be checked: no trusted signers were given")
	// ErrBadSignature: the statement does not verify against the trusted
	// signers, or the stored files differ from what it signs.
	ErrBadSignature = errors.New("the remote snapshot does not match a statement signed by a trusted signer")
	// ErrStampMismatch (validation code metadata_stamp_mismatch): the
	// statement or the snapshot's metadata names another stamp than the
	// directory it is stored in: an old snapshot replayed under a newer name.
	ErrStampMismatch = errors.New(validate.CodeStampMismatch)
	// ErrDowngrade: a key to decrypt was given and the remote snapshot is
	// plaintext. Whoever stores it could have put it there in place of an
	// encrypted one.
	ErrDowngrade = errors.New("the remote snapshot is not encrypted, though a key to decrypt it was given")
)

// Signature states of a remote snapshot (RemoteSnapshot.Signature starts
// with one).
const (
	// SignatureVerified: the statement verifies against a trusted signer.
	SignatureVerified = "verified"
	// SignatureUnsigned: no statement, or a statement without signature.
	SignatureUnsigned = "unsigned"
	// SignatureUnverified: signed, but no trusted signers were given.
	SignatureUnverified = "unverified"
	// SignatureBad: the signature or the statement is wrong ("bad: why").
	SignatureBad = "bad"
)

// Trust says which remote snapshots are believed. The zero value trusts
// nothing: pull refuses every snapshot, remote validate and remote list
// report them unverified.
type Trust struct {
	// Signers are the keys whose statements are trusted (an OpenSSH
	// allowed_signers file; lines limited to other namespaces than
	// atocore-backup do not count).
	Signers *sshsig.AllowedSigners
	// AllowUnsigned accepts snapshots without a verifiable statement
	// (pushed before statements existed, or with no signers given), with
	// a warning. A statement that fails to verify is never accepted.
	AllowUnsigned bool
	// AllowRollback accepts a target whose newest signed snapshot is older
	// than the newest this machine has verified there.
	AllowRollback bool
	// AllowOtherTarget accepts statements that name another target than
	// the one read (a target restored from a copy of another), and a
	// target whose id is not the one this machine remembers for its
	// address, with a warning. Such statements never count for the
	// target's sequence.
	AllowOtherTarget bool
	// Memory is where this machine remembers the targets it read: their
	// ids and each signer's newest sequence (nil: it remembers nothing).
	// Pull always uses its backup directory's.
	Memory *Memory
}

// signed is what a remote snapshot's statement says and whether to
// believe it.
type signed struct {
	status string
	err    error      // why, when not verified
	signer string     // the allowed_signers principals, when verified
	st     *Statement // parsed; trusted only when status is verified
	digest string     // SHA-256 of the statement's bytes
	fp     string     // the signing key's fingerprint, when verified
	warn   string     // accepted with a warning (another target allowed)
	// sigDigest is the SHA-256 of the signature's bytes, for a statement
	// this push wrote ("" when it wrote none).
	sigDigest string
}

// label is the Signature field of a remote list entry.
func (s *signed) label() string {
	if s.status == SignatureBad {
		return SignatureBad + ": " + s.err.Error()
	}
	return s.status
}

// readSigned reads and checks the statement of the remote snapshot in dir.
func readSigned(rfs afero.Fs, dir, stamp string, signers *sshsig.AllowedSigners) *signed {
	return readSignedWithin(rfs, dir, stamp, signers, nil)
}

// readSignedWithin is readSigned spending b: the signature (small) is
// read first, and with signers given, a signature by a key they do not
// list is refused before the statement (up to 16 MiB) is read.
func readSignedWithin(rfs afero.Fs, dir, stamp string, signers *sshsig.AllowedSigners, b *budget) *signed {
	sig, sigErr := readBounded(rfs, filepath.Join(dir, SignatureFile), maxSignature)
	fi, stErr := lstat(rfs, filepath.Join(dir, StatementFile))
	switch {
	case errors.Is(stErr, os.ErrNotExist) && errors.Is(sigErr, os.ErrNotExist):
		return &signed{status: SignatureUnsigned, err: fmt.Errorf("%w (no %s)", ErrUnsigned, StatementFile)}
	case stErr != nil:
		return &signed{status: SignatureBad, err: fmt.Errorf("%w: %v", ErrBadSignature, stErr)}
	case sigErr != nil && !errors.Is(sigErr, os.ErrNotExist):
		return &signed{status: SignatureBad, err: fmt.Errorf("%w: %v", ErrBadSignature, sigErr)}
	case sigErr == nil && signers != nil:
		if err := signers.Admits(sig, SignatureNamespace); err != nil {
			return &signed{status: SignatureBad, err: fmt.Errorf("%w: %v", ErrBadSignature, err)}
		}
	}
	if err := b.take(min(fi.Size(), maxStatement)); err != nil {
		return &signed{status: SignatureBad, err: err}
	}
	data, err := readBounded(rfs, filepath.Join(dir, StatementFile), maxStatement)
	if err != nil {
		return &signed{status: SignatureBad, err: fmt.Errorf("%w: %v", ErrBadSignature, err)}
	}
	if errors.Is(sigErr, os.ErrNotExist) {
		s := &signed{status: SignatureUnsigned, err: fmt.Errorf("%w (%s has no %s)", ErrUnsigned, StatementFile, SignatureFile), digest: digestOf(data)}
		s.st, _ = decodeStatement(data, stamp)
		return s
	}
	s := &signed{status: SignatureUnverified, err: ErrNotVerified, digest: digestOf(data)}
	if signers != nil {
		who, err := signers.Verify(sig, SignatureNamespace, data)
		if err != nil {
			return &signed{status: SignatureBad, err: fmt.Errorf("%w: %v", ErrBadSignature, err)}
		}
		s.status, s.err, s.signer = SignatureVerified, nil, who
		if ps, err := sshsig.Parse(sig); err == nil {
			s.fp = fingerprint(ps.PublicKey)
		}
	}
	st, err := decodeStatement(data, stamp)
	if err != nil {
		if !errors.Is(err, ErrStampMismatch) {
			err = fmt.Errorf("%w: %v", ErrBadSignature, err)
		}
		return &signed{status: SignatureBad, err: err}
	}
	s.st = st
	return s
}

// accept applies t to s: nil and the statement to check the files
// against when s may be used (with a warning when it is not verified),
// else why not.
func (t Trust) accept(s *signed) (*Statement, string, error) {
	switch s.status {
	case SignatureVerified:
		return s.st, s.warn, nil
	case SignatureBad:
		return nil, "", s.err
	}
	if !t.AllowUnsigned {
		return nil, "", s.err
	}
	return nil, "unverified: " + s.err.Error() + "; accepted because unsigned snapshots were allowed", nil
}

// readBounded reads a regular file of at most max bytes from a target.
// On object storage, which has no links, the open file tells its size
// and type (one request fewer than asking before the open).
func readBounded(rfs afero.Fs, name string, max int64) ([]byte, error) {
	check := func(fi fs.FileInfo) error {
		if !fi.Mode().IsRegular() {
			return fmt.Errorf("%s is not a regular file (%s)", filepath.Base(name), fi.Mode().Type())
		}
		if fi.Size() > max {
			return fmt.Errorf("%s is %d bytes, more than the %d it can be", filepath.Base(name), fi.Size(), max)
		}
		return nil
	}
	objects := target.IsObjectStore(rfs)
	if !objects {
		fi, err := lstat(rfs, name)
		if err != nil {
			return nil, err
		}
		if err := check(fi); err != nil {
			return nil, err
		}
	}
	f, err := rfs.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if objects {
		fi, err := f.Stat()
		if err != nil {
			return nil, err
		}
		if err := check(fi); err != nil {
			return nil, err
		}
	}
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err == nil && int64(len(data)) > max {
		err = fmt.Errorf("%s is more than %d bytes", filepath.Base(name), max)
	}
	return data, err
}

// checkStored compares the files of the remote snapshot in dir with its
// statement: every file listed, at its size and (when full) SHA-256,
// regular, and nothing else but the statement itself.
func checkStored(ctx context.Context, rfs afero.Fs, dir string, st *Statement, full bool) []string {
	var f findings
	listed := st.index()
	seen := map[string]bool{}
	err := walkFiles(rfs, dir, func(p string, info fs.FileInfo, err error) error {
		if f.full {
			return filepath.SkipAll
		}
		if cerr := ctx.Err(); cerr != nil {
			return cerr
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
		if isStatementFile(rel) {
			return nil
		}
		want, ok := listed[rel]
		seen[rel] = true
		switch {
		case !ok:
			f.add(fmt.Sprintf("%s: %s is not in the signed %s", validate.CodeManifestMismatch, rel, StatementFile))
		case !info.Mode().IsRegular():
			f.add(fmt.Sprintf("%s: %s is not a regular file (%s)", validate.CodeManifestMismatch, rel, info.Mode().Type()))
		case info.Size() != want.Size:
			f.add(fmt.Sprintf("%s: %s is %d bytes, the signed %s says %d", validate.CodeManifestMismatch, rel, info.Size(), StatementFile, want.Size))
		case full:
			d, err := durable.HashFile(ctx, rfs, p)
			if err != nil || d.SHA256 != want.SHA256 {
				f.add(fmt.Sprintf("%s: %s: sha256 differs from the signed %s", validate.CodeManifestMismatch, rel, StatementFile))
			}
		}
		return nil
	})
	if err != nil {
		f.add(validate.CodeManifestMismatch + ": " + err.Error())
	}
	for _, want := range st.Files {
		if !seen[want.Path] {
			f.add(fmt.Sprintf("%s: %s is missing", validate.CodeManifestMismatch, want.Path))
		}
	}
	return f.list
}

// readManifestFor reads remote-manifest.json, and, with a trusted
// statement, checks its bytes against it: the manifest's digests of the
// data files are then the signer's.
func readManifestFor(rfs afero.Fs, dir string, st *Statement) (*RemoteManifest, error) {
	if st == nil {
		return readRemoteManifest(rfs, dir)
	}
	want, listed := st.file(RemoteManifestFile)
	if !listed {
		if st.Encrypted {
			return nil, fmt.Errorf("%w: the signed statement says encrypted and lists no %s", ErrBadSignature, RemoteManifestFile)
		}
		if _, err := lstat(rfs, filepath.Join(dir, RemoteManifestFile)); err == nil {
			return nil, fmt.Errorf("%w: %s is not in the signed statement", ErrBadSignature, RemoteManifestFile)
		}
		return nil, nil
	}
	data, err := readBounded(rfs, filepath.Join(dir, RemoteManifestFile), maxStatement)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrRemoteCorrupt, RemoteManifestFile, err)
	}
	if digestOf(data) != want.SHA256 {
		return nil, fmt.Errorf("%w: %s differs from the signed statement", ErrBadSignature, RemoteManifestFile)
	}
	return decodeRemoteManifest(data)
}

// checkSignedBytes checks that data, read from the remote file rel, is what
// the trusted statement st (if any) signs.
func checkSignedBytes(st *Statement, rel string, data []byte) error {
	if st == nil {
		return nil
	}
	want, ok := st.file(rel)
	if !ok || want.SHA256 != digestOf(data) {
		return fmt.Errorf("%w: %s differs from the signed statement", ErrBadSignature, rel)
	}
	return nil
}

// signedDigest returns the digest the trusted statement st gives rel
// (fallback when there is none), or an error when st does not list it.
func signedDigest(st *Statement, rel, fallback string) (string, error) {
	if st == nil {
		return fallback, nil
	}
	f, ok := st.file(rel)
	if !ok {
		return "", fmt.Errorf("%w: %s is not in the signed statement", ErrBadSignature, rel)
	}
	return f.SHA256, nil
}

// admit decides whether the remote snapshot stamp may be pulled under t:
// its statement verified (or unsigned snapshots allowed), for this target,
// and the target not rolled back behind what t's memory remembers. It
// returns the trusted statement (nil when accepted unsigned), the sight of
// the target and its newest verified statements (to remember once the
// pull succeeds) and a warning.
func (t Trust) admit(ctx context.Context, remote Remote, stamp string) (*Statement, *sight, map[string]*signed, string, error) {
	dir := snapshot.Dir(remote.Root, stamp)
	if fi, err := remote.FS.Stat(dir); err != nil || !fi.IsDir() || (target.IsObjectStore(remote.FS) && !hasStatement(remote.FS, dir)) {
		return nil, nil, nil, "", &backup.NotFoundError{What: backup.WhatSnapshot, Path: remote.URL + " " + stamp}
	}
	v, err := t.look(remote)
	if err != nil {
		return nil, nil, nil, "", err
	}
	st, warn, err := t.accept(v.judge(readSigned(remote.FS, dir, stamp, t.Signers)))
	if err != nil {
		return nil, nil, nil, "", err
	}
	newest, err := v.checkRollback(ctx)
	if err != nil {
		return nil, nil, nil, "", err
	}
	return st, v, newest, warn, nil
}

// checkPulled checks the decrypted snapshot in dir against what was
// signed and against its own name: the metadata's stamp must be the
// directory's (a mismatch is an error here, not the warning of a local
// validate: it is how a replay under a newer name shows when the
// statement cannot tell), and the plaintext manifest must be the one the
// statement binds.
func checkPulled(ctx context.Context, fsys afero.Fs, dir string, v *validate.Result, st *Statement) error {
	if v.Has(validate.CodeStampMismatch) {
		for _, w := range v.Warnings {
			if validate.CodeOf(w) == validate.CodeStampMismatch {
				return fmt.Errorf("%w: %s", ErrStampMismatch, w)
			}
		}
	}
	if st == nil || st.ManifestSHA256 == "" {
		return nil
	}
	d, err := durable.HashFile(ctx, fsys, filepath.Join(dir, snapshot.ManifestFile))
	if err != nil || d.SHA256 != st.ManifestSHA256 {
		return fmt.Errorf("%w: the decrypted %s is not the one the statement signs", ErrBadSignature, snapshot.ManifestFile)
	}
	return nil
}

// stampErrors turns a validation's metadata_stamp_mismatch warning into
// an error: a remote snapshot whose metadata names another stamp is not
// the snapshot it is stored as.
func stampErrors(v *validate.Result) {
	kept := v.Warnings[:0]
	for _, w := range v.Warnings {
		if validate.CodeOf(w) == validate.CodeStampMismatch {
			v.Errors = append(v.Errors, w)
			continue
		}
		kept = append(kept, w)
	}
	v.Warnings = kept
	v.Valid = len(v.Errors) == 0
}
