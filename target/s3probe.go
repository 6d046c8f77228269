package target

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// exclusiveProbe remembers whether the server honours If-None-Match.
type exclusiveProbe struct {
	once sync.Once
	ok   bool
}

// ExclusiveCreate reports whether an exclusive create (O_EXCL) is atomic
// on this server: S3 servers that predate conditional writes (AWS added
// them in 2024; some S3-compatible servers still lack them) ignore
// If-None-Match, and then only the check at open stands, which two hosts
// can pass at the same moment. It asks the server once, by writing a
// probe object twice (unlocked; removed after), and says false when it
// cannot tell.
func (s *s3FS) ExclusiveCreate() bool {
	s.excl.once.Do(func() {
		var b [8]byte
		_, _ = rand.Read(b[:])
		key := s.key(".excl-probe-" + hex.EncodeToString(b[:]))
		put := func() error {
			_, err := s.c.PutObject(s.ctx, &s3.PutObjectInput{
				Bucket: &s.bucket, Key: &key, Body: strings.NewReader(""), ContentLength: aws.Int64(0),
				IfNoneMatch: aws.String("*"), ChecksumSHA256: aws.String(emptySHA256),
			})
			return s3Err("probe", key, err)
		}
		if err := put(); err != nil {
			return
		}
		err := put()
		s.excl.ok = errors.Is(err, os.ErrExist)
		_ = s.deleteKeys([]string{key})
	})
	return s.excl.ok
}
