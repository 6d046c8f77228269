package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/atocore/atocore-backup/backup"
	"github.com/atocore/atocore-backup/internal/cmdline"
	"github.com/atocore/atocore-backup/internal/sample"
	"github.com/atocore/atocore-backup/internal/snapshot"
	"github.com/atocore/atocore-backup/restore"
	"github.com/atocore/atocore-backup/validate"
)

// demoMarker marks a directory as made by demo, so that a second run may
// replace it; a directory without it is never touched.
const demoMarker = ".atocore-demo"

// demoReport is demo's JSON result.
type demoReport struct {
	Dir                 string         `json:"dir"`
	Counts              sample.Counts  `json:"baseline_counts"`
	Snapshot            string         `json:"snapshot"`
	Valid               bool           `json:"valid"`
	PreRestoreSnapshot  *string        `json:"pre_restore_snapshot"`
	MarkerGone          bool           `json:"marker_gone"`
	BaselineIntact      bool           `json:"baseline_intact"`
	PreRestoreHasMarker bool           `json:"pre_restore_has_marker"`
	RestoredIntegrityOK bool           `json:"restored_integrity_ok"`
	Restore             restore.Result `json:"restore"`
	Pass                bool           `json:"pass"`
}

// runDemo walks the procedure's drill on generated sample data, entirely
// inside --dir: create -> validate -> write a marker -> restore -> check.
func newDemo(a *app) *cobra.Command {
	c := &cobra.Command{
		Use:   "demo",
		Short: "Walk the whole procedure on generated sample data",
		Long: `demo generates a sample AtoCore root under --dir and walks the procedure on it:
create, list, validate, a drill, restore and prune. It touches nothing else,
and refuses a non-empty directory it did not make.`,
		Args: cmdline.Args(),
		RunE: a.runs(runDemo),
	}
	c.Flags().StringVar(&a.f.dir, "dir", "./atocore-demo", "the `DIR` to work in")
	return c
}

func runDemo(ctx context.Context, a *app) int {
	dir, err := filepath.Abs(a.f.dir)
	if err != nil {
		return a.fail(exitUsage, err)
	}
	if err := prepareDemoDir(dir); err != nil {
		return a.fail(exitUsage, err)
	}
	rep := &demoReport{Dir: dir}
	err = demo(ctx, a, dir, rep)
	a.printJSON(rep)
	if err != nil {
		return a.fail(exitFailed, err)
	}
	if !rep.Pass {
		return a.fail(exitFailed, errors.New("the drill did not pass; see the report above"))
	}
	a.say("\nPASS: the drill restored the baseline and removed the marker. Everything is under %s.", dir)
	return exitOK
}

// prepareDemoDir creates dir, or empties one a previous demo made. It
// refuses a non-empty directory that demo did not make.
func prepareDemoDir(dir string) error {
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return fmt.Errorf("--dir %s: %w", dir, err)
	case len(entries) == 0:
	default:
		if _, err := os.Stat(filepath.Join(dir, demoMarker)); err != nil {
			return fmt.Errorf("--dir %s exists and was not made by demo; pick an empty or new directory", dir)
		}
		for _, e := range entries {
			if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
				return fmt.Errorf("empty previous demo in %s: %w", dir, err)
			}
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("--dir %s: %w", dir, err)
	}
	return os.WriteFile(filepath.Join(dir, demoMarker), []byte("made by atocore-backup demo; safe to delete\n"), 0o600)
}

