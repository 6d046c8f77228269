package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/atocore/atocore-backup/internal/cmdline"
	"github.com/atocore/atocore-backup/offsite"
	"github.com/atocore/atocore-backup/target"
)

func newPush(a *app) *cobra.Command {
	c := &cobra.Command{
		Use:   "push [--target NAME|URL]...",
		Short: "Copy the snapshots the target lacks, encrypted and signed",
		Long: `push sends every local snapshot the target lacks (encrypted with age when given
recipients or a passphrase), with a statement signed by this host's Ed25519 key
that names every remote file's size and digest and a sequence number. A snapshot
already there is checked against its statement; with --verify every byte is read
back. Unchanged files are not sent twice. Only push creates a missing target
directory (under an existing parent).

Without --target it goes to every [[target]] of the config file, in the file's
order; --target may be repeated (names of the config file or URLs). Each
target is pushed with its own settings; one that fails does not stop the
others, and each is reported. The exit code is 0 when every push worked, else
the code the failures agree on (10 when every failed target is missing), else 1;
stderr names each failed target in a line of its own.`,
		Example: `  atocore-backup push --target sftp://backup@offsite.example/srv/atocore \
      --known-hosts /etc/atocore-backup/known_hosts --ssh-key /etc/atocore-backup/id_ed25519 \
      --recipients-file /etc/atocore-backup/recipients.txt
  atocore-backup push                            # every target of the config file
  atocore-backup push --target offsite --target usb`,
		Args: cmdline.Args(),
		RunE: a.runs(runPush),
		// push resolves each target's settings itself (runPush).
		Annotations: map[string]string{annotSeveralTargets: "yes"},
	}
	fs := c.Flags()
	a.f.addTargetsFlags(fs)
	fs.StringArrayVar(&a.f.recipients, "recipient", nil, "an age `RECIPIENT` (age1... or ssh-ed25519 ...) to encrypt for; repeatable")
	fs.StringVar(&a.f.recipientsFile, "recipients-file", "", "a `FILE` of age recipients, one a line")
	fs.StringVar(&a.f.passphraseFile, "passphrase-file", "", "encrypt with the passphrase on the first line of `FILE`")
	fs.StringVar(&a.f.signingKey, "signing-key", "", "the Ed25519 OpenSSH private key `FILE` that signs the statements (env ATOCORE_SIGNING_KEY; default: --ssh-key when Ed25519)")
	fs.BoolVar(&a.f.allowUnsigned, "allow-unsigned", false, "push without signing (env ATOCORE_ALLOW_UNSIGNED=1; not recommended)")
	fs.BoolVar(&a.f.verify, "verify", false, "read back every byte already on the target and re-send snapshots that differ from their statements")
	fs.StringVar(&a.f.allowedSigners, "allowed-signers", "", "keys whose statements are this host's too (the old key after a rotation): their snapshots are not re-sent (env ATOCORE_ALLOWED_SIGNERS)")
	fs.IntVar(&a.f.objectLockDays, "object-lock-days", 0, "lock every object pushed against deletion and overwrite for `N` days (S3 Object Lock; s3:// targets whose bucket has it enabled; env ATOCORE_OBJECT_LOCK_DAYS)")
	fs.IntVar(&a.f.deltaChain, "delta-chain", offsite.DefaultDeltaChain, "encrypted pushes send the database as the pages changed since the previous pushed snapshot, at most `N` times after a whole copy (0: always whole)")
	fs.StringVar(&a.f.objectLockMode, "object-lock-mode", "", "the lock's `MODE`: governance (the default: an account allowed to bypass it can still delete) or compliance (nobody can) (env ATOCORE_OBJECT_LOCK_MODE)")
	return c
}

// annotSeveralTargets marks a command that takes several targets and
// resolves each one's settings itself.
const annotSeveralTargets = "atocore-backup/several-targets"

func runPush(ctx context.Context, a *app) int {
	names, err := a.pushTargets()
	if err != nil {
		return a.fail(exitUsage, err)
	}
	chain, err := a.deltaChain()
	if err != nil {
		return a.fail(exitUsage, err)
	}
	if len(names) > 1 {
		return runPushSeveral(ctx, a, names)
	}
	if len(names) == 1 && len(a.f.targets) > 0 {
		a.f.target = names[0]
	}
	if err := a.resolveOffsite(); err != nil {
		return a.fail(exitUsage, err)
	}
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
		if u, err := target.ParseURL(a.f.target); err == nil {
			a.results.RecordNamedPush(a.f.targetName, u.String(), time.Now(), false) // unreachable or refusing: a failed push
		}
		return code
	}
	defer t.Close()
	key, err := a.signer()
	if err != nil {
		return a.fail(exitUsage, err)
	}
	lock, err := a.objectLock()
	if err != nil {
		return a.fail(exitUsage, err)
	}
	opts := offsite.PushOptions{Sealing: seal, Signer: key, Verify: a.f.verify, ObjectLock: lock, DeltaChain: chain}
	trust, err := a.trust()
	if err != nil {
		return a.fail(exitUsage, err)
	}
	opts.Trusted = trust.Signers // the previous signing key, after a rotation
	bctx, done := a.withBar(ctx, "pushing to "+t.URL())
	res, err := offsite.Push(bctx, cfg, t, opts)
	done()
	a.results.RecordNamedPush(a.f.targetName, t.URL(), time.Now(), err == nil)
	if err != nil {
		if res != nil {
			a.printJSON(res)
		}
		return a.fail(exitFailed, err)
	}
	a.result(res, fmt.Sprintf("pushed %d snapshot(s) to %s (%s sent); %d already there", len(res.Pushed), t.URL(), bytesText(res.BytesSent), len(res.Present)))
	return exitOK
}

// pushTargets lists what push goes to: each --target (a name of the config
// file or a URL), else ATOCORE_BACKUP_TARGET, else every target of the
// config file, in its order. One or none is the push to one target.
func (a *app) pushTargets() ([]string, error) {
	if len(a.f.targets) > 0 {
		return a.f.targets, nil
	}
	if a.getenv("ATOCORE_BACKUP_TARGET") != "" {
		return nil, nil // resolveOffsite reads it
	}
	c, err := a.configFile()
	if err != nil || c == nil || len(c.Targets) < 2 {
		return nil, err
	}
	return c.TargetNames(), nil
}
