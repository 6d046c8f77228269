package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/atocore/atocore-backup/backup"
	"github.com/atocore/atocore-backup/internal/cmdline"
	"github.com/atocore/atocore-backup/internal/config"
	"github.com/atocore/atocore-backup/internal/metrics"
	"github.com/atocore/atocore-backup/offsite"
	"github.com/atocore/atocore-backup/target"
)

// job is the sync of one target, its settings resolved (the flags, else
// its [[target]] section of --config) and checked.
type job struct {
	name    string // in the config file; "" for a URL
	raw     string // the address target.Open is given
	url     string // the address without secrets
	open    target.Options
	seal    offsite.Sealing
	opening offsite.Opening
	signer  ssh.Signer
	lock    offsite.ObjectLock
	chain   int // offsite.PushOptions.DeltaChain
}

// severalReport is the JSON printed on stdout for several targets (for
// one, the report of that target, as it always was).
type severalReport struct {
	Targets []targetReport `json:"targets"`
	// OK is true when every target's sync succeeded.
	OK bool `json:"ok"`
}

// targetReport is the report of one of several targets: its name in the
// config file ("" for a URL), the report's fields, and its failure.
type targetReport struct {
	Name string `json:"name"`
	*report
	Error string `json:"error,omitempty"`
}

// run is the cron job's work; it returns the exit code. Every target's
// settings are checked before any target is touched: a bad flag or key
// file refuses the whole run (exit 2).
func (o *opts) run(ctx context.Context, stdout, stderr io.Writer) int {
	usage := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "offsite-sync: "+format+"\n", a...)
		return cmdline.ExitUsage
	}
	file, err := o.configFile()
	if err != nil {
		return usage("%v", oneLine(err))
	}
	names := o.targets
	if len(names) == 0 {
		names = file.TargetNames()
	}
	if len(names) == 0 {
		return usage("no target: pass --target or set ATOCORE_BACKUP_TARGET (or --config with a [[target]])")
	}
	policy, err := o.policy(file)
	if err != nil {
		return usage("%v", err)
	}
	var fc config.File
	if file != nil {
		fc = *file
	}
	cfg, err := backup.Config{Paths: backup.Paths{Root: or(o.root, fc.Root), BackupDir: or(o.backupDir, fc.BackupDir)}}.Resolved()
	if err == nil {
		err = cfg.Require(backup.NeedBackup)
	}
	if err != nil {
		return usage("%v", err)
	}
	jobs := make([]job, 0, len(names))
	seen := map[string]bool{}
	for _, n := range names {
		j, err := o.prepare(n, file)
		if err != nil {
			if len(names) > 1 {
				return usage("target %s: %v", label(j.name, n), err)
			}
			return usage("%v", err)
		}
		if !seen[j.url] {
			seen[j.url] = true
			jobs = append(jobs, j)
		}
	}
	for _, j := range jobs {
		if j.signer == nil {
			fmt.Fprintln(stderr, "offsite-sync: WARNING: pushing UNSIGNED snapshots (--allow-unsigned): a restoring machine cannot tell them from forgeries by whoever stores them")
			break
		}
	}
	metricsFile := or(o.metricsFile, fc.MetricsFile)
	if len(jobs) == 1 {
		return o.syncSingle(ctx, cfg, policy, jobs[0], metricsFile, stdout, stderr)
	}
	return o.syncSeveral(ctx, cfg, policy, jobs, metricsFile, stdout, stderr)
}

// syncSingle syncs one target and prints its report.
func (o *opts) syncSingle(ctx context.Context, cfg backup.Config, policy backup.Policy, j job, metricsFile string, stdout, stderr io.Writer) (code int) {
	// Registered before the report's print, so it runs after it and
	// records the final exit code.
	defer func() {
		res := &metrics.Results{}
		res.RecordNamedPush(j.name, j.url, time.Now(), code == 0)
		if err := record(ctx, metricsFile, cfg, res); err != nil {
			fmt.Fprintf(stderr, "offsite-sync: %s\n", oneLine(err))
			if code == 0 {
				code = 1
			}
		}
	}()
	rep, err := syncOne(ctx, cfg, policy, j)
	if rep != nil {
		printJSON(stdout, rep)
	}
	if err != nil {
		fmt.Fprintf(stderr, "offsite-sync: %s\n", oneLine(err))
		return cmdline.ExitFailed
	}
	fmt.Fprintf(stderr, "offsite-sync: %s\n", rep.summary())
	return cmdline.ExitOK
}

