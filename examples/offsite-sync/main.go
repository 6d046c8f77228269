// Command offsite-sync is the cron job that replaces "rsync the snapshots
// to another host": it pushes the local snapshots the target lacks
// (encrypted when given recipients or a passphrase), applies the retention
// policy on the target, and validates the newest remote copy. It prints a
// JSON report on stdout and exits non-zero with a one-line reason on any
// failure.
//
//	offsite-sync --root /srv/storage/atocore \
//	    --target sftp://backup@offsite.example:22/srv/atocore-offsite \
//	    --known-hosts /etc/atocore/known_hosts --ssh-key /etc/atocore/id_ed25519 \
//	    --recipients-file /etc/atocore/backup-recipients.txt
//
// Every pushed snapshot's statement is signed with --signing-key (or
// ATOCORE_SIGNING_KEY; default: the --ssh-key when it is Ed25519); without
// one it refuses unless --allow-unsigned (ATOCORE_ALLOW_UNSIGNED=1). The
// newest remote copy is verified against --allowed-signers (or
// ATOCORE_ALLOWED_SIGNERS), by default against the signing key itself.
//
// With --target repeated, or --config naming an atocore-backup
// configuration file with several [[target]]s, it syncs each target in
// turn, with its own keys; one that fails does not stop the others.
//
// Exit codes: 0 ok, 1 failed (push, prune or validation; for several
// targets, any of them), 2 bad flags.
package main

import (
	"context"
	"errors"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"golang.org/x/crypto/ssh"

	"github.com/atocore/atocore-backup/backup"
	"github.com/atocore/atocore-backup/internal/cmdline"
	"github.com/atocore/atocore-backup/offsite"
	"github.com/atocore/atocore-backup/validate"
)

