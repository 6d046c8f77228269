package restore_test

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/atocore/atocore-backup/backup"
	"github.com/atocore/atocore-backup/internal/testutil"
	"github.com/atocore/atocore-backup/restore"
)

func TestDrillPassesOnAGeneratedRoot(t *testing.T) {
	r := testutil.Root(t)
	baseline := testutil.Fingerprint(t, r.DBPath)
	rec, err := restore.Drill(context.Background(), testutil.Config(r), restore.DrillOptions{ConfirmServiceStopped: true})
	if err != nil {
		t.Fatal(err)
	}
	if !rec.Pass || rec.PreRestoreSnapshot == nil || !rec.IncludeChroma || rec.DurationsMS["restore"] < 0 {
		t.Fatalf("record = %+v", rec)
	}
	if testutil.Fingerprint(t, r.DBPath) != baseline {
		t.Fatal("the drill changed the live data")
	}
	log, err := restore.ReadDrillLog(testutil.Config(r))
	if err != nil || len(log) != 1 || !log[0].Pass || log[0].Stamp != rec.Stamp {
		t.Fatalf("log = %+v, %v", log, err)
	}
}

// The drill holds the backup directory's lock from start to end, so no
// create or prune can slip between its snapshot and its restore.
func TestDrillHoldsTheLock(t *testing.T) {
	r := testutil.Root(t)
	cfg := testutil.Config(r)
	var createErr error
	_, err := restore.Drill(context.Background(), cfg, restore.DrillOptions{ConfirmServiceStopped: true,
		AfterMark: func(string) error {
			_, createErr = backup.Create(context.Background(), cfg, backup.CreateOptions{})
			return nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(createErr, backup.ErrBusy) {
		t.Fatalf("a create during the drill: %v, want ErrBusy", createErr)
	}
}

// A sabotaged restore fails the drill, leaves the live state as it was
// before the drill (its marker removed) and is logged with pass false and
// the refusal's reason.
func TestDrillFailsOnSabotage(t *testing.T) {
	r := testutil.Root(t)
	cfg := testutil.Config(r)
	rec, err := restore.Drill(context.Background(), cfg, restore.DrillOptions{ConfirmServiceStopped: true,
		AfterMark: func(stamp string) error {
			testutil.Corrupt(t, filepath.Join(r.BackupDir, "snapshots", stamp, "db", "atocore.db"), 4096, 16)
			return nil
		}})
	if err == nil || rec == nil || rec.Pass {
		t.Fatalf("sabotaged drill: %+v, %v", rec, err)
	}
	if n := drillCount(t, r.DBPath); n != 0 || slices.Contains(tables(t, r.DBPath), restore.DrillTable) {
		t.Fatalf("the failed drill left a marker behind (%d memories, tables %v)", n, tables(t, r.DBPath))
	}
	log, _ := restore.ReadDrillLog(cfg)
	if len(log) != 1 || log[0].Pass || !strings.Contains(log[0].Detail, "manifest_mismatch") {
		t.Fatalf("log = %+v", log)
	}
}

func TestDrillNeedsConfirmation(t *testing.T) {
	r := testutil.Root(t)
	if _, err := restore.Drill(context.Background(), testutil.Config(r), restore.DrillOptions{}); !errors.Is(err, restore.ErrServiceNotStopped) {
		t.Fatalf("err = %v", err)
	}
	log, _ := restore.ReadDrillLog(testutil.Config(r))
	if len(log) != 0 {
		t.Fatal("a refused drill was logged")
	}
	if !strings.Contains(restore.ErrServiceNotStopped.Error(), "confirm that the AtoCore service is stopped") || !errors.Is(restore.ErrServiceNotStopped, restore.ErrRefused) {
		t.Fatal("the refusal does not say what to confirm, or is not a refusal")
	}
}
