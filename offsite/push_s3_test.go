package offsite_test

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/spf13/afero"

	"github.com/atocore/atocore-backup/backup"
	"github.com/atocore/atocore-backup/encrypt"
	"github.com/atocore/atocore-backup/internal/sample"
	"github.com/atocore/atocore-backup/internal/snapshot"
	"github.com/atocore/atocore-backup/internal/testutil"
	"github.com/atocore/atocore-backup/offsite"
	"github.com/atocore/atocore-backup/restore"
	"github.com/atocore/atocore-backup/target"
	"github.com/atocore/atocore-backup/target/s3test"
)

func s3Target(t *testing.T, srv *s3test.Server, o target.Options) target.Target {
	t.Helper()
	return s3TargetIn(t, srv, srv.Bucket, o)
}

func s3TargetIn(t *testing.T, srv *s3test.Server, bucket string, o target.Options) target.Target {
	t.Helper()
	tg, err := target.Open(context.Background(), srv.URL(bucket, "offsite"), o)
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

	// The second snapshot's database goes as the pages that changed.
	if _, err := sample.ChangeRows(ctx, r.DBPath, 0.01, 3); err != nil {
		t.Fatal(err)
	}
	second := testutil.Create(t, r, backup.CreateOptions{IncludeChroma: true})
	res2, err := offsite.Push(ctx, testutil.Config(r), tg, offsite.PushOptions{Sealing: offsite.Sealing{Recipients: rs}, Signer: signer})
	if err != nil || len(res2.Pushed) != 1 || res2.Pushed[0].Stamp != second.Stamp || len(res2.Pushed[0].PageDeltas) != 1 {
		t.Fatalf("second push = %+v, %v", res2, err)
	}
	t.Logf("second push: %d bytes (%+v)", res2.BytesSent, res2.Pushed[0])
	if v, err := offsite.Validate(ctx, ro, second.Stamp, offsite.Opening{Identities: ids, Trust: trust}); err != nil || !v.Valid {
		t.Fatalf("remote validate of the second = %+v, %v", v, err)
	}
	// Unchanged since: the delta is copied on the server under its name.
	time.Sleep(1100 * time.Millisecond)
	third := testutil.Create(t, r, backup.CreateOptions{IncludeChroma: true})
	res3, err := offsite.Push(ctx, testutil.Config(r), tg, offsite.PushOptions{Sealing: offsite.Sealing{Recipients: rs}, Signer: signer})
	if err != nil || len(res3.Pushed) != 1 || res3.Pushed[0].Sent != 2 {
		t.Fatalf("third push (nothing changed) = %+v, %v", res3, err)
	}
	if list, err := offsite.List(ctx, ro, trust); err != nil || len(list) != 3 {
		t.Fatalf("remote list after three pushes = %+v, %v", list, err)
	}
	elsewhere := backup.Config{Paths: backup.Paths{Root: t.TempDir()}}
	if _, err := offsite.Pull(ctx, elsewhere, ro, third.Stamp, offsite.Opening{Identities: ids, Trust: trust}); err != nil {
		t.Fatal(err)
	}
	if _, err := restore.Run(ctx, elsewhere, third.Stamp, restore.Options{ConfirmServiceStopped: true}); err != nil {
		t.Fatal(err)
	}
	if testutil.Fingerprint(t, filepath.Join(elsewhere.Root, "data", "db", "atocore.db")) != testutil.Fingerprint(t, r.DBPath) {
		t.Fatal("the database rebuilt from the bucket's page delta differs")
	}
}

