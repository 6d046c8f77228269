package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/atocore/atocore-backup/offsite"
	"github.com/atocore/atocore-backup/replica"
)

func newPull(a *app) *cobra.Command {
	c := &cobra.Command{
		Use:   "pull STAMP|latest|--at TIME --target URL",
		Short: "Fetch an off-site snapshot, verify, decrypt and validate it into the backup directory",
		Long: `pull fetches one snapshot from the target, checks its signed statement against
--allowed-signers (and its sequence against this machine's memory), checks
every byte against the statement, decrypts it, validates it, and only then
places it in the backup directory, which it may create (disaster recovery on
an empty machine). "latest" is the newest remote snapshot whose statement
verifies. Restore it afterwards with restore STAMP.

With --at TIME instead of a STAMP it fetches what restore --at TIME needs from
the replication chains replicate shipped there: the base snapshot of the chain
that covers TIME (pulled as above when it is not local), and the chain's files
up to TIME, each checked against its signed statement and decrypted. Then run
restore --at TIME. A TIME no chain on the target covers is exit 10.`,
		Example: `  atocore-backup pull latest --target sftp://backup@offsite.example/srv/atocore \
      --known-hosts known_hosts --ssh-key id_ed25519 --age-identity age.key --allowed-signers allowed_signers
  atocore-backup pull --at 2026-12-07T14:03:00Z --target offsite --age-identity age.key --allowed-signers allowed_signers`,
		Args: restoreArgs(a),
		RunE: a.runs(runPull),
	}
	fs := c.Flags()
	a.f.addTargetFlags(fs)
	a.f.addOpeningFlags(fs)
	a.f.addTrustFlags(fs)
	fs.StringVar(&a.f.at, "at", "", "fetch what a restore to `TIME` (RFC 3339) needs from the target's replication, instead of a STAMP")
	return c
}

func runPull(ctx context.Context, a *app) int {
	if a.changed("at") {
		return runPullAt(ctx, a)
	}
	cfg, code, ok := a.setup()
	if !ok {
		return code
	}
	t, open, stamp, code, ok := a.remoteSnapshot(ctx, false)
	if !ok {
		return code
	}
	defer t.Close()
	bctx, done := a.withBar(ctx, "pulling "+stamp)
	res, err := offsite.Pull(bctx, cfg, t, stamp, open)
	done()
	if err != nil {
		return a.fail(exitFailed, signatureHint(err))
	}
	if res.Signature != "verified" {
		a.say("WARNING: %s was NOT verified against a trusted signer (--allow-unsigned): it may not be what your host pushed", stamp)
	}
	a.result(res, fmt.Sprintf("pulled %s into %s: valid; restore it with: atocore-backup restore %s --confirm-service-stopped", stamp, res.Path, stamp))
	return exitOK
}

func runPullAt(ctx context.Context, a *app) int {
	at, err := time.Parse(time.RFC3339Nano, a.f.at)
	if err != nil {
		return a.fail(exitUsage, fmt.Errorf("--at %q is not an RFC 3339 time; write it as 2026-12-07T14:03:00Z", a.f.at))
	}
	cfg, code, ok := a.setup()
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
	bctx, done := a.withBar(ctx, "pulling the replication at "+at.UTC().Format(time.RFC3339))
	res, err := offsite.PullAt(bctx, cfg, t, at, open)
	done()
	if errors.Is(err, replica.ErrOutsideWindow) {
		return a.failAs(exitNotFound, err)
	}
	if err != nil {
		return a.fail(exitFailed, signatureHint(err))
	}
	a.result(res, fmt.Sprintf("pulled chain %s on %s up to %s (%d file(s)); restore it with: atocore-backup restore --at %s --confirm-service-stopped",
		res.Chain, res.Base, res.Seen.Format(time.RFC3339Nano), res.Files, a.f.at))
	return exitOK
}
