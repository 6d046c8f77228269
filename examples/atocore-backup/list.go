package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/atocore/atocore-backup/backup"
	"github.com/atocore/atocore-backup/internal/cmdline"
	"github.com/atocore/atocore-backup/replica"
)

func newList(a *app) *cobra.Command {
	c := &cobra.Command{
		Use:   "list",
		Short: "List the snapshots, oldest first",
		Long: `list prints the snapshots of the backup directory, oldest first, with their
metadata. It reads only: it creates nothing, not even a lock.

With --replication it prints the replication chains instead: for each, its
base snapshot and the window restore --at can go back to (from its first
segment to the last tick that saw the database).`,
		Example: `  atocore-backup list
  atocore-backup list --replication`,
		Args: cmdline.Args(),
		RunE: a.runs(runList),
	}
	c.Flags().BoolVar(&a.f.replication, "replication", false, "list the replication chains and their windows instead of the snapshots")
	return c
}

func runList(ctx context.Context, a *app) int {
	cfg, code, ok := a.setup()
	if !ok {
		return code
	}
	if a.f.replication {
		return listReplication(ctx, a, cfg)
	}
	snaps, err := backup.List(ctx, cfg)
	if err != nil {
		return a.fail(exitFailed, err)
	}
	rows := make([]string, 0, len(snaps))
	for _, s := range snaps {
		m := s.Metadata
		if m == nil {
			rows = append(rows, cells(s.Stamp, "?", "?", "?", "?", "metadata missing or not JSON"))
			continue
		}
		chroma := "-"
		if m.IncludeChroma {
			chroma = fmt.Sprintf("%s (%d files)", bytesText(m.ChromaBytes), m.ChromaFiles)
		}
		validated := "yes"
		if !m.Validated {
			validated = "NO"
		}
		rows = append(rows, cells(s.Stamp, m.Kind, m.CreatedAt, bytesText(m.DBSizeBytes), chroma, validated))
	}
	a.resultTable(struct {
		BackupDir string            `json:"backup_dir"`
		Backups   []backup.Snapshot `json:"backups"`
	}{cfg.BackupDir, snaps}, cells("STAMP", "KIND", "CREATED", "DATABASE", "CHROMA", "VALIDATED"), rows,
		fmt.Sprintf("%d snapshot(s) in %s", len(snaps), cfg.BackupDir))
	return exitOK
}

// listReplication prints the replication windows of the backup directory.
func listReplication(ctx context.Context, a *app, cfg backup.Config) int {
	rcfg, err := cfg.Resolved()
	if err == nil {
		err = rcfg.Require(backup.NeedBackup)
	}
	if err != nil {
		return a.fail(exitUsage, err)
	}
	if err := rcfg.RequireExisting(backup.NeedBackup); err != nil {
		return a.fail(exitFailed, err)
	}
	ws, err := replica.Windows(ctx, rcfg.BackupDir)
	if err != nil {
		return a.fail(exitFailed, err)
	}
	if ws == nil {
		ws = []replica.Window{}
	}
	rows := make([]string, 0, len(ws))
	for _, w := range ws {
		note := ""
		if w.BaseMissing {
			note = "base snapshot gone: cannot be restored"
		}
		rows = append(rows, cells("local", w.Base, w.Chain, w.From.Format(time.RFC3339), w.To.Format(time.RFC3339),
			fmt.Sprint(w.TXID), bytesText(w.Bytes), note))
	}
	// The off-site targets, as replicate last recorded them: how far each
	// holds the chains (remote list --replication --target asks one).
	targets := replica.TargetsShipped(rcfg.BackupDir)
	if targets == nil {
		targets = []replica.TargetStatus{}
	}
	for _, ts := range targets {
		note := ""
		if ts.LastError != "" {
			note = "failing: " + ts.LastError
		}
		to := "-"
		if !ts.Shipped.IsZero() {
			to = ts.Shipped.UTC().Format(time.RFC3339)
		}
		rows = append(rows, cells(ts.Name, "", "", "", to, "", "", note))
	}
	last := fmt.Sprintf("%d chain(s) in %s", len(ws), replica.Dir(rcfg.BackupDir))
	a.resultTable(struct {
		BackupDir string                 `json:"backup_dir"`
		Location  string                 `json:"location"`
		Chains    []replica.Window       `json:"chains"`
		Targets   []replica.TargetStatus `json:"targets"`
	}{rcfg.BackupDir, "local", ws, targets}, cells("LOCATION", "BASE", "CHAIN", "FROM", "TO", "TXID", "SIZE", ""), rows, last)
	return exitOK
}