// With Object Lock (a bucket made with it, PushOptions.ObjectLock), every
// object of a pushed snapshot is under retention on the server: remote
// validate --quick checks the stored checksums against the statement
// without reading a file, remote prune keeps the locked snapshot and says
// why, the server refuses to delete a locked version, and what was pushed
// is read back by clients we did not write: the aws CLI lists and
// downloads it, age -d decrypts it.
func TestObjectLockedPushOverS3(t *testing.T) {
	awsCLI, ageCLI := testutil.Tool(t, "aws"), testutil.Tool(t, "age")
	srv := s3test.Start(t)
	ctx := context.Background()
	r := testutil.Root(t)
	id, rcpt, err := encrypt.GenerateX25519()
	if err != nil {
		t.Fatal(err)
	}
	rs, _ := encrypt.ParseRecipients(rcpt)
	idFile := filepath.Join(t.TempDir(), "id.txt")
	_ = os.WriteFile(idFile, []byte(id+"\n"), 0o600)
	signer, trust := pushSigner(t, "prod")
	opts := offsite.PushOptions{Sealing: offsite.Sealing{Recipients: rs}, Signer: signer, ObjectLock: offsite.ObjectLock{Days: 1}}

	// A bucket without Object Lock is refused before anything is sent.
	testutil.Create(t, r, backup.CreateOptions{IncludeChroma: true})
	plain := s3Target(t, srv, target.Options{Create: true})
	if _, err := offsite.Push(ctx, testutil.Config(r), plain, opts); !errors.Is(err, offsite.ErrCannotLock) {
		t.Fatalf("locked push to a bucket without Object Lock: %v, want ErrCannotLock", err)
	}
	if out, err := srv.Client().ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &srv.Bucket, Prefix: aws.String("offsite/snapshots/")}); err != nil || len(out.Contents) != 0 {
		t.Fatalf("the refused push left %d objects (%v)", len(out.Contents), err)
	}

	tg := s3TargetIn(t, srv, srv.LockedBucket, target.Options{Create: true})
	var stamps []string
	for i := range 2 {
		if i > 0 {
			testutil.Create(t, r, backup.CreateOptions{IncludeChroma: true})
		}
		res, err := offsite.Push(ctx, testutil.Config(r), tg, opts)
		if err != nil || len(res.Pushed) != 1 {
			t.Fatalf("push = %+v, %v", res, err)
		}
		stamps = append(stamps, res.Pushed[0].Stamp)
	}
	for _, s := range stamps {
		v, err := offsite.ValidateQuick(ctx, tg, s, offsite.Opening{Trust: trust})
		if err != nil || !v.Valid {
			t.Fatalf("remote validate --quick %s = %+v, %v", s, v, err)
		}
	}

	// Every object is locked on the server, for about a day.
	c := srv.Client()
	prefix := "offsite/snapshots/" + stamps[0] + "/"
	out, err := c.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: &srv.LockedBucket, Prefix: &prefix})
	if err != nil || len(out.Versions) < 5 {
		t.Fatalf("versions under %s: %d, %v", prefix, len(out.Versions), err)
	}
	var metaKey string
	var locked *types.ObjectVersion
	for _, v := range out.Versions {
		key := aws.ToString(v.Key)
		if strings.HasSuffix(key, "/") {
			continue // a directory marker
		}
		ret, err := c.GetObjectRetention(ctx, &s3.GetObjectRetentionInput{Bucket: &srv.LockedBucket, Key: v.Key, VersionId: v.VersionId})
		if err != nil || ret.Retention == nil || time.Until(aws.ToTime(ret.Retention.RetainUntilDate)) < 23*time.Hour {
			t.Errorf("%s is not locked for a day: %+v, %v", key, ret, err)
		}
		if strings.HasSuffix(key, "/"+snapshot.MetadataFile+".age") {
			metaKey, locked = key, &v
		}
	}
	if locked != nil {
		if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &srv.LockedBucket, Key: locked.Key, VersionId: locked.VersionId}); err == nil {
			t.Errorf("the server deleted the locked %s", metaKey)
		}
	}

	// Retention keeps only the newest; the lock keeps the other, and says so.
	pr, err := offsite.Prune(ctx, tg, backup.PruneOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(pr.Removed) != 0 || !strings.Contains(pr.Held[stamps[0]], "lock") {
		t.Fatalf("prune under lock: removed %v, held %v, kept %v", pr.Removed, pr.Held, pr.Kept)
	}
	if list, err := offsite.List(ctx, tg, trust); err != nil || len(list) != 2 {
		t.Fatalf("remote list after the held prune: %+v, %v", list, err)
	}

	// The aws CLI lists and downloads it; age decrypts it.
	if metaKey == "" {
		t.Fatalf("no %s.age under %s", snapshot.MetadataFile, prefix)
	}
	cli := func(args ...string) []byte {
		t.Helper()
		cctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
		b, err := exec.CommandContext(cctx, args[0], args[1:]...).CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, b)
		}
		return b
	}
	ls := cli(awsCLI, "--endpoint-url", srv.Endpoint, "s3", "ls", "--recursive", "s3://"+srv.LockedBucket+"/offsite/snapshots/")
	for _, s := range stamps {
		if !strings.Contains(string(ls), "offsite/snapshots/"+s+"/"+offsite.StatementFile) {
			t.Errorf("aws s3 ls does not list %s's statement:\n%s", s, ls)
		}
	}
	enc := filepath.Join(t.TempDir(), "meta.age")
	cli(awsCLI, "--endpoint-url", srv.Endpoint, "s3", "cp", "s3://"+srv.LockedBucket+"/"+metaKey, enc)
	decrypted := cli(ageCLI, "-d", "-i", idFile, enc)
	local, err := os.ReadFile(filepath.Join(r.BackupDir, snapshot.SnapshotsDir, stamps[0], snapshot.MetadataFile))
	if err != nil || string(decrypted) != string(local) {
		t.Fatalf("age -d of what aws s3 cp fetched differs from the local %s (%v)", snapshot.MetadataFile, err)
	}
}

