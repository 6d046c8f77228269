package offsite

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/atocore/atocore-backup/backup"

	"github.com/spf13/afero"

	"github.com/atocore/atocore-backup/internal/snapshot"
	"github.com/atocore/atocore-backup/validate"
)

// Codes of remote validation beside those of validate (SPEC.md).
const (
	// CodeSignatureBad (error): the statement does not verify against the
	// trusted signers, or it is not for this stamp.
	CodeSignatureBad = "signature_bad"
	// CodeUnsigned: no signed statement. An error when trusted signers
	// were given (unless unsigned snapshots were allowed), else a warning.
	CodeUnsigned = "snapshot_unsigned"
	// CodeSignatureUnverified (warning): signed, but no trusted signers
	// were given; the stored bytes are checked against the statement,
	// which proves integrity, not who wrote it.
	CodeSignatureUnverified = "signature_unverified"
	// CodeDowngrade (error): a key to decrypt was given and the snapshot
	// is plaintext.
	CodeDowngrade = "plaintext_downgrade"
	// CodeOtherTarget: the statement names another target than the one it
	// is read from (a snapshot copied from another target), or the target
	// is not the one this machine knows under its address. An error,
	// unless another target was allowed (then a warning).
	CodeOtherTarget = "statement_other_target"
	// CodeRollback (error): the target's newest signed snapshot is older
	// than the newest this machine verified there (unless allowed).
	CodeRollback = "sequence_rollback"
)

// Validate checks a remote snapshot. Its statement is verified against
// open.Trust and every stored byte is compared with it (size and SHA-256:
// without any decryption key, this proves that the target holds exactly
// what the signer pushed). A plaintext copy then gets the full validation
// in place; an encrypted one, with open able to decrypt, is fetched into a
// temporary directory and fully validated there. Without a statement, an
// encrypted snapshot's files are checked against remote-manifest.json, as
// before statements existed. The result has the shape of `validate`.
func validateRemote(ctx context.Context, remote Remote, stamp string, open Opening) (out *validate.Result, err error) {
	return validateRemoteWith(ctx, remote, stamp, open, false)
}

