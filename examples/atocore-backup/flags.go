package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"

	"github.com/atocore/atocore-backup/backup"
)

var errHelp = errors.New("help requested")

const usageText = `atocore-backup: back up, validate and restore AtoCore's runtime state.

Usage: atocore-backup <command> [flags]   (flags may come before or after the command)

Commands:
  create [--include-chroma] [--kind K] [--wait] [--prune ...]   take a validated snapshot
  list                                                           list snapshots, oldest first
  validate STAMP                                                 check one snapshot
  restore STAMP --confirm-service-stopped [--no-pre-snapshot] [--no-chroma | --chroma]
  prune [--keep-daily N] [--keep-weekly N] [--keep-monthly N] [--dry-run] [--prune-invalid] [--tz ZONE] [--quick]
        (a snapshot is valid when it passes every check of validate; --quick checks structure and sizes only)
  drill --confirm-service-stopped [--wait]                      the live restore drill, logged to drills.jsonl
  drills                                                         print the drill log
  demo [--dir DIR]                                               walk the whole procedure on sample data

Off-site (--target sftp://user@host:port/path | file:///path, or ATOCORE_BACKUP_TARGET;
SFTP needs --known-hosts FILE and --ssh-key FILE or --ssh-agent):
  push [--recipient age1...|ssh-ed25519... ]... [--recipients-file F] [--passphrase-file F]
       [--signing-key F | --allow-unsigned]                   each snapshot's statement is signed (Ed25519 SSH key;
                                                               default: the SFTP --ssh-key when it is Ed25519)
       [--verify]                                             read back every byte already on the target and
                                                               re-send snapshots that differ from their statements
       [--allowed-signers F]                                  keys whose statements are this host's too (the old
                                                               key after a rotation): their snapshots are not re-sent
  pull STAMP [--age-identity F] [--passphrase-file F] --allowed-signers F [--allow-unsigned] [--allow-rollback]
       [--allow-other-target]                                 accept statements that name another target (a copy)
                                                                 fetch, verify, decrypt, validate into the backup directory
  remote list | remote validate STAMP [--age-identity F] | remote prune [policy flags] [--dry-run]
       (list and validate take --allowed-signers F [--allow-unsigned] [--allow-other-target] [--allow-rollback];
        they check the sequence against, and record it in, this machine's memory)
  Environment: ATOCORE_SIGNING_KEY, ATOCORE_ALLOWED_SIGNERS, ATOCORE_ALLOW_UNSIGNED=1, ATOCORE_ALLOW_ROLLBACK=1,
       ATOCORE_ALLOW_OTHER_TARGET=1

Paths (flag, else environment, else under the AtoCore root):
  --root DIR            ATOCORE_ROOT
  --db-path FILE        ATOCORE_DB_PATH        default ROOT/data/db/atocore.db
  --registry-path FILE  ATOCORE_REGISTRY_PATH  default ROOT/config/project-registry.json
  --chroma-path DIR     ATOCORE_CHROMA_PATH    default ROOT/data/chroma
  --backup-dir DIR      ATOCORE_BACKUP_DIR     default ROOT/backups

-v / --verbose logs each step with its duration on stderr.
JSON goes to stdout, progress to stderr. Exit: 0 ok, 1 failed, 2 usage error or refusal,
10 not found (root, database, backup directory, target, stamp), 11 busy, 12 wrong key, 130 interrupted.
`

// flags holds every flag of every command; parseFlags checks that each
// one given applies to the command.
type flags struct {
	command string
	args    []string
	set     map[string]bool

	root, dbPath, registryPath, chromaPath, backupDir string

	includeChroma, wait, prune bool
	kind                       string

	confirm, noPreSnapshot, noChroma, chroma bool

	keepDaily, keepWeekly, keepMonthly int
	dryRun, pruneInvalid, quick        bool
	tz                                 string

	dir     string
	verbose bool

	target, knownHosts, sshKey                  string
	sshAgent                                    bool
	recipients                                  []string
	recipientsFile, passphraseFile, ageIdentity string

	signingKey, allowedSigners   string
	allowUnsigned, allowRollback bool
	allowOtherTarget             bool
	verify                       bool
}