// A file larger than one part (a 40 MiB Chroma segment) is uploaded in
// parts; the statement records the composite checksum the server keeps,
// and remote validate --quick checks it without reading a byte, also in
// the next snapshot, where the unchanged segment is a server-side copy.
func TestQuickValidateOfMultipartFilesOverS3(t *testing.T) {
	srv := s3test.Start(t)
	ctx := context.Background()
	r, err := sample.Generate(ctx, t.TempDir(), sample.Options{Seed: 5, ChromaBytes: 40 << 20, Segments: 1})
	if err != nil {
		t.Fatal(err)
	}
	signer, trust := pushSigner(t, "prod")
	tg := s3Target(t, srv, target.Options{Create: true})
	var stamps []string
	for i := range 2 {
		testutil.Create(t, r, backup.CreateOptions{IncludeChroma: true})
		res, err := offsite.Push(ctx, testutil.Config(r), tg, offsite.PushOptions{Signer: signer})
		if err != nil || len(res.Pushed) != 1 {
			t.Fatalf("push %d = %+v, %v", i, res, err)
		}
		stamps = append(stamps, res.Pushed[0].Stamp)
		if i == 1 && res.Pushed[0].Linked == 0 {
			t.Errorf("the second push copied nothing on the server: %+v", res.Pushed[0])
		}
	}
	multipart := 0
	sums := tg.FS().(target.ChecksumReporter)
	for _, s := range stamps {
		v, err := offsite.ValidateQuick(ctx, tg, s, offsite.Opening{Trust: trust})
		if err != nil || !v.Valid {
			t.Fatalf("remote validate --quick %s = %+v, %v", s, v, err)
		}
		_ = afero.Walk(tg.FS(), path.Join(tg.Root(), "snapshots", s), func(p string, info fs.FileInfo, err error) error {
			if err == nil && !info.IsDir() {
				if _, parts, err := sums.StoredSHA256(p); err == nil && parts > 0 {
					multipart++
				}
			}
			return nil
		})
	}
	if multipart == 0 {
		t.Fatal("no file of either snapshot is stored in parts: the composite checksums went untested")
	}
}

