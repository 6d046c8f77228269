package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/atocore/atocore-backup/backup"
	"github.com/atocore/atocore-backup/internal/cmdline"
	"github.com/atocore/atocore-backup/internal/snapshot"
)

func newCreate(a *app) *cobra.Command {
	c := &cobra.Command{
		Use:   "create",
		Short: "Take a snapshot of the live state and validate it",
		Long: `create copies the live database (consistently, while the service keeps writing),
the project registry and, with --include-chroma, the Chroma directory into a new
snapshot under the backup directory, validates it, and only then makes it
visible. It prints the snapshot's metadata. Unchanged Chroma files are
hardlinked to the previous snapshot.`,
		Example: `  atocore-backup create --root /srv/storage/atocore --include-chroma
  atocore-backup create --kind scheduled --prune --keep-daily 14`,
		Args: cmdline.Args(),
		RunE: a.runs(runCreate),
	}
	fs := c.Flags()
	fs.BoolVar(&a.f.includeChroma, "include-chroma", false, "copy the Chroma directory too (under the server's ingestion lock when embedded)")
	fs.StringVar(&a.f.kind, "kind", backup.KindManual, "the snapshot's `KIND`: manual, scheduled, pre-restore or drill")
	fs.BoolVar(&a.f.prune, "prune", false, "apply the retention policy after a successful create")
	a.f.addWait(fs)
	a.f.addPolicyFlags(fs)
	a.f.addPruneFlags(fs)
	return c
}

// runCreate records its outcome for the metrics file: every exit but
// busy (another run holds the lock) is this create's result, a missing
// database or a bad flag in a cron line included.
func runCreate(ctx context.Context, a *app) int {
	code := createOnce(ctx, a)
	if code != exitBusy {
		a.results.RecordCreate(time.Now(), code == exitOK)
	}
	return code
}

func createOnce(ctx context.Context, a *app) int {
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
	} else if a.changed("keep-daily") || a.changed("keep-weekly") || a.changed("keep-monthly") || a.changed("tz") || a.changed("prune-invalid") || a.changed("quick") {
		return a.fail(exitUsage, errors.New("retention flags need --prune"))
	}
	a.say("creating snapshot of %s (chroma: %v) in %s", cfg.DBPath, a.f.includeChroma, cfg.BackupDir)
	bctx, done := a.withBar(ctx, "creating snapshot")
	meta, err := backup.Create(bctx, cfg, backup.CreateOptions{Kind: a.f.kind, IncludeChroma: a.f.includeChroma, Wait: a.f.wait, WaitLimit: a.f.waitLimit, Waiting: a.waiting})
	done()
	if err != nil {
		if meta != nil {
			a.printJSON(meta)
		}
		return a.fail(exitFailed, err)
	}
	a.result(meta, fmt.Sprintf("snapshot %s created and validated: db %s, %d chroma files (%s), %d ms",
		meta.Stamp, bytesText(meta.DBSizeBytes), meta.ChromaFiles, bytesText(meta.ChromaBytes), meta.DurationMS))
	if a.f.prune {
		res, err := backup.Prune(ctx, cfg, backup.PruneOptions{Policy: policy, PruneInvalid: a.f.pruneInvalid, Quick: a.f.quick, Wait: true})
		if err != nil {
			return a.fail(exitFailed, fmt.Errorf("snapshot %s was created, but pruning failed: %w", meta.Stamp, err))
		}
		fmt.Fprint(a.stderr, res.Plan.Describe())
	}
	return exitOK
}
