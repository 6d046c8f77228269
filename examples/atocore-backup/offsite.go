package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/atocore/atocore-backup/backup"
	"github.com/atocore/atocore-backup/internal/snapshot"
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
		return nil, a.fail(exitUsage, errors.New("no target: pass --target sftp://user@host:port/path or file:///path, or set ATOCORE_BACKUP_TARGET")), false
	}
	u, err := target.ParseURL(url)
	if err != nil {
		return nil, a.fail(exitUsage, err), false
	}
	if u.Scheme == target.SchemeSFTP && a.f.knownHosts == "" {
		return nil, a.fail(exitUsage, errors.New("an SFTP target needs --known-hosts FILE: the host key is always checked (add it with ssh-keyscan after checking its fingerprint)")), false
	}
	t, err := target.Open(ctx, url, target.Options{KnownHostsFile: a.f.knownHosts, KeyFile: a.f.sshKey, UseAgent: a.f.sshAgent, Create: create})
	if err != nil {
		return nil, a.fail(exitFailed, err), false
	}
	return t, 0, true
}

// sealing builds the encryption of a push from --recipient,
// --recipients-file and --passphrase-file.
func (a *app) sealing() (target.Sealing, error) {
	return target.SealingFrom(a.f.recipients, a.f.recipientsFile, a.f.passphraseFile)
}

// opening builds the decryption and trust of a pull or remote validate.
func (a *app) opening() (target.Opening, error) {
	o, err := target.OpeningFrom(a.f.ageIdentity, a.f.passphraseFile)
	if err != nil {
		return o, err
	}
	o.Trust, err = a.trust()
	return o, err
}

// memory is this machine's memory of targets for remote list and
// validate: the backup directory's, written only where it exists.
func (a *app) memory() *target.TargetMemory {
	cfg, err := a.config()
	if err != nil {
		return nil
	}
	return target.MemoryIn(cfg)
}

func runPush(ctx context.Context, a *app) int {
	cfg, code, ok := a.setup()
	if !ok {
		return code
	}
	seal, err := a.sealing()
	if err != nil {
		return a.fail(exitUsage, err)
	}
	t, code, ok := a.openTarget(ctx, true)
	if !ok {
		return code
	}
	defer t.Close()
	key, err := a.signer()
	if err != nil {
		return a.fail(exitUsage, err)
	}
	opts := target.PushOptions{Sealing: seal, Signer: key, Verify: a.f.verify}
	trust, err := a.trust()
	if err != nil {
		return a.fail(exitUsage, err)
	}
	opts.Trusted = trust.Signers // the previous signing key, after a rotation
	if f, ok := a.stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		bar := progressbar.DefaultBytes(-1, "pushing to "+t.URL())
		opts.Progress = func(n int64) { _ = bar.Add64(n) }
		defer bar.Finish()
	}
	res, err := target.Push(ctx, cfg, t, opts)
	if err != nil {
		if res != nil {
			a.printJSON(res)
		}
		return a.fail(exitFailed, err)
	}
	a.printJSON(res)
	a.say("pushed %d snapshot(s) to %s (%s sent); %d already there", len(res.Pushed), t.URL(), bytesText(res.BytesSent), len(res.Present))
	return exitOK
}

func runPull(ctx context.Context, a *app) int {
	cfg, code, ok := a.setup("STAMP")
	if !ok {
		return code
	}
	stamp, code, ok := a.stampArg()
	if !ok {
		return code
	}
	open, err := a.opening()
	if err != nil {
		return a.fail(exitUsage, err)
	}
	t, code, ok := a.openTarget(ctx, false)
	if !ok {
		return code
	}
	defer t.Close()
	res, err := target.Pull(ctx, cfg, t, stamp, open)
	if err != nil {
		return a.fail(exitFailed, signatureHint(err))
	}
	a.printJSON(res)
	if res.Signature != "verified" {
		a.say("WARNING: %s was NOT verified against a trusted signer (--allow-unsigned): it may not be what your host pushed", stamp)
	}
	a.say("pulled %s into %s: valid; restore it with: atocore-backup restore %s --confirm-service-stopped", stamp, res.Path, stamp)
	return exitOK
}

func runRemote(ctx context.Context, a *app) int {
	if len(a.f.args) == 0 {
		return a.fail(exitUsage, errors.New("remote needs a subcommand: list, validate STAMP or prune"))
	}
	sub := a.f.args[0]
	a.f.args = a.f.args[1:]
	switch sub {
	case "list":
		if err := a.f.wantArgs(); err != nil {
			return a.fail(exitUsage, err)
		}
		trust, err := a.trust()
		if err != nil {
			return a.fail(exitUsage, err)
		}
		trust.Memory = a.memory()
		t, code, ok := a.openTarget(ctx, false)
		if !ok {
			return code
		}
		defer t.Close()
		snaps, err := target.RemoteList(ctx, t, trust)
		if err != nil {
			return a.fail(exitFailed, err)
		}
		a.printJSON(struct {
			Target  string                  `json:"target"`
			Backups []target.RemoteSnapshot `json:"backups"`
		}{t.URL(), snaps})
		return exitOK
	case "validate":
		if err := a.f.wantArgs("STAMP"); err != nil {
			return a.fail(exitUsage, err)
		}
		if _, err := snapshot.ParseStamp(a.f.args[0]); err != nil {
			return a.fail(exitUsage, err)
		}
		open, err := a.opening()
		if err != nil {
			return a.fail(exitUsage, err)
		}
		open.Trust.Memory = a.memory()
		t, code, ok := a.openTarget(ctx, false)
		if !ok {
			return code
		}
		defer t.Close()
		res, err := target.RemoteValidate(ctx, t, a.f.args[0], open)
		if err != nil {
			return a.fail(exitFailed, err)
		}
		a.printJSON(res)
		if !res.Valid {
			a.say("remote snapshot %s is INVALID: %s", res.Stamp, strings.Join(res.Errors, "; "))
			return exitFailed
		}
		return exitOK
	case "prune":
		if err := a.f.wantArgs(); err != nil {
			return a.fail(exitUsage, err)
		}
		p, err := a.policy()
		if err != nil {
			return a.fail(exitUsage, err)
		}
		t, code, ok := a.openTarget(ctx, false)
		if !ok {
			return code
		}
		defer t.Close()
		res, err := target.RemotePrune(ctx, t, backup.PruneOptions{Policy: p, DryRun: a.f.dryRun, PruneInvalid: a.f.pruneInvalid})
		if err != nil {
			return a.fail(exitFailed, err)
		}
		a.printJSON(res)
		fmt.Fprint(a.stderr, res.Plan.Describe())
		return exitOK
	}
	return a.fail(exitUsage, fmt.Errorf("unknown remote subcommand %q: use list, validate STAMP or prune", sub))
}