// countingProxy is a reverse proxy in front of srv that counts the
// requests through it, by method.
func countingProxy(t *testing.T, srv *s3test.Server) (endpoint string, counts func() map[string]int) {
	t.Helper()
	u, err := url.Parse(srv.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	n := map[string]int{}
	rp := httputil.NewSingleHostReverseProxy(u)
	ps := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		n[r.Method]++
		mu.Unlock()
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(ps.Close)
	return ps.URL, func() map[string]int {
		mu.Lock()
		defer mu.Unlock()
		out := maps.Clone(n)
		clear(n)
		return out
	}
}

func total(m map[string]int) int {
	s := 0
	for _, v := range m {
		s += v
	}
	return s
}

// A push to object storage costs a few requests per file, not a walk of
// emulated directories: a full push at most 3 per file (the upload and
// its stored checksum; nothing to find its name free in the snapshot
// directory it made), an incremental one at most 5 per unchanged file
// (the server-side copy, its source's size and its stored checksum),
// plus a fixed number per push (the claim, the target id, the previous
// statement, the statement and its read-back). Before the directory
// cache, tree listings and the object-store path, the full push of this
// root took 504 requests (34 a file), the incremental 552 (37 a file).
func TestS3PushRequests(t *testing.T) {
	srv := s3test.Start(t)
	endpoint, counts := countingProxy(t, srv)
	r := testutil.Root(t)
	ctx := context.Background()
	_, rcpt, err := encrypt.GenerateX25519()
	if err != nil {
		t.Fatal(err)
	}
	rs, _ := encrypt.ParseRecipients(rcpt)
	signer, _ := pushSigner(t, "prod")
	addr := "s3://" + srv.Bucket + "/counted?endpoint=" + url.QueryEscape(endpoint)
	tg, err := target.Open(ctx, addr, target.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer tg.Close()
	opts := offsite.PushOptions{Sealing: offsite.Sealing{Recipients: rs}, Signer: signer}
	first := testutil.Create(t, r, backup.CreateOptions{IncludeChroma: true})
	counts()
	res, err := offsite.Push(ctx, testutil.Config(r), tg, opts)
	if err != nil || len(res.Pushed) != 1 {
		t.Fatalf("push = %+v, %v", res, err)
	}
	full := counts()
	files := res.Pushed[0].Files
	t.Logf("full push of %d files: %d requests %v", files, total(full), full)
	if max := 3*files + 40; total(full) > max {
		t.Errorf("the full push of %d files made %d requests (%v), want at most %d", files, total(full), full, max)
	}

	second := testutil.Create(t, r, backup.CreateOptions{IncludeChroma: true})
	if second.Stamp == first.Stamp {
		t.Fatal("same stamp")
	}
	res, err = offsite.Push(ctx, testutil.Config(r), tg, opts)
	if err != nil || len(res.Pushed) != 1 || res.Pushed[0].Linked == 0 {
		t.Fatalf("second push = %+v, %v", res, err)
	}
	inc := counts()
	p := res.Pushed[0]
	t.Logf("incremental push, %d sent, %d copied: %d requests %v", p.Sent, p.Linked, total(inc), inc)
	if max := 3*p.Sent + 5*p.Linked + 60; total(inc) > max {
		t.Errorf("the incremental push (%d sent, %d copied) made %d requests (%v), want at most %d", p.Sent, p.Linked, total(inc), inc, max)
	}
}

// A push cut off after a file's upload completed, and before the local
// journal said so, leaves that object under the snapshot's place: the next
// push replaces it (it cannot tell those bytes are its own) and the
// snapshot validates.
func TestS3PushReplacesAnUnjournaledObject(t *testing.T) {
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
	ids, _ := encrypt.IdentitiesFromFile(idFile)
	signer, trust := pushSigner(t, "prod")
	tg := s3Target(t, srv, target.Options{Create: true})
	key := "offsite/snapshots/" + m.Stamp + "/db/atocore.db.age"
	if _, err := srv.Client().PutObject(ctx, &s3.PutObjectInput{Bucket: &srv.Bucket, Key: &key, Body: strings.NewReader("left by a cut-off push")}); err != nil {
		t.Fatal(err)
	}
	res, err := offsite.Push(ctx, testutil.Config(r), tg, offsite.PushOptions{Sealing: offsite.Sealing{Recipients: rs}, Signer: signer})
	if err != nil || len(res.Pushed) != 1 {
		t.Fatalf("push over an unjournaled object = %+v, %v", res, err)
	}
	if v, err := offsite.Validate(ctx, s3Target(t, srv, target.Options{}), m.Stamp, offsite.Opening{Identities: ids, Trust: trust}); err != nil || !v.Valid {
		t.Fatalf("remote validate = %+v, %v", v, err)
	}
}

// An unchanged file whose source on the target was damaged (other bytes
// of its size) is not copied on: the server's checksum of the copy is not
// the digest it was pushed with, so it is uploaded after the copies that
// run beside the uploads, and the new snapshot validates.
func TestS3PushUploadsWhatItCannotCopy(t *testing.T) {
	srv := s3test.Start(t)
	r := testutil.Root(t)
	ctx := context.Background()
	id, rcpt, err := encrypt.GenerateX25519()
	if err != nil {
		t.Fatal(err)
	}
	rs, _ := encrypt.ParseRecipients(rcpt)
	idFile := filepath.Join(t.TempDir(), "id.txt")
	_ = os.WriteFile(idFile, []byte(id+"\n"), 0o600)
	ids, _ := encrypt.IdentitiesFromFile(idFile)
	signer, trust := pushSigner(t, "prod")
	tg := s3Target(t, srv, target.Options{Create: true})
	opts := offsite.PushOptions{Sealing: offsite.Sealing{Recipients: rs}, Signer: signer}
	first := testutil.Create(t, r, backup.CreateOptions{IncludeChroma: true})
	if _, err := offsite.Push(ctx, testutil.Config(r), tg, opts); err != nil {
		t.Fatal(err)
	}
	list, err := srv.Client().ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &srv.Bucket, Prefix: aws.String("offsite/snapshots/" + first.Stamp + "/chroma/")})
	if err != nil {
		t.Fatal(err)
	}
	var victim string
	var size int64
	for _, o := range list.Contents {
		if strings.HasSuffix(aws.ToString(o.Key), "/header.bin.age") {
			victim, size = aws.ToString(o.Key), aws.ToInt64(o.Size)
			break
		}
	}
	if victim == "" {
		t.Fatal("no header.bin.age pushed")
	}
	junk := strings.Repeat("x", int(size))
	if _, err := srv.Client().PutObject(ctx, &s3.PutObjectInput{Bucket: &srv.Bucket, Key: &victim, Body: strings.NewReader(junk)}); err != nil {
		t.Fatal(err)
	}
	second := testutil.Create(t, r, backup.CreateOptions{IncludeChroma: true})
	res, err := offsite.Push(ctx, testutil.Config(r), tg, opts)
	if err != nil || len(res.Pushed) != 1 {
		t.Fatalf("second push = %+v, %v", res, err)
	}
	p := res.Pushed[0]
	if p.Linked == 0 || p.Sent+p.Linked != p.Files {
		t.Fatalf("second push: %d copied, %d sent of %d files", p.Linked, p.Sent, p.Files)
	}
	rel := strings.TrimPrefix(victim, "offsite/snapshots/"+first.Stamp+"/")
	obj, err := srv.Client().GetObject(ctx, &s3.GetObjectInput{Bucket: &srv.Bucket, Key: aws.String("offsite/snapshots/" + second.Stamp + "/" + rel)})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(obj.Body)
	obj.Body.Close()
	if string(got) == junk {
		t.Fatal("the damaged source was copied into the new snapshot")
	}
	if v, err := offsite.Validate(ctx, s3Target(t, srv, target.Options{}), second.Stamp, offsite.Opening{Identities: ids, Trust: trust}); err != nil || !v.Valid {
		t.Fatalf("remote validate of the second = %+v, %v", v, err)
	}
}
