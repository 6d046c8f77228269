package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/atocore/atocore-backup/backup"
	"github.com/atocore/atocore-backup/internal/cmdline"
	"github.com/atocore/atocore-backup/offsite"
	"github.com/atocore/atocore-backup/restore"
)

func newDrill(a *app) *cobra.Command {
	c := &cobra.Command{
		Use:   "drill --confirm-service-stopped | drill --from-target [STAMP|latest]",
		Short: "The live restore drill: snapshot, marker, restore, check; logged",
		Long: `drill proves on the live deployment that a restore works: it takes a snapshot,
writes a marker row after it (in a table of its own unless the embedding
server provides a marker), restores the snapshot, and checks that the marker
is gone and the database reads. Each run is a line of drills.jsonl in the
backup directory. The service must be stopped.

drill --from-target [STAMP|latest] (default latest) is the remote drill: it
pulls the off-site snapshot into a scratch root (never the live paths),
verifying its statement and every byte, decrypts and validates it, restores it
there, opens the restored database and reads every table, and logs the time to
recover in drills.jsonl. The service may run. Schedule it monthly.`,
		Example: `  atocore-backup drill --confirm-service-stopped
  atocore-backup drill --from-target --target offsite --age-identity /etc/atocore-backup/age.key \
      --allowed-signers /etc/atocore-backup/allowed_signers`,
		Args: func(c *cobra.Command, args []string) error {
			if from, _ := c.Flags().GetBool("from-target"); from {
				if len(args) > 1 {
					return fmt.Errorf("drill --from-target takes at most one STAMP (or latest), got %d", len(args))
				}
				return nil
			}
			return cmdline.Args()(c, args)
		},
		RunE: a.runs(runDrill),
	}
	a.f.addConfirm(c.Flags())
	a.f.addWait(c.Flags())
	c.Flags().BoolVar(&a.f.fromTarget, "from-target", false, "the remote drill: recover the off-site snapshot STAMP (default latest) into a scratch root")
	c.Flags().StringVar(&a.f.scratchDir, "scratch-dir", "", "with --from-target: the `DIR` the scratch root is made in (default: the backup directory)")
	a.f.addTargetFlags(c.Flags())
	a.f.addOpeningFlags(c.Flags())
	a.f.addTrustFlags(c.Flags())
	return c
}

// drillHook lets tests sabotage a drill between its marker and its restore.
var drillHook func(stamp string) error

func runDrill(ctx context.Context, a *app) int {
	if a.f.fromTarget {
		return runRemoteDrill(ctx, a)
	}
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

// runRemoteDrill is drill --from-target.
func runRemoteDrill(ctx context.Context, a *app) int {
	stamp := latest
	if len(a.f.args) == 1 {
		stamp = a.f.args[0]
	}
	a.f.args = []string{stamp}
	if stamp != latest { // refused before any path is looked at
		if _, code, ok := a.stampArg(); !ok {
			return code
		}
	}
	cfg, err := a.config()
	if err == nil {
		err = cfg.Require(backup.NeedBackup)
	}
	if err != nil {
		return a.fail(exitUsage, err)
	}
	t, open, stamp, code, ok := a.remoteSnapshot(ctx, false)
	if !ok {
		return code
	}
	defer t.Close()
	bctx, done := a.withBar(ctx, "remote drill of "+stamp)
	rec, err := offsite.Drill(bctx, cfg, t, stamp, offsite.DrillOptions{Opening: open, ScratchDir: a.f.scratchDir})
	done()
	if err != nil {
		if rec != nil {
			a.printJSON(rec)
			return a.failAs(exitFailed, signatureHint(err))
		}
		return a.fail(exitFailed, signatureHint(err))
	}
	a.result(rec, "remote drill PASSED: "+rec.Detail)
	return exitOK
}
