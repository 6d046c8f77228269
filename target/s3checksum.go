package target

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// Server-side checksums, copies and retention of the S3 FS: the
// capabilities ChecksumReporter, ServerCopier and (on a bucket with
// Object Lock) RetentionLocker.

// CompositeSHA256 computes, from a file's bytes, the checksum an S3
// server keeps for it when it was uploaded in parts of partSize bytes as
// this package uploads (S3PartSize): a file of at most partSize bytes is
// one PutObject, and its checksum is the SHA-256 of the bytes (parts 0);
// a larger one is ceil(size/partSize) parts, every one partSize bytes
// but the last, and its checksum is SHA-256(SHA-256(part 1) || ... ||
// SHA-256(part n)) over the binary digests (parts n). It compares with
// ChecksumReporter.StoredSHA256.
func CompositeSHA256(r io.Reader, partSize int64) (sum []byte, parts int, err error) {
	if partSize <= 0 {
		return nil, 0, fmt.Errorf("part size %d: must be positive", partSize)
	}
	whole, composite := sha256.New(), sha256.New()
	for {
		part := sha256.New()
		n, err := io.Copy(io.MultiWriter(part, whole), io.LimitReader(r, partSize))
		if err != nil {
			return nil, 0, err
		}
		if n == 0 && parts > 0 {
			break
		}
		if n == 0 { // an empty file
			return whole.Sum(nil), 0, nil
		}
		composite.Write(part.Sum(nil))
		parts++
		if n < partSize {
			break
		}
	}
	if parts == 1 {
		return whole.Sum(nil), 0, nil
	}
	return composite.Sum(nil), parts, nil
}

// StoredSHA256 asks the server for the SHA-256 checksum it keeps for
// name (HeadObject with checksum mode, and GetObjectAttributes for the
// number of parts when the server does not append it as "-N"). A file
// stored without one is an error matching errors.ErrUnsupported.
func (s *s3FS) StoredSHA256(name string) ([]byte, int, error) {
	r := rel(name)
	key := s.key(r)
	out, err := s.c.HeadObject(s.ctx, &s3.HeadObjectInput{Bucket: &s.bucket, Key: &key, ChecksumMode: types.ChecksumModeEnabled})
	if err != nil {
		return nil, 0, s3PathErr("checksum", r, s3Err("stat", key, err))
	}
	v := aws.ToString(out.ChecksumSHA256)
	if v == "" {
		return nil, 0, &os.PathError{Op: "checksum", Path: "/" + r, Err: fmt.Errorf("%w: the server keeps no SHA-256 for this object", errors.ErrUnsupported)}
	}
	parts := 0
	if b64, n, ok := strings.Cut(v, "-"); ok {
		v = b64
		if parts, err = strconv.Atoi(n); err != nil || parts < 1 {
			return nil, 0, &os.PathError{Op: "checksum", Path: "/" + r, Err: fmt.Errorf("malformed checksum %q", aws.ToString(out.ChecksumSHA256))}
		}
	} else if out.ChecksumType == types.ChecksumTypeComposite {
		attrs, err := s.c.GetObjectAttributes(s.ctx, &s3.GetObjectAttributesInput{
			Bucket: &s.bucket, Key: &key, ObjectAttributes: []types.ObjectAttributes{types.ObjectAttributesObjectParts},
		})
		if err != nil {
			return nil, 0, s3PathErr("checksum", r, s3Err("attributes", key, err))
		}
		if attrs.ObjectParts != nil {
			parts = int(aws.ToInt32(attrs.ObjectParts.TotalPartsCount))
		}
	}
	sum, err := base64.StdEncoding.DecodeString(v)
	if err != nil || len(sum) != sha256.Size {
		return nil, 0, &os.PathError{Op: "checksum", Path: "/" + r, Err: fmt.Errorf("malformed checksum %q", aws.ToString(out.ChecksumSHA256))}
	}
	return sum, parts, nil
}

// CopyFile copies src to the new name dst on the server (CopyObject,
// conditional on dst being free; in parts above 5 GiB). Its metadata
// (mode, modification time) is the source's; under Object Lock it gets
// its own retention.
func (s *s3FS) CopyFile(src, dst string) error {
	rs, rd := rel(src), rel(dst)
	linkErr := func(err error) error {
		if err == nil {
			return nil
		}
		return &os.LinkError{Op: "copy", Old: "/" + rs, New: "/" + rd, Err: unwrapPath(err)}
	}
	h, err := s.head(s.key(rs))
	if err != nil {
		return linkErr(err)
	}
	if err := s.parentDir("copy", rd); err != nil {
		return linkErr(err)
	}
	if !s.known.absent(rd) {
		if _, err := s.head(s.key(rd)); err == nil {
			return linkErr(os.ErrExist)
		} else if !errors.Is(err, os.ErrNotExist) {
			return linkErr(err)
		}
		if _, err := s.dirExists(rd); err == nil {
			return linkErr(os.ErrExist)
		} else if !errors.Is(err, os.ErrNotExist) {
			return linkErr(err)
		}
	}
	s.known.wrote(rd)
	return linkErr(s.copyObject(s.key(rs), s.key(rd), aws.ToInt64(h.ContentLength), true))
}

// s3LockFS is the FS of a bucket with Object Lock enabled: the S3 FS and
// RetentionLocker. A bucket without it gets the plain *s3FS, so that a
// caller's type assertion finds retention only where the server keeps it.
type s3LockFS struct{ *s3FS }

var _ RetentionLocker = s3LockFS{}

// SetRetention puts name under Object Lock retention until until
// (PutObjectRetention on its current version).
func (l s3LockFS) SetRetention(name, mode string, until time.Time) error {
	s := l.s3FS
	r := rel(name)
	m, err := lockMode(mode)
	if err != nil {
		return &os.PathError{Op: "retention", Path: "/" + r, Err: err}
	}
	key := s.key(r)
	_, err = s.c.PutObjectRetention(s.ctx, &s3.PutObjectRetentionInput{
		Bucket: &s.bucket, Key: &key,
		Retention: &types.ObjectLockRetention{Mode: types.ObjectLockRetentionMode(m), RetainUntilDate: aws.Time(until.UTC())},
	})
	return s3PathErr("retention", r, s3Err("retention", key, err))
}

// Retention reads name's retention: "governance" or "compliance" and the
// date, or "" and the zero time when it has none.
func (l s3LockFS) Retention(name string) (string, time.Time, error) {
	s := l.s3FS
	r := rel(name)
	key := s.key(r)
	out, err := s.c.GetObjectRetention(s.ctx, &s3.GetObjectRetentionInput{Bucket: &s.bucket, Key: &key})
	if err != nil {
		switch s3Code(err) {
		case "NoSuchObjectLockConfiguration", "ObjectLockConfigurationNotFoundError", "InvalidRequest":
			if _, herr := s.head(key); herr != nil {
				return "", time.Time{}, s3PathErr("retention", r, herr)
			}
			return "", time.Time{}, nil
		}
		return "", time.Time{}, s3PathErr("retention", r, s3Err("retention", key, err))
	}
	if out.Retention == nil || out.Retention.RetainUntilDate == nil {
		return "", time.Time{}, nil
	}
	return strings.ToLower(string(out.Retention.Mode)), out.Retention.RetainUntilDate.UTC(), nil
}
