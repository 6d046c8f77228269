package main

import (
	"context"
	"errors"

	"github.com/atocore/atocore-backup/offsite"
	"github.com/atocore/atocore-backup/target"
)

// openTarget opens --target (or ATOCORE_BACKUP_TARGET) with the SSH flags.
// Only push creates a missing target directory (create); for every other
// command a missing target is "not found" and nothing is created.
func (a *app) openTarget(ctx context.Context, create bool) (target.Target, int, bool) {
	url := a.f.target
	if url == "" {
		url = a.getenv("ATOCORE_BACKUP_TARGET")
	}
	if url == "" {
		return nil, a.fail(exitUsage, errors.New("no target: pass --target sftp://user@host:port/path, s3://bucket/prefix or file:///path, or set ATOCORE_BACKUP_TARGET")), false
	}
	if _, err := target.ParseURL(url); err != nil {
		return nil, a.fail(exitUsage, err), false
	}
	t, err := target.Open(ctx, url, target.Options{KnownHostsFile: a.f.knownHosts, KeyFile: a.f.sshKey, UseAgent: a.f.sshAgent, SSHConfigFile: a.f.sshConfig, Create: create})
	var ce *target.SSHConfigError
	if errors.As(err, &ce) {
		return nil, a.fail(exitUsage, err), false // refused before anything was dialled
	}
	if err != nil {
		return nil, a.fail(exitFailed, err), false
	}
	return t, 0, true
}

// sealing builds the encryption of a push from --recipient,
// --recipients-file and --passphrase-file.
func (a *app) sealing() (offsite.Sealing, error) {
	return offsite.SealingFrom(a.f.recipients, a.f.recipientsFile, a.f.passphraseFile)
}

// opening builds the decryption and trust of a pull or remote validate.
func (a *app) opening() (offsite.Opening, error) {
	o, err := offsite.OpeningFrom(a.f.ageIdentity, a.f.passphraseFile)
	if err != nil {
		return o, err
	}
	o.Trust, err = a.trust()
	return o, err
}

// memory is this machine's memory of targets for remote list and
// validate: the backup directory's, written only where it exists.
func (a *app) memory() *offsite.Memory {
	cfg, err := a.config()
	if err != nil {
		return nil
	}
	return offsite.MemoryIn(cfg)
}

// remoteSnapshot is the preamble of the commands on one remote snapshot
// (pull, remote validate, drill --from-target): the STAMP argument (a
// malformed one refused before the target is opened), the keys and trust,
// the target, and "latest" resolved on it. withMemory checks the sequence
// against, and records it in, this machine's memory (pull and the drill
// do that themselves). The caller closes t.
func (a *app) remoteSnapshot(ctx context.Context, withMemory bool) (t target.Target, open offsite.Opening, stamp string, code int, ok bool) {
	if a.f.args[0] != latest {
		if _, code, ok := a.stampArg(); !ok {
			return nil, open, "", code, false
		}
	}
	open, err := a.opening()
	if err != nil {
		return nil, open, "", a.fail(exitUsage, err), false
	}
	if withMemory {
		open.Trust.Memory = a.memory()
	}
	t, code, ok = a.openTarget(ctx, false)
	if !ok {
		return nil, open, "", code, false
	}
	stamp, code, ok = a.remoteStamp(ctx, t, open.Trust)
	if !ok {
		t.Close()
		return nil, open, "", code, false
	}
	return t, open, stamp, 0, true
}
