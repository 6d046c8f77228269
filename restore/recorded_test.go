package restore_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/atocore/atocore-backup/backup"
	"github.com/atocore/atocore-backup/internal/testutil"
	"github.com/atocore/atocore-backup/restore"
)

// SPEC restore rule 11: after restore S, retention keeps S for 7 days
// (restored-from), with or without a pre-restore snapshot, though the
// pre-restore snapshot takes S's daily slot; 8 days later S is the policy's.
func TestRestoredFromSnapshotIsKeptBySevenDays(t *testing.T) {
	for _, noPre := range []bool{false, true} {
		t.Run(map[bool]string{false: "with a pre-restore snapshot", true: "without"}[noPre], func(t *testing.T) {
			r := testutil.Root(t)
			cfg := testutil.Config(r)
			day := time.Date(2026, 4, 7, 6, 0, 0, 0, time.UTC)
			cfg.Now = func() time.Time { return day }
			s, err := backup.Create(context.Background(), cfg, backup.CreateOptions{Kind: backup.KindScheduled})
			if err != nil {
				t.Fatal(err)
			}
			restoredAt := day.Add(3 * time.Hour)
			cfg.Now = func() time.Time { return restoredAt }
			res, err := restore.Run(context.Background(), cfg, s.Stamp, restore.Options{ConfirmServiceStopped: true, NoPreSnapshot: noPre})
			if err != nil {
				t.Fatal(err)
			}
			if (res.PreRestoreSnapshot == nil) != noPre {
				t.Fatalf("pre-restore snapshot %v", res.PreRestoreSnapshot)
			}
			if noPre {
				// A later scheduled snapshot takes the day's slot instead.
				cfg.Now = func() time.Time { return restoredAt.Add(time.Hour) }
				if _, err := backup.Create(context.Background(), cfg, backup.CreateOptions{Kind: backup.KindScheduled}); err != nil {
					t.Fatal(err)
				}
			}
			day1 := backup.Policy{KeepDaily: 1}
			cfg.Now = func() time.Time { return restoredAt.Add(24 * time.Hour) }
			pr, err := backup.Prune(context.Background(), cfg, backup.PruneOptions{Policy: day1})
			if err != nil {
				t.Fatal(err)
			}
			var reasons []string
			for _, k := range pr.Plan.Keep {
				if k.Stamp == s.Stamp {
					reasons = k.Reasons
				}
			}
			if !slices.Equal(reasons, []string{"restored-from"}) {
				t.Fatalf("restored-from snapshot %s: reasons %q, removed %v\n%s", s.Stamp, reasons, pr.Removed, pr.Plan.Describe())
			}
			cfg.Now = func() time.Time { return restoredAt.AddDate(0, 0, 8) }
			pr, err = backup.Prune(context.Background(), cfg, backup.PruneOptions{Policy: day1})
			if err != nil || !slices.Contains(pr.Removed, s.Stamp) {
				t.Fatalf("8 days later: removed %v, %v; want %s among them", pr.Removed, err, s.Stamp)
			}
		})
	}
}
