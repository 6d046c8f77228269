package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/atocore/atocore-backup/backup"
	"github.com/atocore/atocore-backup/internal/cmdline"
	"github.com/atocore/atocore-backup/internal/timeline"
	"github.com/atocore/atocore-backup/replica"
	"github.com/atocore/atocore-backup/restore"
	"github.com/atocore/atocore-backup/validate"
)

func newRestore(a *app) *cobra.Command {
	c := &cobra.Command{
		Use:   "restore STAMP|latest|--at TIME --confirm-service-stopped",
		Short: "Replace the live state with a snapshot (the service must be stopped)",
		Long: `restore validates the snapshot, checks that the live layout is safe to replace
and that no process holds the database, takes a pre-restore snapshot of the
live state (unless --no-pre-snapshot), then puts the snapshot's database,
registry and Chroma directory in place. It refuses (exit 2, nothing touched)
without --confirm-service-stopped, for an invalid snapshot, or when its
preflight finds the layout unsafe. Write down the pre-restore stamp it prints:
restoring it rolls this restore back.

With --at TIME (RFC 3339, e.g. 2026-12-07T14:03:00Z) instead of a STAMP, it
restores the database as it was at that time, from the replication chains
replicate writes (list --replication shows the window): the chain's base
snapshot, with every segment up to TIME replayed over its staged copy and
checked (checksums, then integrity_check) before anything live changes. The
registry and Chroma come from that base snapshot. Every rule of a restore
applies. A TIME outside the window is exit 10.`,
		Example: `  atocore-backup restore 20260407T060000Z --confirm-service-stopped
  atocore-backup restore latest --confirm-service-stopped --no-chroma
  atocore-backup restore --at 2026-12-07T14:03:00Z --confirm-service-stopped --no-chroma`,
		Args: restoreArgs(a),
		RunE: a.runs(runRestore),
	}
	fs := c.Flags()
	a.f.addConfirm(fs)
	fs.BoolVar(&a.f.noPreSnapshot, "no-pre-snapshot", false, "do not take the pre-restore snapshot of the live state first")
	fs.BoolVar(&a.f.noChroma, "no-chroma", false, "leave the live Chroma directory as it is")
	fs.BoolVar(&a.f.chroma, "chroma", false, "restore Chroma even when the snapshot's and the live layout's differ (default: when the snapshot has it)")
	fs.StringVar(&a.f.at, "at", "", "restore the database as it was at `TIME` (RFC 3339) from the replication chains, instead of a STAMP")
	a.f.addWait(fs)
	return c
}

// restoreArgs takes a STAMP, or none with --at.
func restoreArgs(a *app) cobra.PositionalArgs {
	return func(c *cobra.Command, args []string) error {
		if c.Flags().Changed("at") {
			if len(args) != 0 {
				return fmt.Errorf("%s takes a STAMP or --at TIME, not both (got %q and --at %s)", c.Name(), args[0], a.f.at)
			}
			return nil
		}
		return cmdline.Args("STAMP")(c, args)
	}
}

func runRestore(ctx context.Context, a *app) int {
	if a.changed("at") {
		return runRestoreAt(ctx, a)
	}
	if a.f.args[0] != latest {
		if _, code, ok := a.stampArg(); !ok {
			return code
		}
	}
	if !a.f.confirm {
		return a.fail(exitUsage, restore.ErrServiceNotStopped)
	}
	if a.f.chroma && a.f.noChroma {
		return a.fail(exitUsage, errors.New("--chroma and --no-chroma contradict each other; pick one"))
	}
	cfg, code, ok := a.setup()
	if !ok {
		return code
	}
	stamp, code, ok := a.resolveStamp(ctx, cfg)
	if !ok {
		return code
	}
	res, code := a.restoreStamp(ctx, cfg, stamp, nil)
	if res != nil {
		a.result(res, restoredSummary(stamp, cfg, res))
	}
	return code
}

