package backup_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/atocore/atocore-backup/backup"
	"github.com/atocore/atocore-backup/internal/testutil"
)

// reasonsOf returns the reasons res keeps stamp for, nil when it does not.
func reasonsOf(res *backup.PruneResult, stamp string) []string {
	for _, k := range res.Plan.Keep {
		if k.Stamp == stamp {
			return k.Reasons
		}
	}
	return nil
}

// SPEC restore rule 11: a snapshot restored from is kept for 7 days with the
// reason restored-from, by the prune's clock, then left to the policy.
func TestPruneKeepsTheSnapshotARestoreCameFrom(t *testing.T) {
	r := testutil.Root(t)
	cfg := testutil.Config(r)
	stamps := daily(t, r, cfg, time.Date(2026, 4, 1, 6, 0, 0, 0, time.UTC), 3, backup.KindScheduled)
	restoredAt := time.Date(2026, 4, 3, 9, 0, 0, 0, time.UTC)
	if err := backup.RecordRestore(context.Background(), cfg, stamps[0], restoredAt); err != nil {
		t.Fatal(err)
	}
	day := backup.Policy{KeepDaily: 1}

	cfg.Now = func() time.Time { return restoredAt.Add(time.Hour) }
	res, err := backup.Prune(context.Background(), cfg, backup.PruneOptions{Policy: day, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := reasonsOf(res, stamps[0]); !slices.Equal(got, []string{"restored-from"}) {
		t.Fatalf("%s kept for %q, want [restored-from]\n%s", stamps[0], got, res.Plan.Describe())
	}
	if !slices.Equal(res.Removed, stamps[1:2]) || res.Warnings == nil || len(res.Warnings) != 0 {
		t.Fatalf("removed %v, warnings %v", res.Removed, res.Warnings)
	}

	cfg.Now = func() time.Time { return restoredAt.AddDate(0, 0, 8) }
	res, err = backup.Prune(context.Background(), cfg, backup.PruneOptions{Policy: day})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.Removed, stamps[:2]) || !slices.Equal(listed(t, cfg), stamps[2:]) {
		t.Fatalf("8 days later: removed %v, left %v", res.Removed, listed(t, cfg))
	}
}

// Only the newest restore of a snapshot counts, and PruneOptions.Now wins
// over the Config's clock.
func TestPruneAgesTheNewestRestoreOfASnapshot(t *testing.T) {
	r := testutil.Root(t)
	cfg := testutil.Config(r)
	stamps := daily(t, r, cfg, time.Date(2026, 4, 1, 6, 0, 0, 0, time.UTC), 2, backup.KindScheduled)
	first := time.Date(2026, 4, 2, 9, 0, 0, 0, time.UTC)
	for _, at := range []time.Time{first, first.AddDate(0, 0, 5)} {
		if err := backup.RecordRestore(context.Background(), cfg, stamps[0], at); err != nil {
			t.Fatal(err)
		}
	}
	now := func() time.Time { return first.AddDate(0, 0, 10) } // 10 days after the first, 5 after the second
	res, err := backup.Prune(context.Background(), cfg, backup.PruneOptions{Policy: backup.Policy{}, DryRun: true, Now: now})
	if err != nil || !slices.Equal(reasonsOf(res, stamps[0]), []string{"restored-from"}) {
		t.Fatalf("%+v, %v", res, err)
	}
}

func TestRecordRestoreRefusesBadInput(t *testing.T) {
	r := testutil.Root(t)
	cfg := testutil.Config(r)
	err := backup.RecordRestore(context.Background(), cfg, "../x", time.Now())
	if err == nil || !strings.Contains(err.Error(), "../x") {
		t.Fatalf("err = %v", err)
	}
	if _, err := os.Stat(filepath.Join(r.BackupDir, backup.RestoreLogFile)); err == nil {
		t.Fatal("a refused record wrote the log")
	}
}

// A damaged restores.jsonl never fails a prune and never makes it remove
// what it keeps without the log: unreadable lines are skipped with a
// warning, and a torn line that still names a stamp keeps that snapshot.
func TestPruneToleratesADamagedRestoreLog(t *testing.T) {
	r := testutil.Root(t)
	cfg := testutil.Config(r)
	stamps := daily(t, r, cfg, time.Date(2026, 4, 1, 6, 0, 0, 0, time.UTC), 4, backup.KindScheduled)
	now := time.Date(2026, 4, 4, 12, 0, 0, 0, time.UTC)
	cfg.Now = func() time.Time { return now }
	day := backup.Policy{KeepDaily: 1}
	log := filepath.Join(r.BackupDir, backup.RestoreLogFile)

	baseline, err := backup.Prune(context.Background(), cfg, backup.PruneOptions{Policy: day, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := backup.RecordRestore(context.Background(), cfg, stamps[1], now.Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	good, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	big := strings.Repeat("x", 3<<20) + "\n" // past the read cap: only the tail is read
	for _, tc := range []struct {
		name    string
		content string
		keep    []string // kept besides the baseline's
		warning string
	}{
		{"binary garbage", "\x00\xff\x13garbage\n{not json\n", nil, "line 1"},
		{"a torn last line naming a stamp", string(good) + `{"stamp":"` + stamps[0] + `","restored_at":"2026-04-0`, []string{stamps[0], stamps[1]}, "line 2"},
		{"a record with a malformed stamp", `{"stamp":"../x","restored_at":"2026-04-04T10:00:00Z"}` + "\n" + string(good), []string{stamps[1]}, "line 1"},
		{"a record with a malformed time", `{"stamp":"` + stamps[0] + `","restored_at":"yesterday"}` + "\n", []string{stamps[0]}, "line 1"},
		{"larger than the read cap", big + string(good), []string{stamps[1]}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := os.WriteFile(log, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			res, err := backup.Prune(context.Background(), cfg, backup.PruneOptions{Policy: day, DryRun: true})
			if err != nil {
				t.Fatalf("a damaged log failed the prune: %v", err)
			}
			want := slices.Sorted(slices.Values(append(slices.Clone(baseline.Kept), tc.keep...)))
			want = slices.Compact(want)
			if !slices.Equal(res.Kept, want) {
				t.Fatalf("kept %v, want %v\n%s", res.Kept, want, res.Plan.Describe())
			}
			joined := strings.Join(res.Warnings, "\n")
			if tc.warning != "" && (!strings.Contains(joined, backup.RestoreLogFile) || !strings.Contains(joined, tc.warning)) {
				t.Fatalf("warnings %q, want one naming %s %s", res.Warnings, backup.RestoreLogFile, tc.warning)
			}
		})
	}
	// After a torn line, the next record still lands on a line of its own.
	if err := os.WriteFile(log, []byte(`{"stamp":"`+stamps[0]), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := backup.RecordRestore(context.Background(), cfg, stamps[2], now.Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	res, err := backup.Prune(context.Background(), cfg, backup.PruneOptions{Policy: day, DryRun: true})
	if err != nil || !slices.Equal(reasonsOf(res, stamps[2]), []string{"restored-from"}) {
		t.Fatalf("the record after a torn line: %+v, %v", res, err)
	}
}

// Each invalid snapshot of a prune carries its first validation error.
func TestPruneReportsTheFirstErrorOfEachInvalidSnapshot(t *testing.T) {
	r := testutil.Root(t)
	cfg := testutil.Config(r)
	stamps := daily(t, r, cfg, time.Date(2026, 4, 1, 6, 0, 0, 0, time.UTC), 3, backup.KindScheduled)
	if err := os.Remove(filepath.Join(r.BackupDir, "snapshots", stamps[0], "db", "atocore.db")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(r.BackupDir, "snapshots", stamps[1], "backup-metadata.json"), []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, quick := range []bool{false, true} {
		res, err := backup.Prune(context.Background(), cfg, backup.PruneOptions{Policy: backup.DefaultPolicy(), DryRun: true, Quick: quick})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(res.Invalid, stamps[:2]) || len(res.InvalidErrors) != 2 {
			t.Fatalf("quick %t: invalid %v, errors %v", quick, res.Invalid, res.InvalidErrors)
		}
		for stamp, code := range map[string]string{stamps[0]: "db_missing", stamps[1]: "metadata_invalid_json"} {
			if !strings.HasPrefix(res.InvalidErrors[stamp], code) {
				t.Errorf("quick %t: error of %s = %q, want %s...", quick, stamp, res.InvalidErrors[stamp], code)
			}
			if !strings.Contains(res.Plan.Describe(), "invalid "+stamp+"  "+code) {
				t.Errorf("quick %t: plan text lacks the error of %s:\n%s", quick, stamp, res.Plan.Describe())
			}
		}
	}
}
