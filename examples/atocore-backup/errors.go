package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/atocore/atocore-backup/backup"
	"github.com/atocore/atocore-backup/encrypt"
	"github.com/atocore/atocore-backup/internal/cmdline"
	"github.com/atocore/atocore-backup/offsite"
	"github.com/atocore/atocore-backup/restore"
	"github.com/atocore/atocore-backup/target"
)

// Exit codes of the CLI contract (SPEC, after restic 0.17's).
const (
	exitOK          = cmdline.ExitOK
	exitFailed      = cmdline.ExitFailed
	exitUsage       = cmdline.ExitUsage // usage error, or a refusal that touched nothing
	exitNotFound    = cmdline.ExitNotFound
	exitBusy        = cmdline.ExitBusy
	exitWrongKey    = cmdline.ExitWrongKey
	exitInterrupted = cmdline.ExitInterrupted
)

// exitCode refines exitFailed from the error's type: the library's typed
// errors say what happened, so no message is matched.
func exitCode(ctx context.Context, code int, err error) int {
	if code != exitFailed {
		return code
	}
	var (
		nf  *backup.NotFoundError
		tnf *target.NotFoundError
	)
	switch {
	case ctx.Err() != nil && errors.Is(err, context.Canceled):
		return exitInterrupted
	case errors.As(err, &nf), errors.As(err, &tnf):
		return exitNotFound
	case errors.Is(err, backup.ErrBusy):
		return exitBusy
	case errors.Is(err, encrypt.ErrWrongIdentity), errors.Is(err, encrypt.ErrWrongPassphrase):
		return exitWrongKey
	case errors.Is(err, restore.ErrRefused), errors.Is(err, offsite.ErrCannotLock):
		return exitUsage
	}
	var (
		mp *backup.MissingPathError
		le *backup.LayoutError
	)
	if errors.As(err, &mp) || errors.As(err, &le) {
		return exitUsage
	}
	return code
}

// pathFlag names, per path a library error can be about, the flag and
// environment variable that set it.
var pathFlag = map[string][2]string{
	backup.WhatRoot:      {"--root", "ATOCORE_ROOT"},
	backup.WhatDB:        {"--db-path", "ATOCORE_DB_PATH"},
	backup.WhatRegistry:  {"--registry-path", "ATOCORE_REGISTRY_PATH"},
	backup.WhatChroma:    {"--chroma-path", "ATOCORE_CHROMA_PATH"},
	backup.WhatBackupDir: {"--backup-dir", "ATOCORE_BACKUP_DIR"},
}

// hint is what the CLI adds to a library error: the flag to change. The
// library's messages name no flags.
func (a *app) hint(err error) string {
	var (
		nf  *backup.NotFoundError
		tnf *target.NotFoundError
		mp  *backup.MissingPathError
		re  *restore.RefusedError
		pe  *restore.PreSnapshotError
	)
	switch {
	case errors.As(err, &tnf):
		const creates = "push creates a missing target directory under an existing parent, no other command creates one"
		if a.f.targetName != "" {
			if c, _ := a.configFile(); c != nil {
				return fmt.Sprintf("check the url of the target %q in %s; %s", a.f.targetName, c.Path, creates)
			}
		}
		return "check --target (or ATOCORE_BACKUP_TARGET); " + creates
	case errors.As(err, &nf):
		if nf.What == backup.WhatSnapshot {
			return "run list to see the snapshots there"
		}
		return fmt.Sprintf("it came from %s: check the path", a.source(nf.What))
	case errors.As(err, &mp):
		f := pathFlag[mp.What]
		return fmt.Sprintf("pass %s or --root (or set %s or ATOCORE_ROOT)", f[0], f[1])
	case errors.Is(err, backup.ErrBusy):
		return "or pass --wait to wait for it"
	case errors.As(err, &re):
		switch re.Reason {
		case restore.ReasonNotConfirmed:
			return "stop the service, then pass --confirm-service-stopped"
		case restore.ReasonUnsafeLayout:
			if re.What != "" {
				return fmt.Sprintf("the %s path came from %s: check it", re.What, a.source(re.What))
			}
			return "check the paths (--root, --db-path, --registry-path, --chroma-path, --backup-dir)"
		case restore.ReasonInterrupted:
			return "run the restore with Chroma (without --no-chroma), or restore the pre-restore snapshot it names"
		case restore.ReasonMissingPath:
			return "pass --chroma-path / --registry-path or --root, or --no-chroma"
		case restore.ReasonServiceRunning:
			return "stop the AtoCore service (e.g. systemctl stop atocore), then run the restore again"
		}
	case errors.As(err, &pe):
		return "if the live state is damaged beyond copying (or an earlier pre-restore snapshot already holds it), rerun with --no-pre-snapshot"
	case errors.Is(err, encrypt.ErrWrongIdentity):
		return "wrong identity: it opens nothing here, the snapshot is not damaged; check --age-identity"
	case errors.Is(err, encrypt.ErrWrongPassphrase):
		return "wrong passphrase: it opens nothing here; check --passphrase-file"
	case errors.Is(err, offsite.ErrNoStoredChecksums):
		return "drop --quick"
	case errors.Is(err, offsite.ErrNeedIdentity):
		return "pass --age-identity with a matching identity file"
	case errors.Is(err, offsite.ErrNeedPassphrase):
		return "pass --passphrase-file"
	}
	return ""
}

// source says where the setting of the path what came from.
func (a *app) source(what string) string {
	if s, ok := a.sources[what]; ok {
		return s
	}
	return "the defaults"
}
