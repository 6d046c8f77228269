package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/atocore/atocore-backup/internal/cmdline"
	"github.com/atocore/atocore-backup/offsite"
)

func newPull(a *app) *cobra.Command {
	c := &cobra.Command{
		Use:   "pull STAMP|latest --target URL",
		Short: "Fetch an off-site snapshot, verify, decrypt and validate it into the backup directory",
		Long: `pull fetches one snapshot from the target, checks its signed statement against
--allowed-signers (and its sequence against this machine's memory), checks
every byte against the statement, decrypts it, validates it, and only then
places it in the backup directory, which it may create (disaster recovery on
an empty machine). "latest" is the newest remote snapshot whose statement
verifies. Restore it afterwards with restore STAMP.`,
		Example: `  atocore-backup pull latest --target sftp://backup@offsite.example/srv/atocore \
      --known-hosts known_hosts --ssh-key id_ed25519 --age-identity age.key --allowed-signers allowed_signers`,
		Args: cmdline.Args("STAMP"),
		RunE: a.runs(runPull),
	}
	fs := c.Flags()
	a.f.addTargetFlags(fs)
	a.f.addOpeningFlags(fs)
	a.f.addTrustFlags(fs)
	return c
}

func runPull(ctx context.Context, a *app) int {
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
