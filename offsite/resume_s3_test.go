package offsite_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	_ "modernc.org/sqlite"

	"github.com/atocore/atocore-backup/backup"
	"github.com/atocore/atocore-backup/encrypt"
	"github.com/atocore/atocore-backup/internal/sample"
	"github.com/atocore/atocore-backup/internal/testutil"
	"github.com/atocore/atocore-backup/offsite"
	"github.com/atocore/atocore-backup/target"
	"github.com/atocore/atocore-backup/target/s3test"
)

// growDB adds mib MiB of random blobs to the root's database, so that its
// snapshot copy is uploaded in several parts.
func growDB(t *testing.T, r *sample.Root, mib int) {
	t.Helper()
	db, err := sql.Open("sqlite", r.DBPath)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("CREATE TABLE bulk(b BLOB)"); err != nil {
		t.Fatal(err)
	}
	for range mib {
		if _, err := db.Exec("INSERT INTO bulk VALUES (randomblob(1048576))"); err != nil {
			t.Fatal(err)
		}
	}
}

// cutPush pushes the latest snapshot and cancels the push once after
// bytes have been read for sending.
func cutPush(t *testing.T, r *sample.Root, tg target.Target, opts offsite.PushOptions, after int64) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var sent int64
	opts.Progress = func(n int64) {
		if sent += n; sent > after {
			cancel()
		}
	}
	if _, err := offsite.Push(ctx, testutil.Config(r), tg, opts); err == nil {
		t.Fatal("the cut-off push succeeded")
	}
}

type journalUpload struct {
	Target string `json:"target"`
	Path   string `json:"path"`
	ID     string `json:"id"`
	Plain  string `json:"plain_sha256"`
	Header []byte `json:"age_header"`
}

type localJournal struct {
	Uploads map[string]journalUpload `json:"uploads"`
}

// upload is the journal's upload of the file at path, and its key in the
// journal's map.
func (j localJournal) upload(t *testing.T, path string) (string, journalUpload) {
	t.Helper()
	for k, u := range j.Uploads {
		if u.Path == path {
			return k, u
		}
	}
	t.Fatalf("the journal records no upload of %s: %+v", path, j)
	return "", journalUpload{}
}

func readJournalFile(t *testing.T, name string) (map[string]any, localJournal) {
	t.Helper()
	data, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]any
	var jr localJournal
	if json.Unmarshal(data, &raw) != nil || json.Unmarshal(data, &jr) != nil {
		t.Fatalf("journal %s: %s", name, data)
	}
	return raw, jr
}

