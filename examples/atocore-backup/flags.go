package main

import (
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/atocore/atocore-backup/backup"
	"github.com/atocore/atocore-backup/internal/config"
)

// flags holds the values of every command's flags; each command registers
// the ones it takes (cobra refuses the others).
type flags struct {
	command string
	args    []string

	root, dbPath, registryPath, chromaPath, backupDir string
	configPath                                        string
	verbose, json                                     bool

	includeChroma, wait, prune bool
	waitLimit                  time.Duration
	kind                       string

	confirm, noPreSnapshot, noChroma, chroma bool

	keepDaily, keepWeekly, keepMonthly int
	dryRun, pruneInvalid, quick        bool
	tz                                 string

	dir string

	fromTarget bool
	scratchDir string

	target, knownHosts, sshKey, sshConfig       string
	targets                                     []string // push: each --target
	targetName                                  string   // the config file's name of target, if it has one
	metricsFile                                 string
	sshAgent                                    bool
	recipients                                  []string
	recipientsFile, passphraseFile, ageIdentity string

	signingKey, allowedSigners   string
	objectLockDays               int
	objectLockMode               string
	allowUnsigned, allowRollback bool
	allowOtherTarget             bool
	verify                       bool
	deltaChain                   int

	interval, snapshotEvery time.Duration // replicate
	at                      string        // restore --at
	replication             bool          // list --replication
}

// addPathFlags registers the paths every command but demo reads (on the
// root, so that they may come before the command).
func (f *flags) addPathFlags(fs *pflag.FlagSet) {
	fs.StringVar(&f.root, "root", "", "the AtoCore root `DIR` (env ATOCORE_ROOT)")
	fs.StringVar(&f.dbPath, "db-path", "", "the live SQLite database `FILE` (env ATOCORE_DB_PATH; default ROOT/data/db/atocore.db)")
	fs.StringVar(&f.registryPath, "registry-path", "", "the project registry `FILE` (env ATOCORE_REGISTRY_PATH; default ROOT/config/project-registry.json)")
	fs.StringVar(&f.chromaPath, "chroma-path", "", "the Chroma `DIR` (env ATOCORE_CHROMA_PATH; default ROOT/data/chroma)")
	fs.StringVar(&f.backupDir, "backup-dir", "", "the backup `DIR` (env ATOCORE_BACKUP_DIR; default ROOT/backups)")
	fs.StringVar(&f.configPath, "config", "", "the configuration `FILE` (env ATOCORE_BACKUP_CONFIG; default "+config.DefaultPath+" when it exists)")
	fs.BoolVarP(&f.verbose, "verbose", "v", false, "log each step with its duration on stderr")
	fs.StringVar(&f.metricsFile, "metrics-file", "", "after the command, write the backup directory's metrics and this run's result to this node_exporter textfile `FILE` (env ATOCORE_METRICS_FILE; config metrics_file)")
	fs.BoolVar(&f.json, "json", false, "print the result as JSON on stdout, also on a terminal (it is JSON anyway when stdout is not a terminal)")
}

func (f *flags) addWait(fs *pflag.FlagSet) {
	fs.Var(&waitValue{f}, "wait", "when another run holds the backup directory's lock, say who and wait for it (--wait), or up to DURATION (--wait=10m), instead of failing at once; giving up is exit 11")
	fs.Lookup("wait").NoOptDefVal = "forever"
}

// waitValue is --wait[=DURATION]: "forever" (the flag alone) or a
// duration such as 90s or 10m.
type waitValue struct{ f *flags }

func (w *waitValue) String() string {
	switch {
	case w.f == nil || !w.f.wait:
		return ""
	case w.f.waitLimit == 0:
		return "forever"
	}
	return w.f.waitLimit.String()
}

func (w *waitValue) Set(s string) error {
	if s == "forever" || s == "true" {
		w.f.wait, w.f.waitLimit = true, 0
		return nil
	}
	if s == "false" {
		w.f.wait, w.f.waitLimit = false, 0
		return nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return fmt.Errorf("give a duration such as 90s or 10m, or --wait alone to wait as long as it takes")
	}
	w.f.wait, w.f.waitLimit = true, d
	return nil
}

func (w *waitValue) Type() string { return "DURATION" }

