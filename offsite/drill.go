package offsite

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/atocore/atocore-backup/backup"
	"github.com/atocore/atocore-backup/internal/durable"
	"github.com/atocore/atocore-backup/internal/sqlitedb"
	"github.com/atocore/atocore-backup/restore"
	"github.com/atocore/atocore-backup/target"
)

// DrillOptions tunes Drill.
type DrillOptions struct {
	// Opening decrypts the snapshot and says which signers are trusted.
	Opening Opening
	// ScratchDir is the directory the scratch root is made in (and removed
	// from); "" is the backup directory, which has room for a snapshot.
	ScratchDir string
}

// scratchPrefix names a remote drill's scratch root.
const scratchPrefix = ".remote-drill-"

// Drill proves that the off-site copy stamp on t brings a machine
// back: it pulls it into a scratch root (never the live paths of cfg),
// which verifies its statement and every byte, decrypts and validates it;
// restores it there; opens the restored database and reads every table.
// The time from the first byte fetched to the database read is the time
// to recover. The record goes to cfg's drills.jsonl, pass or fail, and the
// scratch root is removed. The error says why a drill that ran failed
// (the record then says so too), or why it could not run.
func Drill(ctx context.Context, cfg backup.Config, t target.Target, stamp string, opts DrillOptions) (*restore.DrillRecord, error) {
	cfg, err := cfg.Resolved()
	if err == nil {
		err = cfg.Require(backup.NeedBackup)
	}
	if err != nil {
		return nil, fmt.Errorf("remote drill: %w", err)
	}
	if _, ok := durable.OSPath(cfg.FS, cfg.BackupDir); !ok {
		return nil, errors.New("remote drill: the backup directory must be on the OS filesystem (the drill restores into real files)")
	}
	base := opts.ScratchDir
	if base == "" {
		base = cfg.BackupDir
		if err := os.MkdirAll(base, 0o700); err != nil {
			return nil, fmt.Errorf("remote drill: %w", err)
		}
	}
	removeOldScratch(base)
	scratch, err := os.MkdirTemp(base, scratchPrefix)
	if err != nil {
		return nil, fmt.Errorf("remote drill: make the scratch root: %w", err)
	}
	defer os.RemoveAll(scratch)

	start := time.Now()
	rec := &restore.DrillRecord{Time: start.UTC().Format(time.RFC3339), Stamp: stamp, DurationsMS: map[string]int64{},
		Surprises: []string{}, FromTarget: t.URL()}
	runErr := remoteDrill(ctx, cfg, t, scratch, opts, rec)
	rec.DurationsMS["total"] = time.Since(start).Milliseconds()
	rec.Pass = runErr == nil
	if runErr != nil {
		rec.Detail = strings.Join(strings.Fields(runErr.Error()), " ") // one line
	}
	if ctx.Err() != nil {
		return rec, runErr // an interrupted drill proves nothing either way: not logged
	}
	if err := restore.LogDrill(cfg, rec); err != nil {
		return rec, errors.Join(runErr, fmt.Errorf("remote drill: record the outcome in %s: %w", restore.DrillLogFile, err))
	}
	return rec, runErr
}

func remoteDrill(ctx context.Context, cfg backup.Config, t target.Target, scratch string, opts DrillOptions, rec *restore.DrillRecord) error {
	open := opts.Opening
	if open.Trust.Memory == nil {
		open.Trust.Memory = MemoryIn(cfg) // the rollback check uses, and feeds, this machine's memory
	}
	sc := backup.Config{Paths: backup.Paths{Root: scratch}}
	t0 := time.Now()
	pulled, err := Pull(ctx, sc, t, rec.Stamp, open)
	rec.DurationsMS["pull"] = time.Since(t0).Milliseconds()
	if err != nil {
		return err
	}
	rec.Surprises = append(rec.Surprises, pulled.Warnings...)
	t0 = time.Now()
	res, err := restore.Run(ctx, sc, rec.Stamp, restore.Options{ConfirmServiceStopped: true, NoPreSnapshot: true})
	rec.DurationsMS["restore"] = time.Since(t0).Milliseconds()
	if err != nil {
		return fmt.Errorf("restore the pulled snapshot in the scratch root: %w", err)
	}
	rec.IncludeChroma = res.ChromaRestored
	rec.Surprises = append(rec.Surprises, res.Warnings...)
	sc, err = sc.Resolved()
	if err != nil {
		return err
	}
	t0 = time.Now()
	content, err := sqlitedb.ReadContent(ctx, sc.DBPath)
	rec.DurationsMS["read"] = time.Since(t0).Milliseconds()
	if err != nil {
		return fmt.Errorf("read the restored database: %w", err)
	}
	var rows int64
	for _, n := range content.Rows {
		rows += n
	}
	rec.RecoverMS = rec.DurationsMS["pull"] + rec.DurationsMS["restore"] + rec.DurationsMS["read"]
	rec.Detail = fmt.Sprintf("pulled %s from %s (%s, signature %s), restored it into a scratch root and read %d tables, %d rows: %.1f s to recover",
		rec.Stamp, t.URL(), durable.SizeText(pulled.Bytes), pulled.Signature, len(content.Rows), rows, float64(rec.RecoverMS)/1000)
	return nil
}

// removeOldScratch removes the scratch roots of remote drills killed more
// than a day ago (a running drill's is younger: drills take minutes).
func removeOldScratch(base string) {
	old, _ := filepath.Glob(filepath.Join(base, scratchPrefix+"*"))
	for _, p := range old {
		if fi, err := os.Lstat(p); err == nil && fi.IsDir() && time.Since(fi.ModTime()) > 24*time.Hour {
			_ = os.RemoveAll(p)
		}
	}
}