// A push cut off while it uploads the database in parts leaves the parts
// it sent on the server and the upload in this machine's journal (0600):
// the next push continues that upload, encrypting the file again under
// the same age key and nonce, so that the parts the server holds are
// kept (not sent again) and only the rest is sent. What it makes
// validates, restores, and decrypts with the age CLI; the journal, and
// its key, are gone once the push is done.
func testContinuesACutUpload(t *testing.T, srv *s3test.Server, bucket string) {
	ageCLI := testutil.Tool(t, "age")
	r := testutil.Root(t)
	growDB(t, r, 36)
	ctx := context.Background()
	m := testutil.Create(t, r, backup.CreateOptions{IncludeChroma: true})
	id, rcpt, err := encrypt.GenerateX25519()
	if err != nil {
		t.Fatal(err)
	}
	rs, _ := encrypt.ParseRecipients(rcpt)
	idFile := filepath.Join(t.TempDir(), "id.txt")
	_ = os.WriteFile(idFile, []byte(id+"\n"), 0o600)
	ids, _ := encrypt.IdentitiesFromFile(idFile)
	signer, trust := pushSigner(t, "prod")
	tg := s3TargetIn(t, srv, bucket, target.Options{Create: true})
	opts := offsite.PushOptions{Sealing: offsite.Sealing{Recipients: rs}, Signer: signer}

	cutPush(t, r, tg, opts, 34<<20)
	jname := filepath.Join(r.BackupDir, ".push-state", "incoming-"+m.Stamp+".json")
	if fi, err := os.Stat(jname); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("the local journal: %v, %v; want it, 0600", fi, err)
	}
	_, jr := readJournalFile(t, jname)
	_, up := jr.upload(t, "db/atocore.db.age")
	if up.ID == "" || up.Target != tg.URL() {
		t.Fatalf("the journal's upload of the database: %+v (target %s)", up, tg.URL())
	}
	key := "offsite/snapshots/" + m.Stamp + "/db/atocore.db.age"
	parts, err := srv.Client().ListParts(ctx, &s3.ListPartsInput{Bucket: &bucket, Key: &key, UploadId: &up.ID})
	if err != nil || len(parts.Parts) == 0 {
		t.Fatalf("the cut-off upload holds %d parts (%v); the cut came too early", len(parts.Parts), err)
	}
	var held int64
	for _, p := range parts.Parts {
		held += aws.ToInt64(p.Size)
	}

	res, err := offsite.Push(ctx, testutil.Config(r), tg, opts)
	if err != nil || len(res.Pushed) != 1 {
		t.Fatalf("the push after the cut = %+v, %v", res, err)
	}
	p := res.Pushed[0]
	t.Logf("cut upload held %d parts (%d bytes); the next push kept %d bytes, sent %d", len(parts.Parts), held, p.BytesResumed, p.BytesSent)
	if p.BytesResumed != held {
		t.Errorf("the push kept %d bytes of the cut-off upload, which held %d", p.BytesResumed, held)
	}
	if _, err := os.Stat(jname); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the local journal (with its file keys) outlives the push: %v", err)
	}
	ro := s3TargetIn(t, srv, bucket, target.Options{})
	if v, err := offsite.Validate(ctx, ro, m.Stamp, offsite.Opening{Identities: ids, Trust: trust}); err != nil || !v.Valid {
		t.Fatalf("remote validate = %+v, %v", v, err)
	}
	obj, err := srv.Client().GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: &key})
	if err != nil {
		t.Fatal(err)
	}
	enc := filepath.Join(t.TempDir(), "atocore.db.age")
	f, _ := os.Create(enc)
	_, err = io.Copy(f, obj.Body)
	obj.Body.Close()
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(ageCLI, "-d", "-i", idFile, enc).Output()
	if err != nil {
		t.Fatalf("age -d of the continued upload: %v", err)
	}
	local, err := os.ReadFile(filepath.Join(r.BackupDir, "snapshots", m.Stamp, "db", "atocore.db"))
	if err != nil {
		t.Fatal(err)
	}
	if sha256.Sum256(out) != sha256.Sum256(local) {
		t.Fatalf("age -d gives %d bytes that differ from the snapshot's %d", len(out), len(local))
	}
}

// A recorded upload whose plaintext digest is not the file's (the local
// file changed, or the record is not this file's) is never continued
// under its key: it is aborted on the server, and the file is sent whole
// under a new key.
func testDoesNotReuseAKeyForOtherBytes(t *testing.T, srv *s3test.Server, bucket string) {
	r := testutil.Root(t)
	growDB(t, r, 36)
	ctx := context.Background()
	m := testutil.Create(t, r, backup.CreateOptions{IncludeChroma: true})
	_, rcpt, _ := encrypt.GenerateX25519()
	rs, _ := encrypt.ParseRecipients(rcpt)
	signer, _ := pushSigner(t, "prod")
	tg := s3TargetIn(t, srv, bucket, target.Options{Create: true})
	opts := offsite.PushOptions{Sealing: offsite.Sealing{Recipients: rs}, Signer: signer}
	cutPush(t, r, tg, opts, 30<<20)

	jname := filepath.Join(r.BackupDir, ".push-state", "incoming-"+m.Stamp+".json")
	raw, jr := readJournalFile(t, jname)
	k, up := jr.upload(t, "db/atocore.db.age")
	other := sha256.Sum256([]byte("other bytes"))
	raw["uploads"].(map[string]any)[k].(map[string]any)["plain_sha256"] = hex.EncodeToString(other[:])
	data, _ := json.Marshal(raw)
	if err := os.WriteFile(jname, data, 0o600); err != nil {
		t.Fatal(err)
	}
	res, err := offsite.Push(ctx, testutil.Config(r), tg, opts)
	if err != nil || len(res.Pushed) != 1 {
		t.Fatalf("push = %+v, %v", res, err)
	}
	if res.Pushed[0].BytesResumed != 0 {
		t.Errorf("the push kept %d bytes uploaded under a key recorded for other bytes", res.Pushed[0].BytesResumed)
	}
	key := "offsite/snapshots/" + m.Stamp + "/db/atocore.db.age"
	if _, err := srv.Client().ListParts(ctx, &s3.ListPartsInput{Bucket: &bucket, Key: &key, UploadId: &up.ID}); err == nil {
		t.Error("the upload recorded for other bytes was not aborted")
	}
}