var pathFlags = []string{"root", "db-path", "registry-path", "chroma-path", "backup-dir"}
var targetFlags = []string{"target", "known-hosts", "ssh-key", "ssh-agent"}
var policyFlags = []string{"keep-daily", "keep-weekly", "keep-monthly", "tz"}

// allowed lists, per command, the flags beyond the path flags.
var allowed = map[string][]string{
	"create":   append([]string{"include-chroma", "kind", "wait", "prune", "prune-invalid", "quick"}, policyFlags...),
	"list":     {},
	"validate": {},
	"restore":  {"confirm-service-stopped", "no-pre-snapshot", "no-chroma", "chroma", "wait"},
	"prune":    append([]string{"dry-run", "prune-invalid", "wait", "quick"}, policyFlags...),
	"demo":     {"dir"},
	"drill":    {"confirm-service-stopped", "wait"},
	"drills":   {},
	"push":     append([]string{"recipient", "recipients-file", "passphrase-file", "signing-key", "allow-unsigned", "verify", "allowed-signers"}, targetFlags...),
	"pull":     append([]string{"age-identity", "passphrase-file", "allowed-signers", "allow-unsigned", "allow-rollback", "allow-other-target"}, targetFlags...),
	"remote":   append(append([]string{"age-identity", "passphrase-file", "dry-run", "prune-invalid", "allowed-signers", "allow-unsigned", "allow-other-target", "allow-rollback"}, policyFlags...), targetFlags...),
}

func newFlagSet(f *flags, out io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("atocore-backup", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&f.root, "root", "", "")
	fs.StringVar(&f.dbPath, "db-path", "", "")
	fs.StringVar(&f.registryPath, "registry-path", "", "")
	fs.StringVar(&f.chromaPath, "chroma-path", "", "")
	fs.StringVar(&f.backupDir, "backup-dir", "", "")
	fs.BoolVar(&f.includeChroma, "include-chroma", false, "")
	fs.StringVar(&f.kind, "kind", backup.KindManual, "")
	fs.BoolVar(&f.wait, "wait", false, "")
	fs.BoolVar(&f.prune, "prune", false, "")
	fs.BoolVar(&f.confirm, "confirm-service-stopped", false, "")
	fs.BoolVar(&f.noPreSnapshot, "no-pre-snapshot", false, "")
	fs.BoolVar(&f.noChroma, "no-chroma", false, "")
	fs.BoolVar(&f.chroma, "chroma", false, "")
	fs.IntVar(&f.keepDaily, "keep-daily", 7, "")
	fs.IntVar(&f.keepWeekly, "keep-weekly", 4, "")
	fs.IntVar(&f.keepMonthly, "keep-monthly", 6, "")
	fs.BoolVar(&f.dryRun, "dry-run", false, "")
	fs.BoolVar(&f.pruneInvalid, "prune-invalid", false, "")
	fs.BoolVar(&f.quick, "quick", false, "")
	fs.StringVar(&f.tz, "tz", "", "")
	fs.StringVar(&f.dir, "dir", "./atocore-demo", "")
	fs.BoolVar(&f.verbose, "verbose", false, "")
	fs.BoolVar(&f.verbose, "v", false, "")
	fs.StringVar(&f.target, "target", "", "")
	fs.StringVar(&f.knownHosts, "known-hosts", "", "")
	fs.StringVar(&f.sshKey, "ssh-key", "", "")
	fs.BoolVar(&f.sshAgent, "ssh-agent", false, "")
	fs.Func("recipient", "", func(s string) error { f.recipients = append(f.recipients, s); return nil })
	fs.StringVar(&f.recipientsFile, "recipients-file", "", "")
	fs.StringVar(&f.passphraseFile, "passphrase-file", "", "")
	fs.StringVar(&f.ageIdentity, "age-identity", "", "")
	fs.StringVar(&f.signingKey, "signing-key", "", "")
	fs.StringVar(&f.allowedSigners, "allowed-signers", "", "")
	fs.BoolVar(&f.allowUnsigned, "allow-unsigned", false, "")
	fs.BoolVar(&f.verify, "verify", false, "")
	fs.BoolVar(&f.allowRollback, "allow-rollback", false, "")
	fs.BoolVar(&f.allowOtherTarget, "allow-other-target", false, "")
	return fs
}

