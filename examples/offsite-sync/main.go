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
// Exit codes: 0 ok, 1 failed (push, prune or validation), 2 bad flags.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/crypto/ssh"

	"github.com/atocore/atocore-backup/backup"
	"github.com/atocore/atocore-backup/internal/cmdline"
	"github.com/atocore/atocore-backup/internal/metrics"
	"github.com/atocore/atocore-backup/offsite"
	"github.com/atocore/atocore-backup/target"
	"github.com/atocore/atocore-backup/validate"
)

func main() {
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
stdout. Exit codes: 0 ok, 1 failed (push, prune or validation), 2 bad flags.`,
		Example: `  offsite-sync --root /srv/storage/atocore \
      --target sftp://backup@offsite.example:22/srv/atocore-offsite \
      --known-hosts /etc/atocore/known_hosts --ssh-key /etc/atocore/id_ed25519 \
      --recipients-file /etc/atocore/backup-recipients.txt`,
		Args: cmdline.Args(),
		RunE: func(c *cobra.Command, _ []string) error {
			return cmdline.Code(o.sync(c.Context(), stdout, stderr))
		},
	}
	fs := root.Flags()
	fs.StringVar(&o.root, "root", getenv("ATOCORE_ROOT"), "the AtoCore root `DIR` (env ATOCORE_ROOT)")
	fs.StringVar(&o.backupDir, "backup-dir", getenv("ATOCORE_BACKUP_DIR"), "the backup `DIR` (env ATOCORE_BACKUP_DIR; default ROOT/backups)")
	fs.StringVar(&o.target, "target", getenv("ATOCORE_BACKUP_TARGET"), "the off-site `URL`: sftp://user@host:port/path or file:///path (env ATOCORE_BACKUP_TARGET)")
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
	fs.StringVar(&o.metricsFile, "metrics-file", getenv("ATOCORE_METRICS_FILE"), "write the push's result and the backup directory's metrics to this node_exporter textfile `FILE` (env ATOCORE_METRICS_FILE)")
	cmdline.Setup(root, stdout, stderr)
	root.SetContext(ctx)
	return cmdline.Execute(root, args, stderr)
}

// opts are offsite-sync's flags.
type opts struct {
	root, backupDir, target, knownHosts, sshKey string
	sshConfig                                   string
	sshAgent                                    bool
	recipients                                  []string
	recipientsFile, passphraseFile, identity    string
	daily, weekly, monthly                      int
	signingKey, allowedSigners                  string
	allowUnsigned                               bool
	metricsFile                                 string
}

// sync is the cron job's work; it returns the exit code.
func (o *opts) sync(ctx context.Context, stdout, stderr io.Writer) (code int) {
	usage := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "offsite-sync: "+format+"\n", a...)
		return cmdline.ExitUsage
	}
	failed := func(err error) int {
		fmt.Fprintf(stderr, "offsite-sync: %s\n", strings.ReplaceAll(err.Error(), "\n", " "))
		return 1
	}
	if o.target == "" {
		return usage("no target: pass --target or set ATOCORE_BACKUP_TARGET")
	}
	policy := backup.Policy{KeepDaily: o.daily, KeepWeekly: o.weekly, KeepMonthly: o.monthly}
	if err := policy.Validate(); err != nil {
		return usage("--%v", err)
	}
	cfg, err := backup.Config{Paths: backup.Paths{Root: o.root, BackupDir: o.backupDir}}.Resolved()
	if err == nil {
		err = cfg.Require(backup.NeedBackup)
	}
	if err != nil {
		return usage("%v", err)
	}
	seal, err := offsite.SealingFrom(o.recipients, o.recipientsFile, o.passphraseFile)
	if err != nil {
		return usage("%v", err)
	}
	open, err := offsite.OpeningFrom(o.identity, o.passphraseFile)
	if err != nil {
		return usage("%v", err)
	}
	signer, err := pickSigner(o.signingKey, o.sshKey, o.allowUnsigned)
	if err != nil {
		return usage("%v", err)
	}
	if signer == nil {
		fmt.Fprintln(stderr, "offsite-sync: WARNING: pushing UNSIGNED snapshots (--allow-unsigned): a restoring machine cannot tell them from forgeries by whoever stores them")
	}
	if open.Trust, err = offsite.TrustFrom(o.allowedSigners, o.allowUnsigned, false); err != nil {
		return usage("--allowed-signers: %v", err)
	}
	if open.Trust.Signers == nil && signer != nil {
		open.Trust.Signers = offsite.TrustKey("this host", signer.PublicKey()).Signers
	}
	targetURL := ""
	if u, err := target.ParseURL(o.target); err == nil {
		targetURL = u.String() // ParseURL refuses passwords: no secret in it
	}
	if o.metricsFile != "" && targetURL != "" {
		// Registered before the report's print, so it runs after it and
		// records the final exit code.
		defer func() {
			res := &metrics.Results{}
			res.RecordPush(targetURL, time.Now(), code == 0)
			if err := metrics.WriteTextfile(context.WithoutCancel(ctx), o.metricsFile, cfg, res); err != nil {
				fmt.Fprintf(stderr, "offsite-sync: %s\n", strings.ReplaceAll(err.Error(), "\n", " "))
				if code == 0 {
					code = 1
				}
			}
		}()
	}
	t, err := target.Open(ctx, o.target, target.Options{KnownHostsFile: o.knownHosts, KeyFile: o.sshKey, UseAgent: o.sshAgent, SSHConfigFile: o.sshConfig, Create: true})
	if err != nil {
		return failed(err)
	}
	defer t.Close()
	rep := &report{Target: t.URL()}
	defer func() {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(rep)
	}()
	if rep.Push, err = offsite.Push(ctx, cfg, t, offsite.PushOptions{Sealing: seal, Signer: signer}); err != nil {
		return failed(err)
	}
	if rep.Prune, err = offsite.Prune(ctx, t, backup.PruneOptions{Policy: policy}); err != nil {
		return failed(err)
	}
	list, err := offsite.List(ctx, t, open.Trust)
	if err != nil {
		return failed(err)
	}
	if len(list) == 0 {
		return failed(errors.New("the target holds no snapshot after the push: create one first (atocore-backup create)"))
	}
	rep.Newest = list[len(list)-1].Stamp
	if rep.Validate, err = offsite.Validate(ctx, t, rep.Newest, open); err != nil {
		return failed(err)
	}
	if !rep.Validate.Valid {
		return failed(fmt.Errorf("newest remote snapshot %s is invalid: %s", rep.Newest, strings.Join(rep.Validate.Errors, "; ")))
	}
	rep.OK = true
	fmt.Fprintf(stderr, "offsite-sync: pushed %d, kept %d and removed %d on %s; newest %s valid\n",
		len(rep.Push.Pushed), len(rep.Prune.Kept), len(rep.Prune.Removed), t.URL(), rep.Newest)
	return 0
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

func envBool(v string) bool {
	switch strings.ToLower(v) {
	case "1", "true", "yes":
		return true
	}
	return false
}