// syncSeveral syncs each target in turn; one that fails does not stop the
// others. stderr has a line per target: its summary, or its failure.
func (o *opts) syncSeveral(ctx context.Context, cfg backup.Config, policy backup.Policy, jobs []job, metricsFile string, stdout, stderr io.Writer) int {
	out := severalReport{Targets: make([]targetReport, 0, len(jobs)), OK: true}
	res := &metrics.Results{}
	codes := make([]int, 0, len(jobs))
	for _, j := range jobs {
		var rep *report
		err := ctx.Err()
		if err == nil {
			rep, err = syncOne(ctx, cfg, policy, j)
		} else {
			err = fmt.Errorf("not attempted: %w", err)
		}
		if rep == nil {
			rep = &report{Target: j.url}
		}
		tr := targetReport{Name: j.name, report: rep}
		code := cmdline.ExitOK
		if err != nil {
			tr.Error, code = oneLine(err), cmdline.ExitFailed
			fmt.Fprintf(stderr, "offsite-sync: target %s: %s\n", label(j.name, j.url), tr.Error)
		} else {
			fmt.Fprintf(stderr, "offsite-sync: %s: %s\n", label(j.name, j.url), rep.summary())
		}
		res.RecordNamedPush(j.name, j.url, time.Now(), err == nil)
		out.OK = out.OK && err == nil
		codes = append(codes, code)
		out.Targets = append(out.Targets, tr)
	}
	printJSON(stdout, out)
	if err := record(ctx, metricsFile, cfg, res); err != nil {
		fmt.Fprintf(stderr, "offsite-sync: %s\n", oneLine(err))
		codes = append(codes, cmdline.ExitFailed)
	}
	return cmdline.Combined(codes...)
}

// syncOne pushes to one target, prunes there and validates the newest
// remote copy. The report is nil when the target could not be opened,
// else what was done until the error.
func syncOne(ctx context.Context, cfg backup.Config, policy backup.Policy, j job) (*report, error) {
	t, err := target.Open(ctx, j.raw, j.open)
	if err != nil {
		return nil, err
	}
	defer t.Close()
	rep := &report{Target: t.URL()}
	if rep.Push, err = offsite.Push(ctx, cfg, t, offsite.PushOptions{Sealing: j.seal, Signer: j.signer, ObjectLock: j.lock, DeltaChain: j.chain}); err != nil {
		return rep, err
	}
	if rep.Prune, err = offsite.Prune(ctx, t, backup.PruneOptions{Policy: policy}); err != nil {
		return rep, err
	}
	list, err := offsite.List(ctx, t, j.opening.Trust)
	if err != nil {
		return rep, err
	}
	if len(list) == 0 {
		return rep, errors.New("the target holds no snapshot after the push: create one first (atocore-backup create)")
	}
	rep.Newest = list[len(list)-1].Stamp
	if rep.Validate, err = offsite.Validate(ctx, t, rep.Newest, j.opening); err != nil {
		return rep, err
	}
	if !rep.Validate.Valid {
		return rep, fmt.Errorf("newest remote snapshot %s is invalid: %s", rep.Newest, strings.Join(rep.Validate.Errors, "; "))
	}
	rep.OK = true
	return rep, nil
}

// summary is the one line a successful sync says on stderr.
func (r *report) summary() string {
	return fmt.Sprintf("pushed %d, kept %d and removed %d on %s; newest %s valid",
		len(r.Push.Pushed), len(r.Prune.Kept), len(r.Prune.Removed), r.Target, r.Newest)
}

