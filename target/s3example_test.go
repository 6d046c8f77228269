package target_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"

	"github.com/atocore/atocore-backup/target"
)

// An S3 bucket as a target: the credentials come from AWS_ACCESS_KEY_ID
// and AWS_SECRET_ACCESS_KEY, ~/.aws/credentials or the profile named in
// the address; an S3-compatible server is named by its endpoint. (Not
// run: it needs a server; target/s3test starts one for the tests.)
func ExampleOpenS3() {
	ctx := context.Background()
	tgt, err := target.Open(ctx, "s3://atocore-offsite/prod?endpoint=https://s3.example.net&profile=offsite", target.Options{Create: true})
	var nf *target.NotFoundError
	if errors.As(err, &nf) {
		fmt.Println("make the bucket first:", err) // buckets are never created here
		return
	}
	if err != nil {
		fmt.Println(err)
		return
	}
	defer tgt.Close()
	fsys := tgt.FS()
	if sums, ok := fsys.(target.ChecksumReporter); ok {
		sum, parts, err := sums.StoredSHA256("/snapshots/20260407T060000Z/backup-metadata.json.age")
		if errors.Is(err, fs.ErrNotExist) {
			return
		}
		fmt.Printf("stored SHA-256 %x in %d parts\n", sum, parts)
	}
}
