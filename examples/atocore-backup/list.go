package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/atocore/atocore-backup/backup"
	"github.com/atocore/atocore-backup/internal/cmdline"
)

func newList(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the snapshots, oldest first",
		Long: `list prints the snapshots of the backup directory, oldest first, with their
metadata. It reads only: it creates nothing, not even a lock.`,
		Args: cmdline.Args(),
		RunE: a.runs(runList),
	}
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
