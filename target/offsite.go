package target

import (
	"context"

	"github.com/atocore/atocore-backup/backup"
	"github.com/atocore/atocore-backup/internal/offsite"
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
)

// ErrRemoteCorrupt is matched by errors.Is when a remote file does not match
// its remote manifest.
var ErrRemoteCorrupt = offsite.ErrRemoteCorrupt

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

// RemoteList lists t's snapshots, oldest first.
func RemoteList(ctx context.Context, t Target) ([]RemoteSnapshot, error) {
	return offsite.List(ctx, remoteOf(t))
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