// prepare resolves the settings of the target n names (a name of the
// config file, or a URL) and checks what needs no connection.
func (o *opts) prepare(n string, file *config.File) (job, error) {
	ft, inFile := file.Target(n)
	j := job{raw: n}
	if inFile {
		j.name, j.raw = ft.Name, ft.URL
	}
	u, err := target.ParseURL(j.raw)
	if err != nil {
		return j, err
	}
	j.url = u.String() // ParseURL refuses passwords: no secret in it
	j.open = target.Options{KnownHostsFile: or(o.knownHosts, ft.KnownHosts), KeyFile: or(o.sshKey, ft.SSHKey),
		UseAgent: o.sshAgent || ft.SSHAgent, SSHConfigFile: or(o.sshConfig, ft.SSHConfig), Create: true}
	recipients := o.recipients
	if len(recipients) == 0 {
		recipients = ft.Recipients
	}
	passphrase := or(o.passphraseFile, ft.PassphraseFile)
	if j.seal, err = offsite.SealingFrom(recipients, or(o.recipientsFile, ft.RecipientsFile), passphrase); err != nil {
		return j, err
	}
	if j.opening, err = offsite.OpeningFrom(or(o.identity, ft.AgeIdentity), passphrase); err != nil {
		return j, err
	}
	if j.signer, err = pickSigner(or(o.signingKey, ft.SigningKey), j.open.KeyFile, o.allowUnsigned); err != nil {
		return j, err
	}
	if j.opening.Trust, err = offsite.TrustFrom(or(o.allowedSigners, ft.AllowedSigners), o.allowUnsigned, false); err != nil {
		return j, fmt.Errorf("--allowed-signers: %w", err)
	}
	if j.opening.Trust.Signers == nil && j.signer != nil {
		j.opening.Trust.Signers = offsite.TrustKey("this host", j.signer.PublicKey()).Signers
	}
	j.lock = offsite.ObjectLock{Days: o.objectLockDays, Mode: or(o.objectLockMode, ft.ObjectLockMode)}
	switch j.chain = o.deltaChain; {
	case j.chain < 0:
		return j, fmt.Errorf("--delta-chain %d: give the number of page deltas that may follow a whole copy of the database (0: always whole)", j.chain)
	case j.chain == 0:
		j.chain = -1 // 0 in the options is the library's default: "always whole" is negative
	}
	if (o.changed == nil || !o.changed("object-lock-days")) && o.objectLockEnv != "" {
		if j.lock.Days, err = strconv.Atoi(o.objectLockEnv); err != nil {
			return j, fmt.Errorf("ATOCORE_OBJECT_LOCK_DAYS=%q is not a number of days; use e.g. 30", o.objectLockEnv)
		}
	}
	if j.lock.Days == 0 {
		j.lock.Days = ft.ObjectLockDays
	}
	switch {
	case j.lock.Days < 0:
		return j, fmt.Errorf("--object-lock-days %d: give a number of days, 1 or more (0 locks nothing)", j.lock.Days)
	case j.lock.Mode != "" && j.lock.Mode != offsite.LockGovernance && j.lock.Mode != offsite.LockCompliance:
		return j, fmt.Errorf("--object-lock-mode %q: use governance or compliance", j.lock.Mode)
	}
	return j, nil
}

// configFile reads --config (or ATOCORE_BACKUP_CONFIG); nil without one.
// Unlike atocore-backup, offsite-sync reads no file it was not given.
func (o *opts) configFile() (*config.File, error) {
	if o.configPath == "" {
		return nil, nil
	}
	f, err := config.Read(o.configPath)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("config file %s (--config or ATOCORE_BACKUP_CONFIG) does not exist; check the path", o.configPath)
	}
	return f, err
}

// policy is the remote retention: the flags given, else the config
// file's [policy], else the flags' defaults.
func (o *opts) policy(file *config.File) (backup.Policy, error) {
	p := backup.Policy{KeepDaily: o.daily, KeepWeekly: o.weekly, KeepMonthly: o.monthly}
	if file != nil {
		for _, k := range []struct {
			flag string
			v    *int
			file *int
		}{{"keep-daily", &p.KeepDaily, file.Policy.KeepDaily}, {"keep-weekly", &p.KeepWeekly, file.Policy.KeepWeekly}, {"keep-monthly", &p.KeepMonthly, file.Policy.KeepMonthly}} {
			if k.file != nil && (o.changed == nil || !o.changed(k.flag)) {
				*k.v = *k.file
			}
		}
		if file.Policy.TZ != "" {
			loc, err := time.LoadLocation(file.Policy.TZ)
			if err != nil {
				return p, fmt.Errorf("config file %s: policy.tz %q is not a time zone; use a name such as Europe/Paris or UTC", file.Path, file.Policy.TZ)
			}
			p.Location = loc
		}
	}
	if err := p.Validate(); err != nil {
		return p, fmt.Errorf("--%v", err)
	}
	return p, nil
}

// record saves the push outcomes in the backup directory (for the admin
// server's /metrics) and writes the metrics file, when there is one.
func record(ctx context.Context, metricsFile string, cfg backup.Config, res *metrics.Results) error {
	if err := metrics.SavePushes(cfg, res); err != nil {
		return err
	}
	if metricsFile == "" {
		return nil
	}
	return metrics.WriteTextfile(context.WithoutCancel(ctx), metricsFile, cfg, res)
}

func printJSON(w io.Writer, v any) {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// label names a target in a message: its config name and URL, or the URL.
func label(name, url string) string {
	if name == "" {
		return url
	}
	return fmt.Sprintf("%s (%s)", name, url)
}

// or is a, else b.
func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func oneLine(err error) string { return strings.ReplaceAll(err.Error(), "\n", " ") }