// A push whose local file did not match its manifest when it was cut off
// (damaged, then repaired) never leaves the target two ciphertexts of one
// part under one age key and nonce: a resumable upload is started only
// for a file that hashes to its manifest's digest, and a part the target
// holds that is not the part to send fails the continued upload, which
// is then aborted and sent whole under a new key.
func testNeverReusesAKeystream(t *testing.T, srv *s3test.Server, bucket string) {
	r := testutil.Root(t)
	growDB(t, r, 36)
	ctx := context.Background()
	m := testutil.Create(t, r, backup.CreateOptions{IncludeChroma: true})
	_, rcpt, _ := encrypt.GenerateX25519()
	rs, _ := encrypt.ParseRecipients(rcpt)
	signer, _ := pushSigner(t, "prod")
	tg := s3TargetIn(t, srv, bucket, target.Options{Create: true})
	opts := offsite.PushOptions{Sealing: offsite.Sealing{Recipients: rs}, Signer: signer}
	dbFile := filepath.Join(r.BackupDir, "snapshots", m.Stamp, "db", "atocore.db")
	orig, err := os.ReadFile(dbFile)
	if err != nil {
		t.Fatal(err)
	}
	bad := bytes.Clone(orig)
	for k := range 2 {
		off := k*target.S3PartSize + 1<<20
		clear(bad[off : off+4096])
	}
	if err := os.WriteFile(dbFile, bad, 0o600); err != nil {
		t.Fatal(err)
	}
	cutPush(t, r, tg, opts, 34<<20)
	jname := filepath.Join(r.BackupDir, ".push-state", "incoming-"+m.Stamp+".json")
	_, jr := readJournalFile(t, jname)
	for _, u := range jr.Uploads {
		if u.Path == "db/atocore.db.age" {
			t.Fatalf("a resumable upload (with its key) was started for a file that does not match its manifest: %+v", u)
		}
	}
	if err := os.WriteFile(dbFile, orig, 0o600); err != nil { // repaired
		t.Fatal(err)
	}
	res, err := offsite.Push(ctx, testutil.Config(r), tg, opts)
	if err != nil || len(res.Pushed) != 1 {
		t.Fatalf("push after the repair = %+v, %v", res, err)
	}
	if res.Pushed[0].BytesResumed != 0 {
		t.Errorf("the push kept %d bytes of an upload of other bytes", res.Pushed[0].BytesResumed)
	}
}

// The local journal of a stamp that is no longer a local snapshot (pruned
// before it was pushed) is removed by the next push, and its upload in
// parts to that target aborted: no file key outlives its plaintext.
func testForgetsJournalsOfGoneSnapshots(t *testing.T, srv *s3test.Server, bucket string) {
	r := testutil.Root(t)
	growDB(t, r, 36)
	ctx := context.Background()
	m := testutil.Create(t, r, backup.CreateOptions{IncludeChroma: true})
	_, rcpt, _ := encrypt.GenerateX25519()
	rs, _ := encrypt.ParseRecipients(rcpt)
	signer, _ := pushSigner(t, "prod")
	tg := s3TargetIn(t, srv, bucket, target.Options{Create: true})
	opts := offsite.PushOptions{Sealing: offsite.Sealing{Recipients: rs}, Signer: signer}
	cutPush(t, r, tg, opts, 30<<20)
	jname := filepath.Join(r.BackupDir, ".push-state", "incoming-"+m.Stamp+".json")
	_, jr := readJournalFile(t, jname)
	_, up := jr.upload(t, "db/atocore.db.age")

	if err := os.RemoveAll(filepath.Join(r.BackupDir, "snapshots", m.Stamp)); err != nil { // gone before it was pushed
		t.Fatal(err)
	}
	testutil.Create(t, r, backup.CreateOptions{IncludeChroma: true})
	if _, err := offsite.Push(ctx, testutil.Config(r), tg, opts); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(jname); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the journal of the gone snapshot is still there: %v", err)
	}
	key := "offsite/snapshots/" + m.Stamp + "/db/atocore.db.age"
	if _, err := srv.Client().ListParts(ctx, &s3.ListPartsInput{Bucket: &bucket, Key: &key, UploadId: &up.ID}); err == nil {
		t.Error("the gone snapshot's upload was not aborted")
	}
}

