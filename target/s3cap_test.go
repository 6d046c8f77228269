package target_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/spf13/afero"

	"github.com/atocore/atocore-backup/internal/testutil"
	"github.com/atocore/atocore-backup/target"
	"github.com/atocore/atocore-backup/target/s3test"
)

// randomBytes is n deterministic pseudo-random bytes.
func randomBytes(n int, seed byte) []byte {
	b := make([]byte, n)
	_, _ = io.ReadFull(rand.NewChaCha8([32]byte{seed}), b)
	return b
}

func openS3(t *testing.T, srv *s3test.Server, bucket, prefix string, o target.Options) target.Target {
	t.Helper()
	o.Create = true
	tgt, err := target.Open(t.Context(), srv.URL(bucket, prefix), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tgt.Close() })
	return tgt
}

// A 40 MiB file goes up in three parts of 16 MiB; the checksum the server
// keeps is the composite that CompositeSHA256 computes from the bytes. A
// file of exactly one part size is one PutObject: the plain SHA-256.
func TestS3StoredChecksumIsTheComposite(t *testing.T) {
	srv := s3test.Start(t)
	tgt := openS3(t, srv, srv.Bucket, "sums", target.Options{})
	fsys := tgt.FS()
	cr := fsys.(target.ChecksumReporter)
	for _, tc := range []struct {
		name  string
		size  int
		parts int
	}{
		{"big.bin", 40 << 20, 3},
		{"exact.bin", target.S3PartSize, 0},
		{"empty.bin", 0, 0},
	} {
		data := randomBytes(tc.size, 7)
		if _, err := target.WriteFileFrom(fsys, "/"+tc.name, bytes.NewReader(data), 0o600); err != nil {
			t.Fatal(err)
		}
		sum, parts, err := cr.StoredSHA256("/" + tc.name)
		if err != nil {
			t.Fatalf("%s: StoredSHA256: %v", tc.name, err)
		}
		want, wantParts, err := target.CompositeSHA256(bytes.NewReader(data), target.S3PartSize)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(sum, want) || parts != wantParts || parts != tc.parts {
			t.Errorf("%s: stored %x in %d parts; recomputed %x in %d; want %d parts", tc.name, sum, parts, want, wantParts, tc.parts)
		}
		if tc.parts == 0 {
			if plain := sha256.Sum256(data); !bytes.Equal(sum, plain[:]) {
				t.Errorf("%s: a one-request object's checksum is not its SHA-256", tc.name)
			}
		}
	}
	// A server-side copy keeps a checksum that still compares: the
	// composite, or the whole file's SHA-256 where the server recomputed
	// it (then in 0 parts).
	if err := fsys.(target.ServerCopier).CopyFile("/big.bin", "/copy.bin"); err != nil {
		t.Fatal(err)
	}
	sum, parts, err := cr.StoredSHA256("/copy.bin")
	if err != nil {
		t.Fatal(err)
	}
	data := randomBytes(40<<20, 7)
	composite, _, _ := target.CompositeSHA256(bytes.NewReader(data), target.S3PartSize)
	plain := sha256.Sum256(data)
	if !(parts == 3 && bytes.Equal(sum, composite)) && !(parts == 0 && bytes.Equal(sum, plain[:])) {
		t.Errorf("copy: stored %x in %d parts, matches neither the composite nor the SHA-256", sum, parts)
	}
	t.Logf("a copy of a 3-part object is stored with %d parts", parts)
}