// validateRemoteWith is validateRemote, or with quick its check without
// reading any file: the checksums the target stores for each file
// (object storage) against the statement, and the statement's signature.
func validateRemoteWith(ctx context.Context, remote Remote, stamp string, open Opening, quick bool) (out *validate.Result, err error) {
	if _, err := snapshot.ParseStamp(stamp); err != nil {
		return nil, err
	}
	dir := snapshot.Dir(remote.Root, stamp)
	if fi, err := remote.FS.Stat(dir); err != nil || !fi.IsDir() {
		return nil, &backup.NotFoundError{What: backup.WhatSnapshot, Path: remote.URL + " " + stamp}
	}
	res := &validate.Result{Stamp: stamp, Errors: []string{}, Warnings: []string{}}
	fail := func(f string) (*validate.Result, error) {
		res.Errors = append(res.Errors, f)
		res.Valid = false
		return res, nil
	}
	view, err := open.Trust.look(remote)
	if err != nil {
		if errors.Is(err, ErrOtherTarget) {
			return fail(CodeOtherTarget + ": " + err.Error())
		}
		return fail(CodeSignatureBad + ": " + err.Error())
	}
	sg := view.judge(readSigned(remote.FS, dir, stamp, open.Trust.Signers))
	if sg.warn != "" {
		res.Warnings = append(res.Warnings, CodeOtherTarget+": "+strings.TrimPrefix(sg.warn, "other_target: "))
	}
	// The sequence, against this machine's memory (a rollback is an
	// error unless allowed); the newest verified is remembered when the
	// snapshot proves valid.
	newest, err := view.checkRollback(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if errors.Is(err, ErrTooMuch) {
			return nil, fmt.Errorf("remote validate %s: %w", stamp, err) // the target's size, not this snapshot
		}
		return fail(CodeRollback + ": " + err.Error())
	}
	defer func() {
		if err == nil && out != nil && out.Valid {
			err = view.record(newest)
		}
	}()
	check := sg.st // what the stored bytes are compared with
	var trusted *Statement
	switch sg.status {
	case SignatureVerified:
		trusted = sg.st
	case SignatureBad:
		if errors.Is(sg.err, ErrOtherTarget) {
			return fail(CodeOtherTarget + ": " + sg.err.Error())
		}
		return fail(CodeSignatureBad + ": " + sg.err.Error())
	case SignatureUnverified:
		res.Warnings = append(res.Warnings, CodeSignatureUnverified+": signed, but no trusted signers were given: the bytes are checked against an unverified statement")
	case SignatureUnsigned:
		if open.Trust.Signers != nil && !open.Trust.AllowUnsigned {
			return fail(CodeUnsigned + ": " + sg.err.Error())
		}
		res.Warnings = append(res.Warnings, CodeUnsigned+": "+sg.err.Error())
	}
	if quick {
		return quickResult(ctx, remote.FS, dir, check, res)
	}
	if check != nil {
		if errs := checkStored(ctx, remote.FS, dir, check, true); len(errs) > 0 {
			res.Errors = append(res.Errors, errs...)
			return res, ctx.Err()
		}
	}
	rm, err := readManifestFor(remote.FS, dir, trusted)
	if err != nil {
		return fail(validate.CodeManifestMismatch + ": " + err.Error())
	}
	if rm == nil {
		if open.Any() {
			return fail(CodeDowngrade + ": " + ErrDowngrade.Error())
		}
		v, err := validate.Dir(ctx, remote.FS, dir, stamp, validate.Options{Ignore: isStatementFile})
		if err != nil {
			return nil, err
		}
		return merged(res, v), nil
	}
	if check == nil {
		if errs := checkCiphertext(ctx, remote.FS, dir, rm, true); len(errs) > 0 {
			res.Errors = append(res.Errors, errs...)
			return res, ctx.Err()
		}
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
	if _, err := fetch(ctx, remote, stamp, open, trusted, nil, osfs, tmp); err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if operatorsKey(err) {
			return nil, fmt.Errorf("remote validate %s: %w", stamp, err) // the operator's key, not the snapshot
		}
		return fail(validate.CodeManifestMismatch + ": cannot decrypt: " + err.Error())
	}
	v, err := validate.Dir(ctx, osfs, tmp, stamp, validate.Options{})
	if err != nil {
		return nil, err
	}
	if err := checkPulled(ctx, osfs, tmp, &validate.Result{}, trusted); err != nil {
		v.Errors = append(v.Errors, CodeSignatureBad+": "+err.Error())
	}
	return merged(res, v), nil
}

// merged adds the findings of res before those of v, with the metadata's
// stamp mismatch an error (see checkPulled).
func merged(res, v *validate.Result) *validate.Result {
	v.Errors = append(append([]string{}, res.Errors...), v.Errors...)
	v.Warnings = append(append([]string{}, res.Warnings...), v.Warnings...)
	stampErrors(v)
	return v
}

// quickResult finishes remote validate --quick: every file named in the
// statement st, at its size, nothing else, and the target's stored
// checksum of each equal to the statement's. The contents are not
// decrypted or validated.
func quickResult(ctx context.Context, rfs afero.Fs, dir string, st *Statement, res *validate.Result) (*validate.Result, error) {
	if st == nil {
		res.Errors = append(res.Errors, validate.CodeManifestMismatch+": the snapshot has no "+StatementFile+" to compare the target's checksums with: validate without quick")
		return res, nil
	}
	if errs := checkStored(ctx, rfs, dir, st, false); len(errs) > 0 {
		res.Errors = append(res.Errors, errs...)
		return res, ctx.Err()
	}
	errs, err := quickCheck(ctx, rfs, dir, st)
	if err != nil {
		return nil, err
	}
	if len(errs) > 0 {
		res.Errors = append(res.Errors, errs...)
		return res, nil
	}
	res.Valid = true
	res.Warnings = append(res.Warnings, "contents_not_checked: quick: the target's stored checksums of all "+strconv.Itoa(len(st.Files))+" files match the signed statement; no byte was read (validate without quick downloads and checks the contents)")
	return res, nil
}