// waiting is the Waiting hook of a command with --wait: it says on stderr
// who holds the lock, once, when the wait begins.
func (a *app) waiting(busy error) {
	limit := "until it is free"
	if a.f.waitLimit > 0 {
		limit = "for up to " + a.f.waitLimit.String()
	}
	a.say("waiting %s: %s", limit, strings.TrimSuffix(busy.Error(), "; try again when it finishes"))
}

func (f *flags) addConfirm(fs *pflag.FlagSet) {
	fs.BoolVar(&f.confirm, "confirm-service-stopped", false, "confirm that the AtoCore service is stopped (required: the live files are replaced)")
}

// addPolicyFlags registers the retention policy.
func (f *flags) addPolicyFlags(fs *pflag.FlagSet) {
	fs.IntVar(&f.keepDaily, "keep-daily", 7, "keep the newest valid snapshot of each of the last `N` days that have one")
	fs.IntVar(&f.keepWeekly, "keep-weekly", 4, "keep the oldest valid snapshot of each of the last `N` weeks (Sunday to Saturday) that have one")
	fs.IntVar(&f.keepMonthly, "keep-monthly", 6, "keep the oldest valid snapshot of each of the last `N` months (calendar months) that have one")
	fs.StringVar(&f.tz, "tz", "", "the time `ZONE` whose days, weeks and months the policy counts (default UTC)")
}

func (f *flags) addPruneFlags(fs *pflag.FlagSet) {
	fs.BoolVar(&f.pruneInvalid, "prune-invalid", false, "also remove snapshots that fail validation (default: keep them for inspection)")
	fs.BoolVar(&f.quick, "quick", false, "judge validity by structure and sizes only, not by every digest and integrity_check")
}

// addTargetFlags registers the one off-site target a command works on and
// how it is reached.
func (f *flags) addTargetFlags(fs *pflag.FlagSet) {
	fs.StringVar(&f.target, "target", "", "the off-site `URL` (sftp://user@host:port/path, s3://bucket/prefix?endpoint=URL&region=R or file:///path) or the name of a target of the config file (env ATOCORE_BACKUP_TARGET)")
	f.addReachFlags(fs)
}

// addTargetsFlags is addTargetFlags for push, which goes to each target
// named (--target repeated), or to every target of the config file.
func (f *flags) addTargetsFlags(fs *pflag.FlagSet) {
	fs.StringArrayVar(&f.targets, "target", nil, "the off-site `URL` (sftp://user@host:port/path, s3://bucket/prefix?endpoint=URL&region=R or file:///path) or the name of a target of the config file; repeat it to push to several (env ATOCORE_BACKUP_TARGET; default: every target of the config file)")
	f.addReachFlags(fs)
}

// addReachFlags registers how an SFTP target is reached.
func (f *flags) addReachFlags(fs *pflag.FlagSet) {
	fs.StringVar(&f.knownHosts, "known-hosts", "", "the known_hosts `FILE` that holds the SFTP server's host key (env ATOCORE_KNOWN_HOSTS; default: ~/.ssh/config's UserKnownHostsFile, else ~/.ssh/known_hosts)")
	fs.StringVar(&f.sshConfig, "ssh-config", "", "the OpenSSH client config `FILE` read for the SFTP host (Host aliases, HostName, User, Port, IdentityFile, ProxyJump), or none (env ATOCORE_SSH_CONFIG; default ~/.ssh/config)")
	fs.StringVar(&f.sshKey, "ssh-key", "", "the SSH private key `FILE` to log in with (env ATOCORE_SSH_KEY)")
	fs.BoolVar(&f.sshAgent, "ssh-agent", false, "log in with the keys of the SSH agent at SSH_AUTH_SOCK (env ATOCORE_SSH_AGENT=1)")
}

// addTrustFlags registers what a reader of a target believes.
func (f *flags) addTrustFlags(fs *pflag.FlagSet) {
	fs.StringVar(&f.allowedSigners, "allowed-signers", "", "the OpenSSH allowed_signers `FILE` of the keys trusted to have pushed (env ATOCORE_ALLOWED_SIGNERS)")
	fs.BoolVar(&f.allowUnsigned, "allow-unsigned", false, "accept snapshots without a verified statement (env ATOCORE_ALLOW_UNSIGNED=1; not recommended)")
	fs.BoolVar(&f.allowRollback, "allow-rollback", false, "accept a sequence number lower than the newest this machine verified (env ATOCORE_ALLOW_ROLLBACK=1)")
	fs.BoolVar(&f.allowOtherTarget, "allow-other-target", false, "accept statements that name another target, a copy of it (env ATOCORE_ALLOW_OTHER_TARGET=1)")
}