// Streaming 300 MiB holds the upload's parts, not the file: the heap of
// this process stays under 150 MiB while it streams, and so does the peak
// RSS of a process that does nothing else (target/s3test/s3upload, built
// here without -race, whose shadow memory would count in this one's).
func TestS3UploadMemoryIsBounded(t *testing.T) {
	const size, limit = 300 << 20, 150 << 20
	srv := s3test.Start(t)
	tgt := openS3(t, srv, srv.Bucket, "mem", target.Options{})
	runtime.GC()
	var peakHeap uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			peakHeap = max(peakHeap, ms.HeapInuse)
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
	h := sha256.New()
	start := time.Now()
	src := io.TeeReader(io.LimitReader(rand.NewChaCha8([32]byte{3}), size), h)
	n, err := target.WriteFileFrom(tgt.FS(), "/big.bin", struct{ io.Reader }{src}, 0o600)
	close(done)
	wg.Wait()
	if err != nil || n != size {
		t.Fatalf("WriteFileFrom = %d, %v", n, err)
	}
	t.Logf("300 MiB in %v; peak heap %d MiB", time.Since(start).Round(time.Millisecond), peakHeap>>20)
	if peakHeap > limit {
		t.Errorf("peak heap %d MiB while streaming, want under %d MiB", peakHeap>>20, limit>>20)
	}
	f, err := tgt.FS().Open("/big.bin")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got := sha256.New()
	if m, err := io.Copy(got, f); err != nil || m != size || !bytes.Equal(got.Sum(nil), h.Sum(nil)) {
		t.Fatalf("read back %d bytes, %v; same bytes: %v", m, err, bytes.Equal(got.Sum(nil), h.Sum(nil)))
	}

	bin := filepath.Join(t.TempDir(), "s3upload")
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./s3test/s3upload")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build s3upload: %v\n%s", err, out)
	}
	out, err := exec.CommandContext(ctx, bin, srv.URL(srv.Bucket, "mem"), "process.bin", "300").Output()
	if err != nil {
		t.Fatalf("s3upload: %v (%s)", err, errOutput(err))
	}
	var res struct {
		Bytes   int64   `json:"bytes"`
		Seconds float64 `json:"seconds"`
		PeakRSS int64   `json:"peak_rss"`
	}
	if err := json.Unmarshal(out, &res); err != nil || res.Bytes != size {
		t.Fatalf("s3upload said %q (%v)", out, err)
	}
	t.Logf("a process streaming 300 MiB: %.2f s, peak RSS %d MiB", res.Seconds, res.PeakRSS>>20)
	if res.PeakRSS == 0 {
		t.Fatal("no peak RSS: /proc/self/status has no VmHWM")
	}
	if res.PeakRSS > limit {
		t.Errorf("peak RSS %d MiB, want under %d MiB", res.PeakRSS>>20, limit>>20)
	}
}

func errOutput(err error) string {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return strings.TrimSpace(string(ee.Stderr))
	}
	return ""
}

// Two writers create one name exclusively at once: the name is free when
// both open it, and the one that completes second fails with os.ErrExist
// (If-None-Match on PutObject and on CompleteMultipartUpload) and leaves
// the first one's bytes.
func TestS3ExclusiveCreateIsConditional(t *testing.T) {
	srv := s3test.Start(t)
	fsys := openS3(t, srv, srv.Bucket, "excl", target.Options{}).FS()
	if !fsys.(target.ExclusiveCreator).ExclusiveCreate() {
		t.Error("versitygw honours If-None-Match, but the probe says it does not")
	}
	if names, err := afero.ReadDir(fsys, "/"); err != nil || len(names) != 0 {
		t.Errorf("the probe left %d names (%v)", len(names), err)
	}
	for _, size := range []int{1 << 10, 20 << 20} { // PutObject, multipart
		name := "/claim-" + strconv.Itoa(size)
		a, err := fsys.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		b, err := fsys.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			t.Fatalf("second open while the first is not complete: %v", err)
		}
		first, second := randomBytes(size, 1), randomBytes(size, 2)
		if _, err := a.Write(first); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Write(second); err != nil {
			t.Fatal(err)
		}
		if err := a.Close(); err != nil {
			t.Fatalf("first Close: %v", err)
		}
		if err := b.Close(); !errors.Is(err, os.ErrExist) {
			t.Fatalf("%d bytes: second exclusive create completed: %v, want os.ErrExist", size, err)
		}
		got, err := afero.ReadFile(fsys, name)
		if err != nil || !bytes.Equal(got, first) {
			t.Fatalf("%d bytes: the name holds other bytes than the first writer's (%v)", size, err)
		}
	}
}