func main() {
	cmdline.LimitMemory()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

// report is the JSON printed on stdout.
type report struct {
	Target   string              `json:"target"`
	Push     *offsite.PushResult `json:"push"`
	Prune    *backup.PruneResult `json:"prune"`
	Newest   string              `json:"newest_remote"`
	Validate *validate.Result    `json:"validate"`
	OK       bool                `json:"ok"`
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	var o opts
	root := &cobra.Command{
		Use:   "offsite-sync",
		Short: "Push the local snapshots off-site, prune there, validate the newest remote copy",
		Long: `offsite-sync is the cron job that replaces "rsync the snapshots to another host":
it pushes the local snapshots the target lacks (encrypted when given recipients
or a passphrase, each with a signed statement), applies the retention policy on
the target, and validates the newest remote copy. It prints a JSON report on
stdout. With --target repeated, or a --config file that names several targets,
it syncs each in turn with its own keys; one that fails does not stop the
others, each is reported, and stderr names each failed target in a line.
Exit codes: 0 ok, 1 failed (push, prune or validation; of any target), 2 bad
flags (nothing was touched).`,
		Example: `  offsite-sync --root /srv/storage/atocore \
      --target sftp://backup@offsite.example:22/srv/atocore-offsite \
      --known-hosts /etc/atocore/known_hosts --ssh-key /etc/atocore/id_ed25519 \
      --recipients-file /etc/atocore/backup-recipients.txt
  offsite-sync --config /etc/atocore-backup/config.toml   # every [[target]] of the file`,
		Args: cmdline.Args(),
		RunE: func(c *cobra.Command, _ []string) error {
			o.changed = c.Flags().Changed
			return cmdline.Code(o.run(c.Context(), stdout, stderr))
		},
	}
	fs := root.Flags()
	fs.StringVar(&o.root, "root", getenv("ATOCORE_ROOT"), "the AtoCore root `DIR` (env ATOCORE_ROOT)")
	fs.StringVar(&o.backupDir, "backup-dir", getenv("ATOCORE_BACKUP_DIR"), "the backup `DIR` (env ATOCORE_BACKUP_DIR; default ROOT/backups)")
	fs.StringArrayVar(&o.targets, "target", envList(getenv("ATOCORE_BACKUP_TARGET")), "the off-site `URL` (sftp://user@host:port/path, s3://bucket/prefix?endpoint=URL&region=R or file:///path) or the name of a target of --config; repeat it to sync several (env ATOCORE_BACKUP_TARGET; default: every target of --config)")
	fs.StringVar(&o.configPath, "config", getenv("ATOCORE_BACKUP_CONFIG"), "the atocore-backup configuration `FILE` whose [[target]]s (with their keys), root, backup_dir, policy and metrics_file fill what the flags do not give (env ATOCORE_BACKUP_CONFIG; default: none)")
	fs.StringVar(&o.knownHosts, "known-hosts", getenv("ATOCORE_KNOWN_HOSTS"), "the known_hosts `FILE` with the SFTP server's host key (env ATOCORE_KNOWN_HOSTS; default: ~/.ssh/config's UserKnownHostsFile, else ~/.ssh/known_hosts)")
	fs.StringVar(&o.sshConfig, "ssh-config", getenv("ATOCORE_SSH_CONFIG"), "the OpenSSH client config `FILE` read for the SFTP host, or none (env ATOCORE_SSH_CONFIG; default ~/.ssh/config)")
	fs.StringVar(&o.sshKey, "ssh-key", "", "the SSH private key `FILE` to log in with")
	fs.BoolVar(&o.sshAgent, "ssh-agent", false, "log in with the keys of the SSH agent")
	fs.StringArrayVar(&o.recipients, "recipient", nil, "an age `RECIPIENT` to encrypt for; repeatable")
	fs.StringVar(&o.recipientsFile, "recipients-file", "", "a `FILE` of age recipients")
	fs.StringVar(&o.passphraseFile, "passphrase-file", "", "the passphrase `FILE` (encrypt, and decrypt the newest copy to validate it)")
	fs.StringVar(&o.identity, "age-identity", "", "the age identity `FILE` that decrypts the newest copy to validate it")
	fs.IntVar(&o.daily, "keep-daily", 7, "remote retention: daily snapshots to keep")
	fs.IntVar(&o.weekly, "keep-weekly", 4, "remote retention: weekly snapshots to keep")
	fs.IntVar(&o.monthly, "keep-monthly", 6, "remote retention: monthly snapshots to keep")
	fs.StringVar(&o.signingKey, "signing-key", getenv("ATOCORE_SIGNING_KEY"), "the Ed25519 key `FILE` that signs (env ATOCORE_SIGNING_KEY; default: --ssh-key when Ed25519)")
	fs.StringVar(&o.allowedSigners, "allowed-signers", getenv("ATOCORE_ALLOWED_SIGNERS"), "the allowed_signers `FILE` the newest copy is verified against (default: the signing key)")
	fs.BoolVar(&o.allowUnsigned, "allow-unsigned", envBool(getenv("ATOCORE_ALLOW_UNSIGNED")), "push without signing (env ATOCORE_ALLOW_UNSIGNED=1; not recommended)")
	o.objectLockEnv = getenv("ATOCORE_OBJECT_LOCK_DAYS")
	fs.IntVar(&o.deltaChain, "delta-chain", offsite.DefaultDeltaChain, "encrypted pushes send the database as the pages changed since the previous pushed snapshot, at most `N` times after a whole copy (0: always whole)")
	fs.IntVar(&o.objectLockDays, "object-lock-days", 0, "lock every object pushed for `N` days (S3 Object Lock; s3:// targets whose bucket has it; env ATOCORE_OBJECT_LOCK_DAYS; default: the config file's object_lock_days)")
	fs.StringVar(&o.objectLockMode, "object-lock-mode", getenv("ATOCORE_OBJECT_LOCK_MODE"), "the lock's `MODE`: governance (default) or compliance (env ATOCORE_OBJECT_LOCK_MODE)")
	fs.StringVar(&o.metricsFile, "metrics-file", getenv("ATOCORE_METRICS_FILE"), "write the push's result and the backup directory's metrics to this node_exporter textfile `FILE` (env ATOCORE_METRICS_FILE)")
	cmdline.Setup(root, stdout, stderr)
	root.SetContext(ctx)
	return cmdline.Execute(root, args, stderr)
}

// opts are offsite-sync's flags.
type opts struct {
	targets                                  []string
	configPath                               string
	changed                                  func(name string) bool
	root, backupDir, knownHosts, sshKey      string
	sshConfig                                string
	sshAgent                                 bool
	recipients                               []string
	recipientsFile, passphraseFile, identity string
	daily, weekly, monthly                   int
	signingKey, allowedSigners               string
	allowUnsigned                            bool
	metricsFile                              string
	objectLockDays                           int
	objectLockEnv                            string // ATOCORE_OBJECT_LOCK_DAYS
	objectLockMode                           string
	deltaChain                               int
}

// pickSigner reads the signing key: --signing-key, else the SSH key when
// it is Ed25519; none only when unsigned pushes are allowed.
func pickSigner(signingKey, sshKey string, allowUnsigned bool) (ssh.Signer, error) {
	if signingKey != "" {
		return offsite.SignerFrom(signingKey)
	}
	if sshKey != "" {
		if s, err := offsite.SignerFrom(sshKey); err == nil {
			return s, nil
		}
	}
	if allowUnsigned {
		return nil, nil
	}
	return nil, errors.New("every pushed snapshot is signed: pass --signing-key FILE (an Ed25519 OpenSSH private key without passphrase) or set ATOCORE_SIGNING_KEY; --allow-unsigned pushes without")
}

// envList is ATOCORE_BACKUP_TARGET as the default of --target: one
// target, or none.
func envList(v string) []string {
	if v == "" {
		return nil
	}
	return []string{v}
}

func envBool(v string) bool {
	switch strings.ToLower(v) {
	case "1", "true", "yes":
		return true
	}
	return false
}