// addOpeningFlags registers the keys that decrypt a pulled snapshot.
func (f *flags) addOpeningFlags(fs *pflag.FlagSet) {
	fs.StringVar(&f.ageIdentity, "age-identity", "", "the age identity `FILE` that decrypts the snapshots (env ATOCORE_AGE_IDENTITY)")
	fs.StringVar(&f.passphraseFile, "passphrase-file", "", "the `FILE` whose first line is the passphrase of passphrase-encrypted snapshots (env ATOCORE_PASSPHRASE_FILE)")
}

// config builds the backup configuration: flag, else environment, else
// root, and records where each path came from for error messages.
func (a *app) config() (backup.Config, error) {
	file, err := a.configFile()
	if err != nil {
		return backup.Config{}, err
	}
	var fc config.File
	if file != nil {
		fc = *file
	}
	pick := func(what, flagVal, name, env, fileVal, key string) string {
		var v, src string
		switch {
		case flagVal != "":
			v, src = flagVal, "--"+name
		case a.getenv(env) != "":
			v, src = a.getenv(env), "the environment ("+env+")"
		case fileVal != "":
			v, src = fileVal, fileSource(file, key)
		default:
			src = "the default under the AtoCore root"
		}
		a.sources[what] = src
		a.record(key, v, src)
		return v
	}
	p := backup.Paths{
		Root:         pick(backup.WhatRoot, a.f.root, "root", "ATOCORE_ROOT", fc.Root, "root"),
		DBPath:       pick(backup.WhatDB, a.f.dbPath, "db-path", "ATOCORE_DB_PATH", fc.DBPath, "db_path"),
		RegistryPath: pick(backup.WhatRegistry, a.f.registryPath, "registry-path", "ATOCORE_REGISTRY_PATH", fc.RegistryPath, "registry_path"),
		ChromaPath:   pick(backup.WhatChroma, a.f.chromaPath, "chroma-path", "ATOCORE_CHROMA_PATH", fc.ChromaPath, "chroma_path"),
		BackupDir:    pick(backup.WhatBackupDir, a.f.backupDir, "backup-dir", "ATOCORE_BACKUP_DIR", fc.BackupDir, "backup_dir"),
	}
	cfg := backup.Config{Paths: p}
	if a.f.verbose {
		cfg.Logger = slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return cfg.Resolved()
}

// policy is the retention policy of the policy flags.
func (a *app) policy() (backup.Policy, error) {
	file, err := a.configFile()
	if err != nil {
		return backup.Policy{}, err
	}
	var fp config.Policy
	if file != nil {
		fp = file.Policy
	}
	num := func(flag string, v *int, fileVal *int, key string) {
		switch {
		case a.changed(flag):
			a.record(key, strconv.Itoa(*v), "--"+flag)
		case fileVal != nil:
			*v = *fileVal
			a.record(key, strconv.Itoa(*v), fileSource(file, key))
		default:
			a.record(key, strconv.Itoa(*v), "the default")
		}
	}
	num("keep-daily", &a.f.keepDaily, fp.KeepDaily, "policy.keep_daily")
	num("keep-weekly", &a.f.keepWeekly, fp.KeepWeekly, "policy.keep_weekly")
	num("keep-monthly", &a.f.keepMonthly, fp.KeepMonthly, "policy.keep_monthly")
	switch {
	case a.changed("tz"):
		a.record("policy.tz", a.f.tz, "--tz")
	case fp.TZ != "":
		a.f.tz = fp.TZ
		a.record("policy.tz", a.f.tz, fileSource(file, "policy.tz"))
	default:
		a.record("policy.tz", "UTC", "the default")
	}
	p := backup.Policy{KeepDaily: a.f.keepDaily, KeepWeekly: a.f.keepWeekly, KeepMonthly: a.f.keepMonthly, Location: time.UTC}
	if a.f.tz != "" {
		loc, err := time.LoadLocation(a.f.tz)
		if err != nil {
			return p, fmt.Errorf("--tz %q is not a time zone; use a name such as Europe/Paris or UTC", a.f.tz)
		}
		p.Location = loc
	}
	if err := p.Validate(); err != nil {
		return p, fmt.Errorf("--%s", err)
	}
	return p, nil
}
