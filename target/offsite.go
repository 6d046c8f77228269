package target

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/crypto/ssh"

	"github.com/atocore/atocore-backup/backup"
	"github.com/atocore/atocore-backup/encrypt"
	"github.com/atocore/atocore-backup/internal/offsite"
	"github.com/atocore/atocore-backup/internal/sshsig"
	"github.com/atocore/atocore-backup/validate"
)

// Off-site copies between the local backup directory and a Target. See
// internal/offsite for the layout on the target (incoming directories, the
// journal that lets an interrupted push resume, remote-manifest.json).
type (
	// Sealing says how pushed snapshots are encrypted (zero: plaintext).
	Sealing = offsite.Sealing
	// Opening says how to decrypt pulled snapshots.
	Opening = offsite.Opening
	// PushOptions tunes Push.
	PushOptions = offsite.PushOptions
	// PushResult is what Push did (the JSON of `push`).
	PushResult = offsite.PushResult
	// PullResult is what Pull did (the JSON of `pull`).
	PullResult = offsite.PullResult
	// RemoteSnapshot is one entry of RemoteList.
	RemoteSnapshot = offsite.RemoteSnapshot
	// Trust says which signed statements are believed (zero: none).
	Trust = offsite.Trust
	// TargetMemory is where a machine remembers targets (Trust.Memory).
	TargetMemory = offsite.Memory
)

// MemoryIn is the memory in cfg's backup directory as a read-only command
// uses it: read, and written only into an existing .push-state/ (nil when
// cfg names no backup directory).
func MemoryIn(cfg backup.Config) *TargetMemory {
	cfg, err := cfg.Resolved()
	if err != nil || cfg.BackupDir == "" {
		return nil
	}
	return &TargetMemory{FS: cfg.FS, BackupDir: cfg.BackupDir}
}

// ErrRemoteCorrupt is matched by errors.Is when a remote file does not match
// its remote manifest.
var ErrRemoteCorrupt = offsite.ErrRemoteCorrupt

// Refusals of a remote snapshot, matched by errors.Is (see internal/offsite).
var (
	ErrUnsigned      = offsite.ErrUnsigned
	ErrNotVerified   = offsite.ErrNotVerified
	ErrBadSignature  = offsite.ErrBadSignature
	ErrStampMismatch = offsite.ErrStampMismatch
	ErrDowngrade     = offsite.ErrDowngrade
	ErrRollback      = offsite.ErrRollback
	ErrClaimed       = offsite.ErrClaimed
	ErrStampTaken    = offsite.ErrStampTaken
	ErrOtherTarget   = offsite.ErrOtherTarget
	ErrTooMuch       = offsite.ErrTooMuch
)

// WarnLinksNotMade starts the PushResult warning of a server whose hard
// links are not real: unchanged files were uploaded instead.
const WarnLinksNotMade = offsite.WarnLinksNotMade

// WarnClaimNotExclusive starts the PushResult warning of a server that
// ignores exclusive creates (rclone serve sftp): the claim of a stamp
// cannot stop a second simultaneous push there (it uploads into its own
// incoming directory, and fails with ErrStampTaken if the other's snapshot
// is kept).
const WarnClaimNotExclusive = offsite.WarnClaimNotExclusive

// ErrNeedIdentity and ErrNeedPassphrase are matched when an encrypted
// snapshot is to be decrypted and the Opening holds no identity, or no
// passphrase, of the kind it needs.
var (
	ErrNeedIdentity   = offsite.ErrNeedIdentity
	ErrNeedPassphrase = offsite.ErrNeedPassphrase
)

func remoteOf(t Target) offsite.Remote {
	return offsite.Remote{FS: t.FS(), Root: t.Root(), URL: t.URL()}
}

// Push copies the local snapshots of cfg that t lacks (validating each
// first), optionally age-encrypted. A remote snapshot appears only when
// complete; an interrupted push resumes; unchanged files are linked on the
// target instead of sent.
func Push(ctx context.Context, cfg backup.Config, t Target, opts PushOptions) (*PushResult, error) {
	return offsite.Push(ctx, cfg, remoteOf(t), opts)
}

// Pull fetches (and decrypts) the snapshot stamp from t into cfg's backup
// directory, where it is validated and then restores like any other.
func Pull(ctx context.Context, cfg backup.Config, t Target, stamp string, open Opening) (*PullResult, error) {
	return offsite.Pull(ctx, cfg, remoteOf(t), stamp, open)
}

// RemoteList lists t's snapshots, oldest first, each marked verified,
// unsigned, unverified or bad against trust's signers.
func RemoteList(ctx context.Context, t Target, trust Trust) ([]RemoteSnapshot, error) {
	return offsite.List(ctx, remoteOf(t), trust)
}

// RemoteValidate checks a snapshot on t: ciphertext digests without the
// key, the full validation with it (or for plaintext copies).
func RemoteValidate(ctx context.Context, t Target, stamp string, open Opening) (*validate.Result, error) {
	return offsite.Validate(ctx, remoteOf(t), stamp, open)
}

// RemotePrune applies a retention policy on t.
func RemotePrune(ctx context.Context, t Target, opts backup.PruneOptions) (*backup.PruneResult, error) {
	return offsite.Prune(ctx, remoteOf(t), opts)
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
	return sshsig.Line(principal, offsite.SignatureNamespace, key)
}

// TrustKey is the trust of one signing key: what a pushing host uses to
// check its own pushes.
func TrustKey(principal string, key ssh.PublicKey) Trust {
	return Trust{Signers: sshsig.Trusting(principal, key)}
}
