package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/atocore/atocore-backup/backup"
	"github.com/atocore/atocore-backup/internal/cmdline"
)

func newPrune(a *app) *cobra.Command {
	c := &cobra.Command{
		Use:   "prune",
		Short: "Apply the retention policy: remove the snapshots it does not keep",
		Long: `prune keeps the newest valid snapshot of each of the last --keep-daily days,
the oldest of each of the last --keep-weekly weeks (Sunday to Saturday) and of
the last --keep-monthly months (in --tz), every pre-restore snapshot and every
snapshot a restore came from for 7 days, and the newest valid snapshot whatever
its age; it removes the other valid ones (docs/retention.md). Invalid snapshots are kept for inspection
unless --prune-invalid. It prints the plan: keep, remove or invalid, per
snapshot, with the reason. --dry-run changes nothing.`,
		Example: `  atocore-backup prune --dry-run
  atocore-backup prune --keep-daily 14 --keep-weekly 8 --keep-monthly 12 --tz Europe/Paris`,
		Args: cmdline.Args(),
		RunE: a.runs(runPrune),
	}
	fs := c.Flags()
	a.f.addPolicyFlags(fs)
	a.f.addPruneFlags(fs)
	fs.BoolVar(&a.f.dryRun, "dry-run", false, "print the plan and change nothing")
	a.f.addWait(fs)
	return c
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
	res, err := backup.Prune(ctx, cfg, backup.PruneOptions{Policy: p, DryRun: a.f.dryRun, PruneInvalid: a.f.pruneInvalid, Quick: a.f.quick, Wait: a.f.wait, WaitLimit: a.f.waitLimit, Waiting: a.waiting})
	if err != nil {
		if res != nil {
			a.printJSON(res)
		}
		return a.fail(exitFailed, err)
	}
	var b strings.Builder
	b.WriteString(strings.TrimSuffix(res.Plan.Describe(), "\n"))
	if a.f.dryRun {
		b.WriteString("\ndry run: nothing was changed")
	} else {
		fmt.Fprintf(&b, "\nremoved %d snapshot(s), kept %d", len(res.Removed), len(res.Kept))
	}
	for _, w := range res.Warnings {
		b.WriteString("\nwarning: " + w)
	}
	a.result(res, strings.TrimPrefix(b.String(), "\n"))
	return exitOK
}