// Under Object Lock (ObjectLockDays), every object is written with
// retention; the server refuses to delete a locked version, and an
// overwrite by a client that ignores the lock only adds a version: the
// locked bytes stay, under their version, until the date.
func TestS3ObjectLockRefusesDeleteAndOverwrite(t *testing.T) {
	srv := s3test.Start(t)
	ctx := t.Context()
	for _, mode := range []string{"", "compliance"} {
		prefix := "lock-" + mode
		tgt := openS3(t, srv, srv.LockedBucket, prefix, target.Options{ObjectLockDays: 2, ObjectLockMode: mode})
		fsys := tgt.FS()
		data := []byte("pushed under lock")
		if _, err := target.WriteFileFrom(fsys, "/kept.age", bytes.NewReader(data), 0o600); err != nil {
			t.Fatal(err)
		}
		gotMode, until, err := fsys.(target.RetentionLocker).Retention("/kept.age")
		wantMode := map[string]string{"": "governance", "compliance": "compliance"}[mode]
		if err != nil || gotMode != wantMode || until.Before(time.Now().Add(47*time.Hour)) || until.After(time.Now().Add(49*time.Hour)) {
			t.Fatalf("retention = %q until %v, %v; want %s for 2 days", gotMode, until, err, wantMode)
		}
		// Through the target: refused, and the refusal says until when.
		err = fsys.Remove("/kept.age")
		if !errors.Is(err, fs.ErrPermission) || !strings.Contains(err.Error(), until.Format(time.RFC3339)) {
			t.Errorf("Remove of a locked object: %v; want fs.ErrPermission naming %s", err, until.Format(time.RFC3339))
		}
		if _, err := fsys.OpenFile("/kept.age", os.O_WRONLY|os.O_TRUNC, 0); !errors.Is(err, fs.ErrPermission) {
			t.Errorf("overwrite of a locked object: %v, want fs.ErrPermission", err)
		}
		// Behind the target's back, with the server's own API.
		c := srv.Client()
		key := aws.String(prefix + "/kept.age")
		head, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &srv.LockedBucket, Key: key})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &srv.LockedBucket, Key: key, VersionId: head.VersionId}); err == nil {
			t.Errorf("%s: the server deleted a locked version", wantMode)
		}
		if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: &srv.LockedBucket, Key: key, Body: strings.NewReader("ransom")}); err != nil {
			t.Logf("the server refused the overwrite: %v", err)
		}
		old, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: &srv.LockedBucket, Key: key, VersionId: head.VersionId})
		if err != nil {
			t.Fatalf("the locked version is gone after an overwrite: %v", err)
		}
		got, _ := io.ReadAll(old.Body)
		old.Body.Close()
		if !bytes.Equal(got, data) {
			t.Errorf("the locked version holds %q, want %q", got, data)
		}
		if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &srv.LockedBucket, Key: key, VersionId: head.VersionId}); err == nil {
			t.Errorf("%s: the server deleted a locked version after an overwrite", wantMode)
		}
	}
}

// Object Lock needs a bucket made with it: asking for it elsewhere is
// refused at open, with the fix, and only such a bucket's FS offers
// target.RetentionLocker (so that a push that wants locks stops before it
// uploads anything).
func TestS3ObjectLockNeedsALockBucket(t *testing.T) {
	srv := s3test.Start(t)
	if _, ok := openS3(t, srv, srv.Bucket, "plain", target.Options{}).FS().(target.RetentionLocker); ok {
		t.Error("a bucket without Object Lock offers target.RetentionLocker")
	}
	if _, ok := openS3(t, srv, srv.LockedBucket, "locking", target.Options{}).FS().(target.RetentionLocker); !ok {
		t.Error("a bucket with Object Lock does not offer target.RetentionLocker")
	}
	_, err := target.Open(t.Context(), srv.URL(srv.Bucket, "x"), target.Options{Create: true, ObjectLockDays: 1})
	if err == nil || !strings.Contains(err.Error(), "Object Lock enabled") {
		t.Fatalf("lock on a plain bucket: %v", err)
	}
	_, err = target.Open(t.Context(), srv.URL(srv.LockedBucket, "x"), target.Options{Create: true, ObjectLockDays: 1, ObjectLockMode: "forever"})
	if err == nil || !strings.Contains(err.Error(), "governance or compliance") {
		t.Fatalf("an unknown mode: %v", err)
	}
	_, err = target.Open(t.Context(), "file://"+t.TempDir(), target.Options{ObjectLockDays: 1})
	if err == nil || !strings.Contains(err.Error(), "s3:// targets only") {
		t.Fatalf("lock on a local target: %v", err)
	}
}

