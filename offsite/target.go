package offsite

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/crypto/ssh"

	"github.com/atocore/atocore-backup/backup"
	"github.com/atocore/atocore-backup/encrypt"
	"github.com/atocore/atocore-backup/internal/sshsig"
	"github.com/atocore/atocore-backup/target"
	"github.com/atocore/atocore-backup/validate"
)

// MemoryIn is the memory in cfg's backup directory as a read-only command
// uses it: read, and written only into an existing .push-state/ (nil when
// cfg names no backup directory).
func MemoryIn(cfg backup.Config) *Memory {
	cfg, err := cfg.Resolved()
	if err != nil || cfg.BackupDir == "" {
		return nil
	}
	return &Memory{FS: cfg.FS, BackupDir: cfg.BackupDir}
}

func remoteOf(t target.Target) Remote {
	return Remote{FS: t.FS(), Root: t.Root(), URL: t.URL()}
}

// Push copies the local snapshots of cfg that t lacks (validating each
// first), optionally age-encrypted. A remote snapshot appears only when
// complete; an interrupted push resumes; unchanged files are linked on the
// target instead of sent.
func Push(ctx context.Context, cfg backup.Config, t target.Target, opts PushOptions) (*PushResult, error) {
	return pushRemote(ctx, cfg, remoteOf(t), opts)
}

// Pull fetches (and decrypts) the snapshot stamp from t into cfg's backup
// directory, where it is validated and then restores like any other.
func Pull(ctx context.Context, cfg backup.Config, t target.Target, stamp string, open Opening) (*PullResult, error) {
	return pullRemote(ctx, cfg, remoteOf(t), stamp, open)
}

// List lists t's snapshots, oldest first, each marked verified,
// unsigned, unverified or bad against trust's signers.
func List(ctx context.Context, t target.Target, trust Trust) ([]RemoteSnapshot, error) {
	return listRemote(ctx, remoteOf(t), trust)
}

// Validate checks a snapshot on t: ciphertext digests without the
// key, the full validation with it (or for plaintext copies).
func Validate(ctx context.Context, t target.Target, stamp string, open Opening) (*validate.Result, error) {
	return validateRemote(ctx, remoteOf(t), stamp, open)
}

// ValidateQuick checks a snapshot on t without reading its files: the
// signed statement, then the checksum t's server stores for each file
// (object storage: target.ChecksumReporter) against it. A target that
// keeps no checksums is ErrNoStoredChecksums.
func ValidateQuick(ctx context.Context, t target.Target, stamp string, open Opening) (*validate.Result, error) {
	return validateRemoteWith(ctx, remoteOf(t), stamp, open, true)
}

// Prune applies a retention policy on t.
func Prune(ctx context.Context, t target.Target, opts backup.PruneOptions) (*backup.PruneResult, error) {
	return pruneRemote(ctx, remoteOf(t), opts)
}

// SealingFrom builds the encryption of a push from the usual settings:
// recipient lines (age1..., ssh-ed25519 ..., ssh-rsa ...), a recipients
// file in the format of `age -R`, or a file holding a passphrase. All
// empty means plaintext copies. A passphrase excludes recipients (age
// cannot mix them).
func SealingFrom(recipients []string, recipientsFile, passphraseFile string) (Sealing, error) {
	var s Sealing
	if len(recipients) > 0 || recipientsFile != "" {
		lines := append([]string(nil), recipients...)
		if recipientsFile != "" {
			data, err := os.ReadFile(recipientsFile)
			if err != nil {
				return s, fmt.Errorf("recipients file: %w", err)
			}
			lines = append(lines, strings.Split(string(data), "\n")...)
		}
		rs, err := encrypt.ParseRecipients(lines...)
		if err != nil {
			return s, err
		}
		s.Recipients = rs
	}
	if passphraseFile != "" {
		if s.Recipients != nil {
			return s, errors.New("a passphrase file and recipients exclude each other: age cannot mix a passphrase with recipients")
		}
		p, err := encrypt.PassphraseFromFile(passphraseFile)
		if err != nil {
			return s, err
		}
		s.Passphrase = p
	}
	return s, nil
}

// OpeningFrom builds the decryption of a pull or a remote validation from an
// identity file (as `age -i` reads) and/or a passphrase file.
func OpeningFrom(identityFile, passphraseFile string) (Opening, error) {
	var o Opening
	if identityFile != "" {
		ids, err := encrypt.IdentitiesFromFile(identityFile)
		if err != nil {
			return o, err
		}
		o.Identities = ids
	}
	if passphraseFile != "" {
		p, err := encrypt.PassphraseFromFile(passphraseFile)
		if err != nil {
			return o, err
		}
		o.Passphrase = p
	}
	return o, nil
}

// SignerFrom reads the key that signs pushed statements: an unencrypted
// OpenSSH Ed25519 private key file (ssh-keygen -t ed25519).
func SignerFrom(keyFile string) (ssh.Signer, error) {
	return sshsig.ReadSigner(keyFile)
}

// TrustFrom builds the trust of a pull, remote validate or remote list
// from an OpenSSH allowed_signers file ("" for none) and the two
// allowances.
func TrustFrom(allowedSignersFile string, allowUnsigned, allowRollback bool) (Trust, error) {
	t := Trust{AllowUnsigned: allowUnsigned, AllowRollback: allowRollback}
	if allowedSignersFile != "" {
		a, err := sshsig.ReadAllowedSigners(allowedSignersFile)
		if err != nil {
			return t, err
		}
		t.Signers = a
	}
	return t, nil
}

// AllowedSignersLine is the allowed_signers line that trusts key (a
// signer's public key) as principal for the statements of pushes.
func AllowedSignersLine(principal string, key ssh.PublicKey) string {
	return sshsig.Line(principal, SignatureNamespace, key)
}

// TrustKey is the trust of one signing key: what a pushing host uses to
// check its own pushes.
func TrustKey(principal string, key ssh.PublicKey) Trust {
	return Trust{Signers: sshsig.Trusting(principal, key)}
}
