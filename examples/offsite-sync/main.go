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
// With --metrics-file FILE it records the outcome of the run as the last
// push to the target (atocore_backup_last_push_success: 1 only when push,
// remote prune and validation all succeeded) in a node_exporter textfile,
// keeping the lines other commands wrote there (docs/monitoring.md).
//
// Exit codes: 0 ok, 1 failed (push, prune or validation, or the metrics
// file could not be written), 2 bad flags.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/atocore/atocore-backup/backup"
	"github.com/atocore/atocore-backup/internal/metrics"
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
	Push     *target.PushResult  `json:"push"`
	Prune    *backup.PruneResult `json:"prune"`
	Newest   string              `json:"newest_remote"`
	Validate *validate.Result    `json:"validate"`
	OK       bool                `json:"ok"`
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) (code int) {
	fs := flag.NewFlagSet("offsite-sync", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	root := fs.String("root", getenv("ATOCORE_ROOT"), "")
	backupDir := fs.String("backup-dir", getenv("ATOCORE_BACKUP_DIR"), "")
	tgt := fs.String("target", getenv("ATOCORE_BACKUP_TARGET"), "")
	knownHosts := fs.String("known-hosts", "", "")
	sshKey := fs.String("ssh-key", "", "")
	sshAgent := fs.Bool("ssh-agent", false, "")
	var recipients []string
	fs.Func("recipient", "", func(s string) error { recipients = append(recipients, s); return nil })
	recipientsFile := fs.String("recipients-file", "", "")
	passphraseFile := fs.String("passphrase-file", "", "")
	identity := fs.String("age-identity", "", "")
	daily := fs.Int("keep-daily", 7, "")
	weekly := fs.Int("keep-weekly", 4, "")
	monthly := fs.Int("keep-monthly", 6, "")
	signingKey := fs.String("signing-key", getenv("ATOCORE_SIGNING_KEY"), "")
	allowedSigners := fs.String("allowed-signers", getenv("ATOCORE_ALLOWED_SIGNERS"), "")
	allowUnsigned := fs.Bool("allow-unsigned", envBool(getenv("ATOCORE_ALLOW_UNSIGNED")), "")
	metricsFile := fs.String("metrics-file", "", "")
	usage := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "offsite-sync: "+format+"\n", a...)
		return 2
	}
	failed := func(err error) int {
		fmt.Fprintf(stderr, "offsite-sync: %s\n", strings.ReplaceAll(err.Error(), "\n", " "))
		return 1
	}
	if err := fs.Parse(args); err != nil {
		return usage("%v (flags: --root --backup-dir --target --known-hosts --ssh-key --ssh-agent --recipient --recipients-file --passphrase-file --age-identity --keep-daily/weekly/monthly --signing-key --allowed-signers --allow-unsigned --metrics-file)", err)
	}
	if fs.NArg() != 0 {
		return usage("unexpected arguments %q", fs.Args())
	}
	if *tgt == "" {
		return usage("no target: pass --target or set ATOCORE_BACKUP_TARGET")
	}
	policy := backup.Policy{KeepDaily: *daily, KeepWeekly: *weekly, KeepMonthly: *monthly}
	if err := policy.Validate(); err != nil {
		return usage("--%v", err)
	}
	cfg, err := backup.Config{Paths: backup.Paths{Root: *root, BackupDir: *backupDir}}.Resolved()
	if err == nil {
		err = cfg.Require(backup.NeedBackup)
	}
	if err != nil {
		return usage("%v", err)
	}
	seal, err := target.SealingFrom(recipients, *recipientsFile, *passphraseFile)
	if err != nil {
		return usage("%v", err)
	}
	open, err := target.OpeningFrom(*identity, *passphraseFile)
	if err != nil {
		return usage("%v", err)
	}
	signer, err := pickSigner(*signingKey, *sshKey, *allowUnsigned)
	if err != nil {
		return usage("%v", err)
	}
	if signer == nil {
		fmt.Fprintln(stderr, "offsite-sync: WARNING: pushing UNSIGNED snapshots (--allow-unsigned): a restoring machine cannot tell them from forgeries by whoever stores them")
	}
	if open.Trust, err = target.TrustFrom(*allowedSigners, *allowUnsigned, false); err != nil {
		return usage("--allowed-signers: %v", err)
	}
	if open.Trust.Signers == nil && signer != nil {
		open.Trust.Signers = target.TrustKey("this host", signer.PublicKey()).Signers
	}
	targetURL := ""
	if u, err := target.ParseURL(*tgt); err == nil {
		targetURL = u.String() // ParseURL refuses passwords: no secret in it
	}
	if *metricsFile != "" && targetURL != "" {
		// Registered before the report's print, so it runs after it and
		// records the final exit code.
		defer func() {
			res := &metrics.Results{}
			res.RecordPush(targetURL, time.Now(), code == 0)
			if err := metrics.WriteTextfile(context.WithoutCancel(ctx), *metricsFile, cfg, res); err != nil {
				fmt.Fprintf(stderr, "offsite-sync: %s\n", strings.ReplaceAll(err.Error(), "\n", " "))
				if code == 0 {
					code = 1
				}
			}
		}()
	}
	t, err := target.Open(ctx, *tgt, target.Options{KnownHostsFile: *knownHosts, KeyFile: *sshKey, UseAgent: *sshAgent, Create: true})
	if err != nil {
		return failed(err)
	}
	defer t.Close()
	targetURL = t.URL()
	rep := &report{Target: t.URL()}
	defer func() {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(rep)
	}()
	if rep.Push, err = target.Push(ctx, cfg, t, target.PushOptions{Sealing: seal, Signer: signer}); err != nil {
		return failed(err)
	}
	if rep.Prune, err = target.RemotePrune(ctx, t, backup.PruneOptions{Policy: policy}); err != nil {
		return failed(err)
	}
	list, err := target.RemoteList(ctx, t, open.Trust)
	if err != nil {
		return failed(err)
	}
	if len(list) == 0 {
		return failed(errors.New("the target holds no snapshot after the push: create one first (atocore-backup create)"))
	}
	rep.Newest = list[len(list)-1].Stamp
	if rep.Validate, err = target.RemoteValidate(ctx, t, rep.Newest, open); err != nil {
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
		return target.SignerFrom(signingKey)
	}
	if sshKey != "" {
		if s, err := target.SignerFrom(sshKey); err == nil {
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
