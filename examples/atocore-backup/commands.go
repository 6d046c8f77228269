package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/atocore/atocore-backup/backup"
	"github.com/atocore/atocore-backup/internal/snapshot"
	"github.com/atocore/atocore-backup/restore"
	"github.com/atocore/atocore-backup/validate"
)

type command struct {
	run func(ctx context.Context, a *app) int
}

var commands map[string]command

func init() {
	commands = map[string]command{
		"create":   {runCreate},
		"list":     {runList},
		"validate": {runValidate},
		"restore":  {runRestore},
		"prune":    {runPrune},
		"demo":     {runDemo},
		"drill":    {runDrill},
		"drills":   {runDrills},
		"push":     {runPush},
		"pull":     {runPull},
		"remote":   {runRemote},
	}
}

// printJSON writes v as indented JSON on stdout.
func (a *app) printJSON(v any) {
	enc := json.NewEncoder(a.stdout)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// needs lists, per command, the paths it cannot do without, and which of
// them must already exist. A command whose path does not exist fails with
// exit 10 and creates nothing: create makes the backup directory only when
// the live database exists; restore and pull may fill an empty machine.
var needs = map[string]struct{ set, exist []string }{
	"create":   {[]string{backup.NeedDB, backup.NeedBackup}, []string{backup.NeedDB}},
	"restore":  {[]string{backup.NeedDB, backup.NeedBackup}, nil},
	"drill":    {[]string{backup.NeedDB, backup.NeedBackup}, []string{backup.NeedDB}},
	"list":     {[]string{backup.NeedBackup}, []string{backup.NeedBackup}},
	"validate": {[]string{backup.NeedBackup}, []string{backup.NeedBackup}},
	"prune":    {[]string{backup.NeedBackup}, []string{backup.NeedBackup}},
	"drills":   {[]string{backup.NeedBackup}, []string{backup.NeedBackup}},
	"push":     {[]string{backup.NeedBackup}, []string{backup.NeedBackup}},
	"pull":     {[]string{backup.NeedBackup}, nil},
}

// setup checks the positional arguments and builds the configuration; a
// problem with either is a usage error, a path that does not exist is
// "not found".
func (a *app) setup(argNames ...string) (backup.Config, int, bool) {
	if err := a.f.wantArgs(argNames...); err != nil {
		return backup.Config{}, a.fail(exitUsage, err), false
	}
	cfg, err := a.config()
	if err == nil {
		err = cfg.Require(needs[a.f.command].set...)
	}
	if err != nil {
		return backup.Config{}, a.fail(exitUsage, err), false
	}
	if exist := needs[a.f.command].exist; exist != nil {
		if err := cfg.RequireExisting(exist...); err != nil {
			return backup.Config{}, a.fail(exitFailed, err), false
		}
	}
	return cfg, 0, true
}

// stampArg returns the STAMP argument, refusing a malformed one.
func (a *app) stampArg() (string, int, bool) {
	s := a.f.args[0]
	if _, err := snapshot.ParseStamp(s); err != nil {
		return "", a.fail(exitUsage, err), false
	}
	return s, 0, true
}

func (a *app) policy() (backup.Policy, error) {
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

func runCreate(ctx context.Context, a *app) int {
	cfg, code, ok := a.setup()
	if !ok {
		return code
	}
	if !snapshot.ValidKind(a.f.kind) {
		return a.fail(exitUsage, fmt.Errorf("--kind %q is not a kind; use manual, scheduled, pre-restore or drill", a.f.kind))
	}
	var policy backup.Policy
	if a.f.prune {
		p, err := a.policy()
		if err != nil {
			return a.fail(exitUsage, err)
		}
		policy = p
	} else if a.f.set["keep-daily"] || a.f.set["keep-weekly"] || a.f.set["keep-monthly"] || a.f.set["tz"] || a.f.set["prune-invalid"] || a.f.set["quick"] {
		return a.fail(exitUsage, errors.New("retention flags need --prune"))
	}
	a.say("creating snapshot of %s (chroma: %v) in %s", cfg.DBPath, a.f.includeChroma, cfg.BackupDir)
	meta, err := backup.Create(ctx, cfg, backup.CreateOptions{Kind: a.f.kind, IncludeChroma: a.f.includeChroma, Wait: a.f.wait})
	if err != nil {
		if meta != nil {
			a.printJSON(meta)
		}
		return a.fail(exitFailed, err)
	}
	a.printJSON(meta)
	a.say("snapshot %s created and validated: db %s, %d chroma files (%s), %d ms",
		meta.Stamp, bytesText(meta.DBSizeBytes), meta.ChromaFiles, bytesText(meta.ChromaBytes), meta.DurationMS)
	if a.f.prune {
		res, err := backup.Prune(ctx, cfg, backup.PruneOptions{Policy: policy, PruneInvalid: a.f.pruneInvalid, Quick: a.f.quick, Wait: true})
		if err != nil {
			return a.fail(exitFailed, fmt.Errorf("snapshot %s was created, but pruning failed: %w", meta.Stamp, err))
		}
		fmt.Fprint(a.stderr, res.Plan.Describe())
	}
	return exitOK
}

func runList(ctx context.Context, a *app) int {
	cfg, code, ok := a.setup()
	if !ok {
		return code
	}
	snaps, err := backup.List(ctx, cfg)
	if err != nil {
		return a.fail(exitFailed, err)
	}
	a.printJSON(struct {
		BackupDir string            `json:"backup_dir"`
		Backups   []backup.Snapshot `json:"backups"`
	}{cfg.BackupDir, snaps})
	return exitOK
}

func runValidate(ctx context.Context, a *app) int {
	cfg, code, ok := a.setup("STAMP")
	if !ok {
		return code
	}
	stamp, code, ok := a.stampArg()
	if !ok {
		return code
	}
	res, err := validate.Snapshot(ctx, cfg.FS, cfg.BackupDir, stamp)
	if err != nil {
		return a.fail(exitFailed, err)
	}
	a.printJSON(res)
	if !res.Valid && slices.ContainsFunc(res.Errors, func(e string) bool { return strings.HasPrefix(e, validate.CodeSnapshotMissing) }) {
		return a.fail(exitNotFound, fmt.Errorf("snapshot %s does not exist in %s; run list to see the snapshots there", stamp, cfg.BackupDir))
	}
	if !res.Valid {
		a.say("snapshot %s is INVALID: %s", stamp, strings.Join(res.Errors, "; "))
		return exitFailed
	}
	a.say("snapshot %s is valid", stamp)
	for _, w := range res.Warnings {
		a.say("warning: %s", w)
	}
	return exitOK
}

func runRestore(ctx context.Context, a *app) int {
	if err := a.f.wantArgs("STAMP"); err != nil {
		return a.fail(exitUsage, err)
	}
	stamp, code, ok := a.stampArg()
	if !ok {
		return code
	}
	if !a.f.confirm {
		return a.fail(exitUsage, restore.ErrServiceNotStopped)
	}
	if a.f.chroma && a.f.noChroma {
		return a.fail(exitUsage, errors.New("--chroma and --no-chroma contradict each other; pick one"))
	}
	cfg, code, ok := a.setup("STAMP")
	if !ok {
		return code
	}
	opts := restore.Options{ConfirmServiceStopped: true, NoPreSnapshot: a.f.noPreSnapshot, Wait: a.f.wait}
	switch {
	case a.f.chroma:
		opts.Chroma = restore.ChromaForce
	case a.f.noChroma:
		opts.Chroma = restore.ChromaSkip
	}
	res, err := restore.Run(ctx, cfg, stamp, opts)
	var invalid *validate.Error
	if errors.As(err, &invalid) {
		return a.fail(exitUsage, err) // a refusal: nothing was touched
	}
	for _, w := range warnings(res) {
		a.say("warning: %s", w)
	}
	if err != nil {
		if res != nil && res.DBRestored {
			a.printJSON(res)
		}
		return a.fail(exitFailed, err)
	}
	a.printJSON(res)
	a.say("restored %s over %s", stamp, cfg.DBPath)
	if res.PreRestoreSnapshot != nil {
		a.say("restored %s; pre-restore snapshot %s (write it down: it rolls this restore back)", stamp, *res.PreRestoreSnapshot)
	} else {
		a.say("restored %s; no pre-restore snapshot was taken", stamp)
	}
	return exitOK
}

func warnings(res *restore.Result) []string {
	if res == nil {
		return nil
	}
	return res.Warnings
}

func runPrune(ctx context.Context, a *app) int {
	cfg, code, ok := a.setup()
	if !ok {
		return code
	}
	p, err := a.policy()
	if err != nil {
		return a.fail(exitUsage, err)
	}
	res, err := backup.Prune(ctx, cfg, backup.PruneOptions{Policy: p, DryRun: a.f.dryRun, PruneInvalid: a.f.pruneInvalid, Quick: a.f.quick, Wait: a.f.wait})
	if err != nil {
		if res != nil {
			a.printJSON(res)
		}
		return a.fail(exitFailed, err)
	}
	a.printJSON(res)
	if a.f.dryRun {
		a.say("dry run: nothing was changed")
	}
	fmt.Fprint(a.stderr, res.Plan.Describe())
	for _, w := range res.Warnings {
		a.say("warning: %s", w)
	}
	return exitOK
}

func bytesText(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// drillHook lets tests sabotage a drill between its marker and its restore.
var drillHook func(stamp string) error

func runDrill(ctx context.Context, a *app) int {
	if err := a.f.wantArgs(); err != nil {
		return a.fail(exitUsage, err)
	}
	if !a.f.confirm {
		return a.fail(exitUsage, errors.New("drill restores the live state: confirm that the AtoCore service is stopped (--confirm-service-stopped); nothing was changed"))
	}
	cfg, code, ok := a.setup()
	if !ok {
		return code
	}
	a.say("drill: snapshot -> marker -> restore -> check, on %s", cfg.DBPath)
	rec, err := restore.Drill(ctx, cfg, restore.DrillOptions{ConfirmServiceStopped: true, Wait: a.f.wait, AfterMark: drillHook})
	if rec != nil {
		a.printJSON(rec)
		for _, s := range rec.Surprises {
			a.say("surprise: %s", s)
		}
	}
	if err != nil && rec != nil && rec.Stamp != "" {
		return a.failAs(exitFailed, err) // the drill ran and failed: not a refusal
	}
	if err != nil {
		return a.fail(exitFailed, err)
	}
	a.say("drill PASSED: %s; recorded in %s", rec.Detail, filepath.Join(cfg.BackupDir, restore.DrillLogFile))
	return exitOK
}

func runDrills(ctx context.Context, a *app) int {
	cfg, code, ok := a.setup()
	if !ok {
		return code
	}
	recs, err := restore.ReadDrillLog(cfg)
	if err != nil {
		return a.fail(exitFailed, err)
	}
	a.printJSON(struct {
		BackupDir string                `json:"backup_dir"`
		Drills    []restore.DrillRecord `json:"drills"`
	}{cfg.BackupDir, recs})
	return exitOK
}
