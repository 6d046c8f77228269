package offsite_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/atocore/atocore-backup/backup"
	"github.com/atocore/atocore-backup/encrypt"
	"github.com/atocore/atocore-backup/internal/testutil"
	"github.com/atocore/atocore-backup/offsite"
	"github.com/atocore/atocore-backup/restore"
	"github.com/atocore/atocore-backup/target"
)

// The remote drill pulls, verifies, decrypts, validates and restores the
// off-site copy into a scratch root, reads the database, logs the time to
// recover, and leaves the live state and no scratch behind; a damaged
// copy fails the drill, which is logged too.
func TestRemoteDrill(t *testing.T) {
	ctx := context.Background()
	r := testutil.Root(t)
	meta := testutil.Create(t, r, backup.CreateOptions{IncludeChroma: true})
	before := testutil.Fingerprint(t, r.DBPath)
	id, rcpt, err := encrypt.GenerateX25519()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	tg, err := target.Local(dir)
	if err != nil {
		t.Fatal(err)
	}
	signer, trust := pushSigner(t, "prod")
	seal, err := offsite.SealingFrom([]string{rcpt}, "", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := offsite.Push(ctx, testutil.Config(r), tg, offsite.PushOptions{Sealing: seal, Signer: signer}); err != nil {
		t.Fatal(err)
	}
	idFile := filepath.Join(t.TempDir(), "age.key")
	if err := os.WriteFile(idFile, []byte(id+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	open, err := offsite.OpeningFrom(idFile, "")
	if err != nil {
		t.Fatal(err)
	}
	open.Trust = trust
	rec, err := offsite.Drill(ctx, testutil.Config(r), tg, meta.Stamp, offsite.DrillOptions{Opening: open})
	if err != nil || !rec.Pass || rec.RecoverMS <= 0 || !rec.IncludeChroma || rec.FromTarget != tg.URL() ||
		!strings.Contains(rec.Detail, "signature verified") || !strings.Contains(rec.Detail, "rows") {
		t.Fatalf("remote drill = %+v, %v", rec, err)
	}
	if got := testutil.Fingerprint(t, r.DBPath); got != before {
		t.Fatal("the remote drill changed the live database")
	}
	if left, _ := filepath.Glob(filepath.Join(r.BackupDir, ".remote-drill-*")); len(left) != 0 {
		t.Fatalf("scratch left behind: %v", left)
	}
	// Damage the remote database copy: the drill fails, and says why.
	dbs, _ := filepath.Glob(filepath.Join(dir, "snapshots", meta.Stamp, "db", "*.age"))
	if len(dbs) != 1 {
		t.Fatalf("remote db: %v", dbs)
	}
	testutil.Corrupt(t, dbs[0], 200, 1)
	rec, err = offsite.Drill(ctx, testutil.Config(r), tg, meta.Stamp, offsite.DrillOptions{Opening: open})
	if err == nil || rec == nil || rec.Pass || rec.Detail == "" {
		t.Fatalf("drill of a damaged copy = %+v, %v", rec, err)
	}
	log, err := restore.ReadDrillLog(testutil.Config(r))
	if err != nil || len(log) != 2 || !log[0].Pass || log[1].Pass || log[0].FromTarget != tg.URL() {
		t.Fatalf("drill log = %+v, %v", log, err)
	}
}
