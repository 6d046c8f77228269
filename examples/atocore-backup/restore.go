package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/atocore/atocore-backup/internal/cmdline"
	"github.com/atocore/atocore-backup/restore"
	"github.com/atocore/atocore-backup/validate"
)

func newRestore(a *app) *cobra.Command {
	c := &cobra.Command{
		Use:   "restore STAMP|latest --confirm-service-stopped",
		Short: "Replace the live state with a snapshot (the service must be stopped)",
		Long: `restore validates the snapshot, checks that the live layout is safe to replace
and that no process holds the database, takes a pre-restore snapshot of the
live state (unless --no-pre-snapshot), then puts the snapshot's database,
registry and Chroma directory in place. It refuses (exit 2, nothing touched)
without --confirm-service-stopped, for an invalid snapshot, or when its
preflight finds the layout unsafe. Write down the pre-restore stamp it prints:
restoring it rolls this restore back.`,
		Example: `  atocore-backup restore 20260407T060000Z --confirm-service-stopped
  atocore-backup restore latest --confirm-service-stopped --no-chroma`,
		Args: cmdline.Args("STAMP"),
		RunE: a.runs(runRestore),
	}
	fs := c.Flags()
	a.f.addConfirm(fs)
	fs.BoolVar(&a.f.noPreSnapshot, "no-pre-snapshot", false, "do not take the pre-restore snapshot of the live state first")
	fs.BoolVar(&a.f.noChroma, "no-chroma", false, "leave the live Chroma directory as it is")
	fs.BoolVar(&a.f.chroma, "chroma", false, "restore Chroma even when the snapshot's and the live layout's differ (default: when the snapshot has it)")
	a.f.addWait(fs)
	return c
}

func runRestore(ctx context.Context, a *app) int {
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
	opts := restore.Options{ConfirmServiceStopped: true, NoPreSnapshot: a.f.noPreSnapshot, Wait: a.f.wait, WaitLimit: a.f.waitLimit, Waiting: a.waiting}
	switch {
	case a.f.chroma:
		opts.Chroma = restore.ChromaForce
	case a.f.noChroma:
		opts.Chroma = restore.ChromaSkip
	}
	bctx, done := a.withBar(ctx, "restoring "+stamp)
	res, err := restore.Run(bctx, cfg, stamp, opts)
	done()
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
	summary := fmt.Sprintf("restored %s over %s; no pre-restore snapshot was taken", stamp, cfg.DBPath)
	if res.PreRestoreSnapshot != nil {
		summary = fmt.Sprintf("restored %s over %s; pre-restore snapshot %s (write it down: it rolls this restore back)", stamp, cfg.DBPath, *res.PreRestoreSnapshot)
	}
	a.result(res, summary)
	return exitOK
}

func warnings(res *restore.Result) []string {
	if res == nil {
		return nil
	}
	return res.Warnings
}