func demo(ctx context.Context, a *app, dir string, rep *demoReport) error {
	step := func(n int, format string, args ...any) { a.say("[%d/6] "+format, append([]any{n}, args...)...) }

	step(1, "generating a sample AtoCore root in %s", dir)
	root, err := sample.Generate(ctx, dir, sample.Options{Seed: 1})
	if err != nil {
		return err
	}
	rep.Counts = root.Counts
	baseline, err := sample.Fingerprint(ctx, root.DBPath)
	if err != nil {
		return err
	}
	a.say("      %d projects, %d memories, %d documents, %d chunks; registry; Chroma directory",
		root.Counts.Projects, root.Counts.Memories, root.Counts.Documents, root.Counts.Chunks)
	cfg := backup.Config{Paths: backup.Paths{Root: dir}}

	step(2, "creating a snapshot (database, registry, Chroma), validated before it is put in place")
	start := time.Now()
	meta, err := backup.Create(ctx, cfg, backup.CreateOptions{Kind: backup.KindDrill, IncludeChroma: true})
	if err != nil {
		return err
	}
	rep.Snapshot = meta.Stamp
	a.say("      snapshot %s: db %s, %d Chroma files (%s) in %s", meta.Stamp, bytesText(meta.DBSizeBytes),
		meta.ChromaFiles, bytesText(meta.ChromaBytes), time.Since(start).Round(time.Millisecond))

	step(3, "validating snapshot %s again, as an operator would before relying on it", meta.Stamp)
	cfgR, _ := cfg.Resolved()
	v, err := validate.Snapshot(ctx, cfgR.FS, cfgR.BackupDir, meta.Stamp)
	if err != nil {
		return err
	}
	rep.Valid = v.Valid
	if !v.Valid {
		return fmt.Errorf("snapshot %s is invalid: %v", meta.Stamp, v.Errors)
	}
	a.say("      valid: integrity_check ok, manifest digests match")

	step(4, "writing a drill marker memory (memory_type episodic, project drill) to the live database")
	if _, err := sample.InsertMemory(ctx, root.DBPath, sample.Memory{Type: "episodic", Content: "DRILL-MARKER", Project: "drill", Confidence: 1}); err != nil {
		return err
	}
	if n, err := sample.CountMemories(ctx, root.DBPath, "drill"); err != nil || n != 1 {
		return fmt.Errorf("marker not visible before the restore (count %d): %v", n, err)
	}
	a.say("      marker present: 1 memory in project drill")

	step(5, "restoring snapshot %s (service confirmed stopped; pre-restore snapshot first)", meta.Stamp)
	res, err := restore.Run(ctx, cfg, meta.Stamp, restore.Options{ConfirmServiceStopped: true})
	if res != nil {
		rep.Restore = *res
		rep.PreRestoreSnapshot = res.PreRestoreSnapshot
		rep.RestoredIntegrityOK = res.RestoredIntegrityOK
	}
	if err != nil {
		return err
	}
	a.say("      restored: db %v, registry %v, Chroma %v, integrity ok %v; pre-restore snapshot %s",
		res.DBRestored, res.RegistryRestored, res.ChromaRestored, res.RestoredIntegrityOK, deref(res.PreRestoreSnapshot))

	step(6, "checking the result")
	n, err := sample.CountMemories(ctx, root.DBPath, "drill")
	if err != nil {
		return err
	}
	rep.MarkerGone = n == 0
	now, err := sample.Fingerprint(ctx, root.DBPath)
	if err != nil {
		return err
	}
	rep.BaselineIntact = now == baseline
	if res.PreRestoreSnapshot != nil {
		rep.PreRestoreHasMarker, err = snapshotHasMarker(ctx, dir, snapshot.Dir(cfgR.BackupDir, *res.PreRestoreSnapshot))
		if err != nil {
			return err
		}
	}
	a.say("      marker gone: %v; baseline intact: %v; pre-restore snapshot holds the marker: %v",
		rep.MarkerGone, rep.BaselineIntact, rep.PreRestoreHasMarker)
	rep.Pass = v.Valid && rep.MarkerGone && rep.BaselineIntact && rep.PreRestoreHasMarker && res.RestoredIntegrityOK
	return nil
}

// snapshotHasMarker counts the drill memories in a snapshot's database. It
// reads a scratch copy inside the demo directory, because opening the
// snapshot's own file could leave SQLite sidecars in the snapshot.
func snapshotHasMarker(ctx context.Context, dir, snapDir string) (bool, error) {
	data, err := os.ReadFile(filepath.Join(snapDir, filepath.FromSlash(snapshot.DBFile)))
	if err != nil {
		return false, err
	}
	scratch := filepath.Join(dir, "scratch")
	if err := os.MkdirAll(scratch, 0o700); err != nil {
		return false, err
	}
	defer os.RemoveAll(scratch)
	p := filepath.Join(scratch, "pre-restore.db")
	if err := os.WriteFile(p, data, 0o600); err != nil {
		return false, err
	}
	n, err := sample.CountMemories(ctx, p, "drill")
	return n == 1, err
}

func deref(s *string) string {
	if s == nil {
		return "(none)"
	}
	return *s
}