// parseFlags parses flags and positional arguments in any order: the first
// positional argument is the command.
func parseFlags(args []string, out io.Writer) (*flags, error) {
	f := &flags{set: map[string]bool{}}
	fs := newFlagSet(f, out)
	var positional []string
	rest := args
	for {
		if err := fs.Parse(rest); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, errHelp
			}
			return nil, usageErr(err)
		}
		rest = fs.Args()
		if len(rest) == 0 {
			break
		}
		if rest[0] == "--" {
			positional = append(positional, rest[1:]...)
			break
		}
		positional = append(positional, rest[0])
		rest = rest[1:]
	}
	fs.Visit(func(fl *flag.Flag) { f.set[fl.Name] = true })
	if len(positional) == 0 {
		return nil, errors.New("no command given; run atocore-backup --help for the list")
	}
	f.command, f.args = positional[0], positional[1:]
	if f.command == "help" {
		return nil, errHelp
	}
	ok, known := allowed[f.command]
	if !known {
		return f, nil // run reports the unknown command
	}
	for name := range f.set {
		if (f.command != "demo" && slices.Contains(pathFlags, name)) || name == "verbose" || name == "v" {
			continue
		}
		if !slices.Contains(ok, name) {
			return nil, fmt.Errorf("flag --%s does not apply to %s", name, f.command)
		}
	}
	return f, nil
}

// usageErr turns the flag package's messages into one line that names the
// flag and the fix.
func usageErr(err error) error {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "invalid value"):
		return fmt.Errorf("%s; give a whole number of 0 or more", msg)
	case strings.HasPrefix(msg, "flag provided but not defined"):
		return fmt.Errorf("%s; run atocore-backup --help for the flags", msg)
	}
	return err
}

// wantArgs checks the number of positional arguments after the command.
func (f *flags) wantArgs(names ...string) error {
	if len(f.args) != len(names) {
		if len(names) == 0 {
			return fmt.Errorf("%s takes no arguments, got %q", f.command, strings.Join(f.args, " "))
		}
		return fmt.Errorf("%s needs %s, got %d argument(s)", f.command, strings.Join(names, " "), len(f.args))
	}
	return nil
}

// config builds the backup configuration: flag, else environment, else
// root, and records where each path came from for error messages.
func (a *app) config() (backup.Config, error) {
	pick := func(what, flagVal, name, env string) string {
		switch {
		case flagVal != "":
			a.sources[what] = "--" + name
			return flagVal
		case a.getenv(env) != "":
			a.sources[what] = "the environment (" + env + ")"
			return a.getenv(env)
		}
		a.sources[what] = "the default under the AtoCore root"
		return ""
	}
	p := backup.Paths{
		Root:         pick(backup.WhatRoot, a.f.root, "root", "ATOCORE_ROOT"),
		DBPath:       pick(backup.WhatDB, a.f.dbPath, "db-path", "ATOCORE_DB_PATH"),
		RegistryPath: pick(backup.WhatRegistry, a.f.registryPath, "registry-path", "ATOCORE_REGISTRY_PATH"),
		ChromaPath:   pick(backup.WhatChroma, a.f.chromaPath, "chroma-path", "ATOCORE_CHROMA_PATH"),
		BackupDir:    pick(backup.WhatBackupDir, a.f.backupDir, "backup-dir", "ATOCORE_BACKUP_DIR"),
	}
	cfg := backup.Config{Paths: p}
	if a.f.verbose {
		cfg.Logger = slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return cfg.Resolved()
}
