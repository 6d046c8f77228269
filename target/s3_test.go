package target_test

import (
	"fmt"
	"testing"

	"github.com/atocore/atocore-backup/target"
	"github.com/atocore/atocore-backup/target/s3test"
	"github.com/atocore/atocore-backup/target/targettest"
)

// s3Has is what the S3 target offers: streamed multipart uploads (the
// other capabilities it adds are checked in s3cap_test.go).
var s3Has = []targettest.Capability{targettest.Stream}

func TestS3Conformance(t *testing.T) {
	srv := s3test.Start(t)
	targettest.RunWith(t, s3Opener(srv, srv.Bucket, target.Options{Create: true}), targettest.Options{Has: s3Has})
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
