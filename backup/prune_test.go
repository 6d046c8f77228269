package backup_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/afero"

	"github.com/atocore/atocore-backup/backup"
	"github.com/atocore/atocore-backup/internal/sample"
	"github.com/atocore/atocore-backup/internal/snapshot"
	"github.com/atocore/atocore-backup/internal/testutil"
)

// daily creates one real snapshot a day at 06:00 UTC for n days from first,
// and returns their stamps.
func daily(t *testing.T, r *sample.Root, cfg backup.Config, first time.Time, n int, kind string) []string {
	t.Helper()
	var stamps []string
	for i := range n {
		at := first.AddDate(0, 0, i)
		cfg.Now = func() time.Time { return at }
		m, err := backup.Create(context.Background(), cfg, backup.CreateOptions{Kind: kind})
		if err != nil {
			t.Fatal(err)
		}
		stamps = append(stamps, m.Stamp)
	}
	return stamps
}

func listed(t *testing.T, cfg backup.Config) []string {
	t.Helper()
	snaps, err := backup.List(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, s := range snaps {
		out = append(out, s.Stamp)
	}
	return out
}

func TestPruneAppliesThePolicyOnRealSnapshots(t *testing.T) {
	r := testutil.Root(t)
	cfg := testutil.Config(r)
	stamps := daily(t, r, cfg, time.Date(2026, 3, 1, 6, 0, 0, 0, time.UTC), 40, backup.KindScheduled) // Mar 1 .. Apr 9
	now := func() time.Time { return time.Date(2026, 4, 9, 12, 0, 0, 0, time.UTC) }
	policy := backup.DefaultPolicy()

	dry, err := backup.Prune(context.Background(), cfg, backup.PruneOptions{Policy: policy, DryRun: true, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if got := listed(t, cfg); !slices.Equal(got, stamps) {
		t.Fatal("a dry run removed snapshots")
	}
	res, err := backup.Prune(context.Background(), cfg, backup.PruneOptions{Policy: policy, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.Kept, dry.Kept) || !slices.Equal(res.Removed, dry.Removed) {
		t.Fatalf("dry run planned %v / %v, the prune did %v / %v", dry.Kept, dry.Removed, res.Kept, res.Removed)
	}
	// 7 dailies Apr 3-9; Sundays Mar 15, 22, 29 and Apr 5 (Apr 5 also
	// daily); firsts of month Mar 1 and Apr 1.
	want := []string{"20260301T060000Z", "20260315T060000Z", "20260322T060000Z", "20260329T060000Z", "20260401T060000Z",
		"20260403T060000Z", "20260404T060000Z", "20260405T060000Z", "20260406T060000Z", "20260407T060000Z", "20260408T060000Z", "20260409T060000Z"}
	if !slices.Equal(res.Kept, want) {
		t.Fatalf("kept %v\nwant %v", res.Kept, want)
	}
	if got := listed(t, cfg); !slices.Equal(got, want) {
		t.Fatalf("on disk after prune: %v", got)
	}
	if len(res.Removed) != 40-len(want) || len(res.Invalid) != 0 {
		t.Fatalf("removed %d, invalid %v", len(res.Removed), res.Invalid)
	}
	entries, _ := os.ReadDir(r.BackupDir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), snapshot.TrashPrefix) {
			t.Fatalf("trash left behind: %s", e.Name())
		}
	}
	again, err := backup.Prune(context.Background(), cfg, backup.PruneOptions{Policy: policy, Now: now})
	if err != nil || len(again.Removed) != 0 {
		t.Fatalf("a second prune removed %v (%v)", again.Removed, err)
	}
	if !strings.Contains(res.Plan.Describe(), "weekly 2026-03-15") {
		t.Fatalf("plan lacks reasons:\n%s", res.Plan.Describe())
	}
}

func TestPruneInvalidOnlyWhenAsked(t *testing.T) {
	r := testutil.Root(t)
	cfg := testutil.Config(r)
	stamps := daily(t, r, cfg, time.Date(2026, 4, 1, 6, 0, 0, 0, time.UTC), 3, backup.KindScheduled)
	// The newest is incomplete: it never fills a slot, and the newest valid one is kept.
	if err := os.Remove(filepath.Join(snapshot.Dir(r.BackupDir, stamps[2]), "db", "atocore.db")); err != nil {
		t.Fatal(err)
	}
	zero := backup.Policy{}
	res, err := backup.Prune(context.Background(), cfg, backup.PruneOptions{Policy: zero})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.Invalid, stamps[2:]) || !slices.Equal(res.Kept, stamps[1:2]) || !slices.Equal(res.Removed, stamps[:1]) {
		t.Fatalf("result %+v", res)
	}
	if got := listed(t, cfg); !slices.Equal(got, stamps[1:]) {
		t.Fatalf("invalid snapshot removed without --prune-invalid: %v", got)
	}
	res, err = backup.Prune(context.Background(), cfg, backup.PruneOptions{Policy: zero, PruneInvalid: true})
	if err != nil || !slices.Equal(res.Removed, stamps[2:]) {
		t.Fatalf("prune-invalid: %+v, %v", res, err)
	}
	if got := listed(t, cfg); !slices.Equal(got, stamps[1:2]) {
		t.Fatalf("after --prune-invalid: %v", got)
	}
}

func TestPruneKeepsYoungPreRestoreAnchors(t *testing.T) {
	r := testutil.Root(t)
	cfg := testutil.Config(r)
	old := daily(t, r, cfg, time.Date(2026, 4, 1, 7, 0, 0, 0, time.UTC), 1, backup.KindPreRestore)
	young := daily(t, r, cfg, time.Date(2026, 4, 8, 7, 0, 0, 0, time.UTC), 1, backup.KindPreRestore)
	newest := daily(t, r, cfg, time.Date(2026, 4, 9, 6, 0, 0, 0, time.UTC), 1, backup.KindScheduled)
	now := func() time.Time { return time.Date(2026, 4, 9, 12, 0, 0, 0, time.UTC) }
	res, err := backup.Prune(context.Background(), cfg, backup.PruneOptions{Policy: backup.Policy{}, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.Kept, append(young, newest...)) || !slices.Equal(res.Removed, old) {
		t.Fatalf("kept %v removed %v", res.Kept, res.Removed)
	}
}

func TestPruneIsBusyUnderLockAndCleansTrash(t *testing.T) {
	r := testutil.Root(t)
	cfg := testutil.Config(r)
	daily(t, r, cfg, time.Date(2026, 4, 1, 6, 0, 0, 0, time.UTC), 2, backup.KindScheduled)
	l, err := backup.LockDir(context.Background(), cfg, "create", backup.Wait{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := backup.Prune(context.Background(), cfg, backup.PruneOptions{Policy: backup.Policy{}}); !errors.Is(err, backup.ErrBusy) {
		t.Fatalf("err = %v, want ErrBusy", err)
	}
	if got := listed(t, cfg); len(got) != 2 {
		t.Fatal("a busy prune removed snapshots")
	}
	l.Release()
	// A prune that died mid-delete left a trash directory: the next one removes it.
	trash := filepath.Join(r.BackupDir, snapshot.TrashPrefix+"20260301T060000Z")
	if err := os.MkdirAll(filepath.Join(trash, "db"), 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := backup.Prune(context.Background(), cfg, backup.PruneOptions{Policy: backup.DefaultPolicy()}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(trash); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("leftover trash survived the next prune")
	}
}

func TestPruneRefusesNegativePolicy(t *testing.T) {
	r := testutil.Root(t)
	cfg := testutil.Config(r)
	daily(t, r, cfg, time.Date(2026, 4, 1, 6, 0, 0, 0, time.UTC), 2, backup.KindScheduled)
	_, err := backup.Prune(context.Background(), cfg, backup.PruneOptions{Policy: backup.Policy{KeepDaily: -1}})
	if err == nil || !strings.Contains(err.Error(), "keep-daily") {
		t.Fatalf("err = %v", err)
	}
	if len(listed(t, cfg)) != 2 {
		t.Fatal("a refused prune removed snapshots")
	}
}

// Retention works on any location that holds snapshots/, such as an
// in-memory target.
func TestPruneDirOnMemMapFs(t *testing.T) {
	r := testutil.Root(t)
	cfg := testutil.Config(r)
	cfg.FS = afero.NewMemMapFs()
	daily(t, r, cfg, time.Date(2026, 4, 1, 6, 0, 0, 0, time.UTC), 5, backup.KindScheduled)
	res, err := backup.PruneDir(context.Background(), cfg.FS, r.BackupDir, backup.PruneOptions{Policy: backup.Policy{KeepDaily: 2}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Kept) != 2 || len(res.Removed) != 3 {
		t.Fatalf("result %+v", res)
	}
	snaps, _ := backup.ListDir(context.Background(), cfg.FS, r.BackupDir)
	if len(snaps) != 2 {
		t.Fatalf("left %d snapshots", len(snaps))
	}
}

// --prune-invalid deletes a snapshot only if it is still invalid when
// checked again: one transient read error must not cost a good backup.
func TestPruneInvalidRechecksBeforeDeleting(t *testing.T) {
	r := testutil.Root(t)
	cfg := testutil.Config(r)
	stamps := daily(t, r, cfg, time.Date(2026, 4, 1, 6, 0, 0, 0, time.UTC), 2, backup.KindScheduled)
	calls := map[string]int{}
	flaky := func(ctx context.Context, fsys afero.Fs, dir, stamp string) (backup.Verdict, error) {
		calls[stamp]++
		if stamp == stamps[0] && calls[stamp] == 1 {
			return backup.Verdict{Error: "db_missing: a read error the first time only"}, nil
		}
		return backup.QuickCheck(ctx, fsys, dir, stamp)
	}
	res, err := backup.Prune(context.Background(), cfg, backup.PruneOptions{Policy: backup.DefaultPolicy(), PruneInvalid: true, Check: flaky})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Removed) != 0 || len(listed(t, cfg)) != 2 {
		t.Fatalf("a snapshot invalid only once was deleted: %+v", res)
	}
}

// Retention works over the valid snapshots, and valid means passing every
// check of validate: a database whose bytes changed but not its size is
// invalid to a prune (QuickCheck, which --quick selects, cannot see it).
func TestPruneJudgesByTheFullValidation(t *testing.T) {
	r := testutil.Root(t)
	cfg := testutil.Config(r)
	stamps := daily(t, r, cfg, time.Date(2026, 4, 1, 6, 0, 0, 0, time.UTC), 3, backup.KindScheduled)
	db := filepath.Join(snapshot.Dir(r.BackupDir, stamps[2]), "db", "atocore.db")
	data, err := os.ReadFile(db)
	if err != nil {
		t.Fatal(err)
	}
	// Its own inode (the live database did not change, so the snapshots
	// share one), then damage of the same size.
	if err := os.Remove(db); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(db, data, 0o600); err != nil {
		t.Fatal(err)
	}
	testutil.Corrupt(t, db, 4096, 16)
	zero := backup.Policy{}
	quick, err := backup.Prune(context.Background(), cfg, backup.PruneOptions{Policy: zero, DryRun: true, Quick: true})
	if err != nil || len(quick.Invalid) != 0 || !slices.Equal(quick.Kept, stamps[2:]) {
		t.Fatalf("quick: %+v, %v (the quick check was expected to miss the damage)", quick, err)
	}
	full, err := backup.Prune(context.Background(), cfg, backup.PruneOptions{Policy: zero, DryRun: true})
	if err != nil || !slices.Equal(full.Invalid, stamps[2:]) || !slices.Equal(full.Kept, stamps[1:2]) {
		t.Fatalf("full: %+v, %v; want %s invalid and %s kept as the newest valid", full, err, stamps[2], stamps[1])
	}
}

// The full check reads a file shared by several snapshots (one inode)
// once, but still compares it with each snapshot's own manifest.
func TestPruneFullCheckTrustsNoOtherManifest(t *testing.T) {
	defer backup.SetRacyWindow(0)() // the files just made count as settled: the shared inode is remembered
	r := testutil.Root(t)
	cfg := testutil.Config(r)
	stamps := daily(t, r, cfg, time.Date(2026, 4, 1, 6, 0, 0, 0, time.UTC), 2, backup.KindScheduled)
	dbOf := func(s string) string { return filepath.Join(snapshot.Dir(r.BackupDir, s), "db", "atocore.db") }
	a, err1 := os.Stat(dbOf(stamps[0]))
	b, err2 := os.Stat(dbOf(stamps[1]))
	if err1 != nil || err2 != nil || !os.SameFile(a, b) {
		t.Fatalf("the two snapshots were expected to share the database's inode (%v, %v)", err1, err2)
	}
	testutil.EditManifest(t, snapshot.Dir(r.BackupDir, stamps[1]), func(f *snapshot.File) {
		if f.Path == snapshot.DBFile {
			f.SHA256 = strings.Repeat("0", 64)
		}
	})
	res, err := backup.Prune(context.Background(), cfg, backup.PruneOptions{Policy: backup.Policy{}, DryRun: true})
	if err != nil || !slices.Equal(res.Invalid, stamps[1:]) || !slices.Equal(res.Kept, stamps[:1]) {
		t.Fatalf("prune: %+v, %v; want %s invalid (its manifest disagrees with the shared file)", res, err, stamps[1])
	}
}