// A cut-off upload whose part on the server is not the part this machine
// sent (replaced by another client of the bucket) is not continued: the
// push aborts it and sends the file whole under a new key.
func testAbortsAnUploadWhosePartsDiffer(t *testing.T, srv *s3test.Server, bucket string) {
	r := testutil.Root(t)
	growDB(t, r, 36)
	ctx := context.Background()
	m := testutil.Create(t, r, backup.CreateOptions{IncludeChroma: true})
	id, rcpt, _ := encrypt.GenerateX25519()
	rs, _ := encrypt.ParseRecipients(rcpt)
	idFile := filepath.Join(t.TempDir(), "id.txt")
	_ = os.WriteFile(idFile, []byte(id+"\n"), 0o600)
	ids, _ := encrypt.IdentitiesFromFile(idFile)
	signer, trust := pushSigner(t, "prod")
	tg := s3TargetIn(t, srv, bucket, target.Options{Create: true})
	opts := offsite.PushOptions{Sealing: offsite.Sealing{Recipients: rs}, Signer: signer}
	cutPush(t, r, tg, opts, 34<<20)
	jname := filepath.Join(r.BackupDir, ".push-state", "incoming-"+m.Stamp+".json")
	_, jr := readJournalFile(t, jname)
	_, up := jr.upload(t, "db/atocore.db.age")
	key := "offsite/snapshots/" + m.Stamp + "/db/atocore.db.age"
	junk := bytes.Repeat([]byte{0x5a}, target.S3PartSize)
	if _, err := srv.Client().UploadPart(ctx, &s3.UploadPartInput{Bucket: &bucket, Key: &key, UploadId: &up.ID,
		PartNumber: aws.Int32(1), Body: bytes.NewReader(junk), ContentLength: aws.Int64(int64(len(junk))),
		ChecksumAlgorithm: types.ChecksumAlgorithmSha256}); err != nil {
		t.Fatal(err)
	}
	res, err := offsite.Push(ctx, testutil.Config(r), tg, opts)
	if err != nil || len(res.Pushed) != 1 {
		t.Fatalf("push = %+v, %v", res, err)
	}
	if res.Pushed[0].BytesResumed != 0 {
		t.Errorf("the push kept %d bytes of an upload whose first part was replaced", res.Pushed[0].BytesResumed)
	}
	if _, err := srv.Client().ListParts(ctx, &s3.ListPartsInput{Bucket: &bucket, Key: &key, UploadId: &up.ID}); err == nil {
		t.Error("the upload whose part differs was not aborted")
	}
	if v, err := offsite.Validate(ctx, s3TargetIn(t, srv, bucket, target.Options{}), m.Stamp, offsite.Opening{Identities: ids, Trust: trust}); err != nil || !v.Valid {
		t.Fatalf("remote validate = %+v, %v", v, err)
	}
}

// The resume tests share one S3 server and run side by side, each in a
// bucket of its own: each encrypts tens of MiB, which the race detector
// makes slow.
func TestS3PushResume(t *testing.T) {
	srv := s3test.Start(t)
	for _, tc := range []struct {
		name string
		fn   func(*testing.T, *s3test.Server, string)
	}{
		{"ContinuesACutUpload", testContinuesACutUpload},
		{"DoesNotReuseAKeyForOtherBytes", testDoesNotReuseAKeyForOtherBytes},
		{"NeverReusesAKeystream", testNeverReusesAKeystream},
		{"ForgetsJournalsOfGoneSnapshots", testForgetsJournalsOfGoneSnapshots},
		{"AbortsAnUploadWhosePartsDiffer", testAbortsAnUploadWhosePartsDiffer},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, srv, srv.NewBucket(t, false))
		})
	}
}
