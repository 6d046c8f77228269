package backup

import (
	"context"
	"log/slog"
	"time"

	"github.com/spf13/afero"

	"github.com/atocore/atocore-backup/internal/buildinfo"
	"github.com/atocore/atocore-backup/internal/dirlock"
	"github.com/atocore/atocore-backup/internal/snapshot"
)

// Version is the version of atocore-backup recorded in every snapshot.
const Version = buildinfo.Version

// Config is what every operation on a deployment needs: where the live
// state and the backup directory are. The zero FS and Logger are the OS
// filesystem and silence.
type Config struct {
	Paths
	// FS holds the backup directory. nil means the OS filesystem.
	FS afero.Fs
	// Logger receives progress at Info and details at Debug. nil is silent.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now. Tests set it.
	Now func() time.Time
}

// Resolved returns cfg with Paths resolved and nil fields defaulted.
func (cfg Config) Resolved() (Config, error) {
	p, err := cfg.Paths.Resolve()
	if err != nil {
		return cfg, err
	}
	cfg.Paths = p
	if cfg.FS == nil {
		cfg.FS = afero.NewOsFs()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return cfg, nil
}

// Type aliases re-export the snapshot format and lock types, so that
// callers need only this package.
type (
	// Metadata is the content of a snapshot's backup-metadata.json.
	Metadata = snapshot.Metadata
	// Manifest is the content of a snapshot's manifest.json.
	Manifest = snapshot.Manifest
	// Lock is a held lock on a backup directory.
	Lock = dirlock.Lock
	// BusyError says which operation holds a backup directory's lock.
	BusyError = dirlock.BusyError
)

// Kinds of snapshot (Metadata.Kind).
const (
	KindManual     = snapshot.KindManual
	KindScheduled  = snapshot.KindScheduled
	KindPreRestore = snapshot.KindPreRestore
	KindDrill      = snapshot.KindDrill
)

// ErrBusy is matched by errors.Is when another create, restore or prune
// holds the backup directory's lock.
var ErrBusy = dirlock.ErrBusy

// ErrBadStamp is matched by errors.Is for a malformed stamp.
var ErrBadStamp = snapshot.ErrBadStamp

// ParseStamp returns the time a stamp names, or an error matching
// ErrBadStamp for anything but UTC YYYYMMDDTHHMMSSZ.
func ParseStamp(s string) (time.Time, error) { return snapshot.ParseStamp(s) }

// Wait says what taking a held lock does: fail at once (the zero Wait),
// or wait (On), up to Limit, telling Notify once who holds it.
type Wait = dirlock.Wait

// LockDir takes the lock of cfg's backup directory for operation op (it is
// named to a second caller). With the zero Wait a held lock is an error
// matching ErrBusy. Restore and the drill hold it across several steps and
// pass it on in CreateOptions.Lock.
func LockDir(ctx context.Context, cfg Config, op string, wait Wait) (*Lock, error) {
	cfg, err := cfg.Resolved()
	if err == nil {
		err = cfg.Require(NeedBackup)
	}
	if err != nil {
		return nil, err
	}
	return dirlock.Acquire(ctx, cfg.FS, cfg.BackupDir, op, wait)
}

// Locker is the AtoCore server's ingestion lock. While it is held no
// ingestion writes to the Chroma directory, so its files can be copied
// without retries. The embedding server provides it.
type Locker interface {
	// Lock blocks until the lock is held or ctx ends, and returns the
	// function that releases it.
	Lock(ctx context.Context) (unlock func(), err error)
}

// buildSHA is what a new snapshot records as build_sha.
func buildSHA() string { return buildinfo.BuildSHA() }
