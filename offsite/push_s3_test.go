package offsite_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/atocore/atocore-backup/backup"
	"github.com/atocore/atocore-backup/encrypt"
	"github.com/atocore/atocore-backup/internal/testutil"
	"github.com/atocore/atocore-backup/offsite"
	"github.com/atocore/atocore-backup/restore"
	"github.com/atocore/atocore-backup/target"
	"github.com/atocore/atocore-backup/target/s3test"
)

func s3Target(t *testing.T, srv *s3test.Server, o target.Options) target.Target {
	t.Helper()
	tg, err := target.Open(context.Background(), srv.URL(srv.Bucket, "offsite"), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tg.Close() })
	return tg
}

// Push (encrypted, signed), remote list, remote validate, pull onto an
// empty machine and restore, through a real S3 server (versitygw): the
// disaster-recovery path with nothing but the address, the credentials,
// the signer's key and the identity. A second push after a change sends
// the changed files and carries the others over on the server.
func TestPushPullOverS3(t *testing.T) {
	srv := s3test.Start(t)
	r := testutil.Root(t)
	ctx := context.Background()
	m := testutil.Create(t, r, backup.CreateOptions{IncludeChroma: true})
	id, rcpt, err := encrypt.GenerateX25519()
	if err != nil {
		t.Fatal(err)
	}
	rs, _ := encrypt.ParseRecipients(rcpt)
	idFile := filepath.Join(t.TempDir(), "id.txt")
	_ = os.WriteFile(idFile, []byte(id+"\n"), 0o600)
	ids, err := encrypt.IdentitiesFromFile(idFile)
	if err != nil {
		t.Fatal(err)
	}
	signer, trust := pushSigner(t, "prod")

	tg := s3Target(t, srv, target.Options{Create: true})
	res, err := offsite.Push(ctx, testutil.Config(r), tg, offsite.PushOptions{Sealing: offsite.Sealing{Recipients: rs}, Signer: signer})
	if err != nil || len(res.Pushed) != 1 {
		t.Fatalf("push = %+v, %v", res, err)
	}
	t.Logf("first push: %d bytes", res.BytesSent)

	// A reader that opens the target anew, as another machine would.
	ro := s3Target(t, srv, target.Options{})
	list, err := offsite.List(ctx, ro, trust)
	if err != nil || len(list) != 1 || list[0].Stamp != m.Stamp || !list[0].Encrypted || list[0].Signature != "verified" {
		t.Fatalf("remote list = %+v, %v", list, err)
	}
	v, err := offsite.Validate(ctx, ro, m.Stamp, offsite.Opening{Identities: ids, Trust: trust})
	if err != nil || !v.Valid {
		t.Fatalf("remote validate = %+v, %v", v, err)
	}
	fresh := backup.Config{Paths: backup.Paths{Root: t.TempDir()}}
	if _, err := offsite.Pull(ctx, fresh, ro, m.Stamp, offsite.Opening{Identities: ids, Trust: trust}); err != nil {
		t.Fatal(err)
	}
	if _, err := restore.Run(ctx, fresh, m.Stamp, restore.Options{ConfirmServiceStopped: true}); err != nil {
		t.Fatal(err)
	}
	if testutil.Fingerprint(t, filepath.Join(fresh.Root, "data", "db", "atocore.db")) != testutil.Fingerprint(t, r.DBPath) {
		t.Fatal("restored content differs")
	}

	second := testutil.Create(t, r, backup.CreateOptions{IncludeChroma: true})
	res2, err := offsite.Push(ctx, testutil.Config(r), tg, offsite.PushOptions{Sealing: offsite.Sealing{Recipients: rs}, Signer: signer})
	if err != nil || len(res2.Pushed) != 1 || res2.Pushed[0].Stamp != second.Stamp {
		t.Fatalf("second push = %+v, %v", res2, err)
	}
	t.Logf("second push: %d bytes (%+v)", res2.BytesSent, res2.Pushed[0])
	if v, err := offsite.Validate(ctx, ro, second.Stamp, offsite.Opening{Identities: ids, Trust: trust}); err != nil || !v.Valid {
		t.Fatalf("remote validate of the second = %+v, %v", v, err)
	}
	if list, err := offsite.List(ctx, ro, trust); err != nil || len(list) != 2 {
		t.Fatalf("remote list after two pushes = %+v, %v", list, err)
	}
}
