package target_test

import (
	"fmt"
	"testing"

	"github.com/atocore/atocore-backup/target"
	"github.com/atocore/atocore-backup/target/s3test"
	"github.com/atocore/atocore-backup/target/targettest"
)

// s3Has is what an S3 target offers on a bucket without Object Lock.
var s3Has = []targettest.Capability{targettest.Stream, targettest.ServerCopy, targettest.Checksum, targettest.Tree, targettest.Resume}

func TestS3Conformance(t *testing.T) {
	srv := s3test.Start(t)
	targettest.Run(t, s3Opener(srv, srv.Bucket, target.Options{Create: true}), s3Has...)
}

// On a bucket with Object Lock (so versioned: every removal deletes all
// the versions of a key), and retention besides.
func TestS3ObjectLockBucketConformance(t *testing.T) {
	srv := s3test.Start(t)
	targettest.Run(t, s3Opener(srv, srv.LockedBucket, target.Options{Create: true}), append(s3Has, targettest.Retention)...)
}

// s3Opener opens a fresh prefix of bucket for each subtest.
func s3Opener(srv *s3test.Server, bucket string, o target.Options) targettest.Opener {
	return func(t *testing.T) target.Target {
		t.Helper()
		tgt, err := target.Open(t.Context(), srv.URL(bucket, fmt.Sprintf("t%d", dirSeq.Add(1))), o)
		if err != nil {
			t.Fatal(err)
		}
		return tgt
	}
}

// Another host's directory in one this FS made on the way to its own (the
// first push to an empty target makes snapshots/ on the way to
// snapshots/STAMP) is found: only the directory asked for is trusted to
// hold nothing but what this FS wrote there.
func TestS3DirectoryCacheSeesOtherHosts(t *testing.T) {
	srv := s3test.Start(t)
	url := srv.URL(srv.Bucket, "shared")
	a, err := target.Open(t.Context(), url, target.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := target.Open(t.Context(), url, target.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := a.FS().MkdirAll("/snapshots/20261201T000000Z", 0o700); err != nil {
		t.Fatal(err)
	}
	if err := b.FS().MkdirAll("/snapshots/20261202T000000Z", 0o700); err != nil {
		t.Fatal(err)
	}
	targettest.WriteFile(t, b.FS(), "/snapshots/20261202T000000Z/statement.json", []byte("{}"))
	if fi, err := a.FS().Stat("/snapshots/20261202T000000Z"); err != nil || !fi.IsDir() {
		t.Fatalf("the other host's snapshot directory, seen from the first: %v, %v", fi, err)
	}
	if _, err := a.FS().Stat("/snapshots/20261202T000000Z/statement.json"); err != nil {
		t.Fatalf("the other host's statement, seen from the first: %v", err)
	}
	// In the directory this FS made, a name it wrote is found.
	targettest.WriteFile(t, a.FS(), "/snapshots/20261201T000000Z/mine", []byte("x"))
	if _, err := a.FS().Stat("/snapshots/20261201T000000Z/mine"); err != nil {
		t.Fatalf("a name this FS wrote in its fresh directory: %v", err)
	}
}
