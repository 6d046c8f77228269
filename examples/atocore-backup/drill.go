package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/atocore/atocore-backup/internal/cmdline"
	"github.com/atocore/atocore-backup/restore"
)

func newDrill(a *app) *cobra.Command {
	c := &cobra.Command{
		Use:   "drill --confirm-service-stopped",
		Short: "The live restore drill: snapshot, marker, restore, check; logged",
		Long: `drill proves on the live deployment that a restore works: it takes a snapshot,
writes a marker row after it (in a table of its own unless the embedding
server provides a marker), restores the snapshot, and checks that the marker
is gone and the database reads. Each run is a line of drills.jsonl in the
backup directory. The service must be stopped.`,
		Args: cmdline.Args(),
		RunE: a.runs(runDrill),
	}
	a.f.addConfirm(c.Flags())
	a.f.addWait(c.Flags())
	return c
}

// drillHook lets tests sabotage a drill between its marker and its restore.
var drillHook func(stamp string) error

func runDrill(ctx context.Context, a *app) int {
	if !a.f.confirm {
		return a.fail(exitUsage, errors.New("drill restores the live state: confirm that the AtoCore service is stopped (--confirm-service-stopped); nothing was changed"))
	}
	cfg, code, ok := a.setup()
	if !ok {
		return code
	}
	a.say("drill: snapshot -> marker -> restore -> check, on %s", cfg.DBPath)
	bctx, done := a.withBar(ctx, "drill")
	rec, err := restore.Drill(bctx, cfg, restore.DrillOptions{ConfirmServiceStopped: true, Wait: a.f.wait, WaitLimit: a.f.waitLimit, Waiting: a.waiting, AfterMark: drillHook})
	done()
	if rec != nil {
		for _, s := range rec.Surprises {
			a.say("surprise: %s", s)
		}
	}
	if err != nil {
		if rec != nil {
			a.printJSON(rec)
		}
		if rec != nil && rec.Stamp != "" {
			return a.failAs(exitFailed, err) // the drill ran and failed: not a refusal
		}
		return a.fail(exitFailed, err)
	}
	a.result(rec, fmt.Sprintf("drill PASSED: %s; recorded in %s", rec.Detail, filepath.Join(cfg.BackupDir, restore.DrillLogFile)))
	return exitOK
}

func newDrills(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "drills",
		Short: "Print the drill log",
		Args:  cmdline.Args(),
		RunE:  a.runs(runDrills),
	}
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
	rows := make([]string, 0, len(recs))
	for _, r := range recs {
		pass := "PASS"
		if !r.Pass {
			pass = "FAIL"
		}
		rows = append(rows, cells(r.Time, r.Stamp, pass, r.Detail))
	}
	a.resultTable(struct {
		BackupDir string                `json:"backup_dir"`
		Drills    []restore.DrillRecord `json:"drills"`
	}{cfg.BackupDir, recs}, cells("TIME", "STAMP", "RESULT", "DETAIL"), rows, fmt.Sprintf("%d drill(s) logged", len(recs)))
	return exitOK
}
