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