// A missing bucket is not found, whatever Create says, and names the fix;
// a missing prefix is not found unless Create, and nothing is made.
func TestS3OpenMissing(t *testing.T) {
	srv := s3test.Start(t)
	for _, create := range []bool{false, true} {
		_, err := target.Open(t.Context(), srv.URL("no-such-bucket", "x"), target.Options{Create: create})
		var nf *target.NotFoundError
		if !errors.As(err, &nf) || !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "make the bucket") {
			t.Errorf("missing bucket (create %v): %v", create, err)
		}
	}
	_, err := target.Open(t.Context(), srv.URL(srv.Bucket, "absent"), target.Options{})
	var nf *target.NotFoundError
	if !errors.As(err, &nf) {
		t.Fatalf("missing prefix: %v, want a *NotFoundError", err)
	}
	out, err := srv.Client().ListObjectsV2(t.Context(), &s3.ListObjectsV2Input{Bucket: &srv.Bucket, Prefix: aws.String("absent")})
	if err != nil || len(out.Contents) != 0 {
		t.Fatalf("opening a missing prefix made %d objects (%v)", len(out.Contents), err)
	}
}

// Without credentials the error names where to put them, and a URL never
// carries them.
func TestS3Credentials(t *testing.T) {
	srv := s3test.Start(t)
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	_, err := target.Open(ctx, srv.URL(srv.Bucket, "x"), target.Options{})
	if err == nil || !strings.Contains(err.Error(), "AWS_ACCESS_KEY_ID") || !strings.Contains(err.Error(), "profile") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("no credentials: %v", err)
	}
	_, err = target.Open(ctx, "s3://"+s3test.AccessKey+":"+s3test.SecretKey+"@"+srv.Bucket+"/x", target.Options{})
	if err == nil || strings.Contains(err.Error(), s3test.SecretKey) || !strings.Contains(err.Error(), "AWS environment") {
		t.Fatalf("credentials in the URL: %v", err)
	}
}

// A client we did not write, the aws CLI, lists and downloads byte for
// byte what the target wrote (a multipart file and a small one).
func TestS3ReadByTheAWSCLI(t *testing.T) {
	aws := testutil.Tool(t, "aws")
	srv := s3test.Start(t)
	fsys := openS3(t, srv, srv.Bucket, "cli", target.Options{}).FS()
	if err := fsys.MkdirAll("/snapshots/20260407T060000Z", 0o700); err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{
		"snapshots/20260407T060000Z/db.age":       randomBytes(20<<20+5, 4),
		"snapshots/20260407T060000Z/metadata.age": []byte("small"),
	}
	for name, data := range files {
		if _, err := target.WriteFileFrom(fsys, "/"+name, bytes.NewReader(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	run := func(args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, aws, append([]string{"--endpoint-url", srv.Endpoint}, args...)...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("aws %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	ls := run("s3", "ls", "--recursive", "s3://"+srv.Bucket+"/cli/")
	for name, data := range files {
		if !strings.Contains(ls, strconv.Itoa(len(data))+" cli/"+name) {
			t.Errorf("aws s3 ls does not list cli/%s of %d bytes:\n%s", name, len(data), ls)
		}
		local := filepath.Join(t.TempDir(), "got")
		run("s3", "cp", "s3://"+srv.Bucket+"/cli/"+name, local)
		got, err := os.ReadFile(local)
		if err != nil || !bytes.Equal(got, data) {
			t.Errorf("aws s3 cp of %s: %d bytes, %v; want the %d bytes written", name, len(got), err, len(data))
		}
	}
}
