package offsite

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/atocore/atocore-backup/internal/snapshot"
)

// A local snapshot of the base's stamp that is damaged (cut short): the
// pull must fall back on the target's own chain, as it does for a local
// base that holds another database (ErrWrongBase).
func TestDamagedLocalBaseFallsBackOnTheTarget(t *testing.T) {
	fx := newDeltaFixture(t)
	m1, _ := fx.next(t, 0)
	m2, p := fx.next(t, 0.01)
	if len(p.PageDeltas) != 1 {
		t.Fatalf("no delta: %+v", p)
	}
	cfg := freshConfig(t)
	if _, err := pullRemote(context.Background(), cfg, fx.remote, m1.Stamp, fx.open); err != nil {
		t.Fatal(err)
	}
	rc, err := cfg.Resolved()
	if err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(snapshot.Dir(rc.BackupDir, m1.Stamp), "db", "atocore.db")
	fi, err := os.Stat(db)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(db, fi.Size()-1); err != nil {
		t.Fatal(err)
	}
	if _, err := pullRemote(context.Background(), cfg, fx.remote, m2.Stamp, fx.open); err != nil {
		t.Fatalf("pull %s on a damaged local base: %v", m2.Stamp, err)
	}
}