// restoreOptions are the options of the command line's flags.
func (a *app) restoreOptions() restore.Options {
	opts := restore.Options{ConfirmServiceStopped: true, NoPreSnapshot: a.f.noPreSnapshot, Wait: a.f.wait, WaitLimit: a.f.waitLimit, Waiting: a.waiting}
	switch {
	case a.f.chroma:
		opts.Chroma = restore.ChromaForce
	case a.f.noChroma:
		opts.Chroma = restore.ChromaSkip
	}
	return opts
}

// restoreStamp runs the restore of stamp (with rebuild, when set, over
// its database) and reports a failure; the result is nil unless it
// succeeded, and the code is the exit code.
func (a *app) restoreStamp(ctx context.Context, cfg backup.Config, stamp string, rebuild func(context.Context, *os.File) error) (*restore.Result, int) {
	opts := a.restoreOptions()
	opts.Rebuild = rebuild
	bctx, done := a.withBar(ctx, "restoring "+stamp)
	res, err := restore.Run(bctx, cfg, stamp, opts)
	done()
	var invalid *validate.Error
	if errors.As(err, &invalid) {
		return nil, a.fail(exitUsage, err) // a refusal: nothing was touched
	}
	for _, w := range warnings(res) {
		a.say("warning: %s", w)
	}
	if err != nil {
		if res != nil && res.DBRestored {
			a.printJSON(res)
		}
		return nil, a.fail(exitFailed, err)
	}
	return res, exitOK
}

func restoredSummary(what string, cfg backup.Config, res *restore.Result) string {
	if res.PreRestoreSnapshot != nil {
		return fmt.Sprintf("restored %s over %s; pre-restore snapshot %s (write it down: it rolls this restore back)", what, cfg.DBPath, *res.PreRestoreSnapshot)
	}
	return fmt.Sprintf("restored %s over %s; no pre-restore snapshot was taken", what, cfg.DBPath)
}

// restoredAt is the output of restore --at: the restore's result and
// what was replayed.
type restoredAt struct {
	*restore.Result
	At    string `json:"at"`
	Seen  string `json:"seen"`
	Chain string `json:"chain"`
	TXID  uint64 `json:"txid"`
	Files int    `json:"replayed_files"`
}

func runRestoreAt(ctx context.Context, a *app) int {
	at, err := time.Parse(time.RFC3339Nano, a.f.at)
	if err != nil {
		return a.fail(exitUsage, fmt.Errorf("--at %q is not an RFC 3339 time; write it as 2026-12-07T14:03:00Z", a.f.at))
	}
	if !a.f.confirm {
		return a.fail(exitUsage, restore.ErrServiceNotStopped)
	}
	if a.f.chroma && a.f.noChroma {
		return a.fail(exitUsage, errors.New("--chroma and --no-chroma contradict each other; pick one"))
	}
	cfg, code, ok := a.setup()
	if !ok {
		return code
	}
	rcfg, err := cfg.Resolved()
	if err != nil {
		return a.fail(exitUsage, err)
	}
	t0 := time.Now()
	plan, err := replica.PlanAt(ctx, rcfg.BackupDir, at)
	if err == nil {
		timeline.NewAt(cfg.Logger, t0).Step("replication planned (chains listed, files picked)", t0, "files", len(plan.Files))
	}
	if errors.Is(err, replica.ErrOutsideWindow) {
		return a.failAs(exitNotFound, err)
	}
	if err != nil {
		return a.fail(exitFailed, err)
	}
	res, code := a.restoreStamp(ctx, cfg, plan.Window.Base, plan.Rebuild)
	if res == nil {
		return code
	}
	out := restoredAt{Result: res, At: at.UTC().Format(time.RFC3339Nano), Seen: plan.Seen.Format(time.RFC3339Nano),
		Chain: plan.Window.Chain, TXID: plan.TXID, Files: len(plan.Files)}
	a.result(out, restoredSummary(fmt.Sprintf("the database as of %s (replicated at %s, base %s)",
		out.At, out.Seen, plan.Window.Base), cfg, res))
	return exitOK
}

func warnings(res *restore.Result) []string {
	if res == nil {
		return nil
	}
	return res.Warnings
}
