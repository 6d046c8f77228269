package target

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// Object-level operations of the S3 FS: listing, deletion, server-side
// copy, and the mapping of S3's errors onto os's.

// emptySHA256 is the base64 SHA-256 of no bytes (directory markers).
const emptySHA256 = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="

// s3CopyLimit is the largest object CopyObject copies; larger ones are
// copied in parts (UploadPartCopy). A variable for the tests.
var s3CopyLimit int64 = 5 << 30

// s3CopyWorkers bounds the copies in flight during a directory rename.
const s3CopyWorkers = 8

// retention is the Object Lock mode and date for a new object, or none.
func (s *s3FS) retention() (types.ObjectLockMode, *time.Time) {
	if s.lockDays <= 0 {
		return "", nil
	}
	until := time.Now().UTC().Add(time.Duration(s.lockDays) * 24 * time.Hour).Truncate(time.Second)
	return s.lockMode, &until
}

// s3Object is a listed object.
type s3Object struct {
	key  string
	size int64
}

// listKeys lists every object whose key starts with prefix, in order.
func (s *s3FS) listKeys(prefix string) ([]s3Object, error) {
	var keys []s3Object
	in := &s3.ListObjectsV2Input{Bucket: &s.bucket, Prefix: &prefix}
	for range s3MaxListPages {
		out, err := s.c.ListObjectsV2(s.ctx, in)
		if err != nil {
			return nil, s3Err("list", prefix, err)
		}
		for _, o := range out.Contents {
			keys = append(keys, s3Object{aws.ToString(o.Key), aws.ToInt64(o.Size)})
		}
		if !aws.ToBool(out.IsTruncated) || out.NextContinuationToken == nil {
			return keys, nil
		}
		in.ContinuationToken = out.NextContinuationToken
	}
	return nil, fmt.Errorf("list %s: more than %d pages", prefix, s3MaxListPages)
}

// deleteKeys deletes keys (on a versioned bucket every version of each,
// and the delete markers, so that nothing older shows again), 1000 a
// request. A version under Object Lock retention is a *LockedError.
func (s *s3FS) deleteKeys(keys []string) error {
	if len(keys) == 0 {
		return nil
	}
	var ids []types.ObjectIdentifier
	if !s.versioned {
		for _, k := range keys {
			ids = append(ids, types.ObjectIdentifier{Key: aws.String(k)})
		}
	} else {
		want := map[string]bool{}
		for _, k := range keys {
			want[k] = true
		}
		// One listing per common prefix would do; keys are mostly under
		// one directory, so list the longest prefix they share.
		vs, err := s.listVersions(commonPrefix(keys), want)
		if err != nil {
			return err
		}
		ids = vs
	}
	return s.deleteIDs(ids, true)
}

// deleteIDs deletes the objects (versions) ids, 1000 a request. A "null"
// version the server says does not exist is deleted again by key alone,
// once (retry): versitygw keeps directory markers outside versioning.
func (s *s3FS) deleteIDs(ids []types.ObjectIdentifier, retry bool) error {
	var again []types.ObjectIdentifier
	for i := 0; i < len(ids); i += 1000 {
		batch := ids[i:min(i+1000, len(ids))]
		out, err := s.c.DeleteObjects(s.ctx, &s3.DeleteObjectsInput{
			Bucket: &s.bucket, Delete: &types.Delete{Objects: batch, Quiet: aws.Bool(true)},
		})
		if err != nil {
			return s3Err("delete", aws.ToString(batch[0].Key), err)
		}
		for _, e := range out.Errors {
			code := aws.ToString(e.Code)
			switch {
			case code == "NoSuchVersion" && aws.ToString(e.VersionId) == "null" && retry:
				again = append(again, types.ObjectIdentifier{Key: e.Key})
			case code == "NoSuchKey" || code == "NoSuchVersion":
				// gone meanwhile
			case code == "AccessDenied" && s.versioned:
				return s.lockedError(aws.ToString(e.Key), aws.ToString(e.VersionId), aws.ToString(e.Message))
			default:
				return fmt.Errorf("delete %s: %s: %s", aws.ToString(e.Key), code, aws.ToString(e.Message))
			}
		}
	}
	if len(again) > 0 {
		return s.deleteIDs(again, false)
	}
	return nil
}

// listVersions lists the versions and delete markers of the keys in want.
func (s *s3FS) listVersions(prefix string, want map[string]bool) ([]types.ObjectIdentifier, error) {
	var ids []types.ObjectIdentifier
	in := &s3.ListObjectVersionsInput{Bucket: &s.bucket, Prefix: &prefix}
	for range s3MaxListPages {
		out, err := s.c.ListObjectVersions(s.ctx, in)
		if err != nil {
			return nil, s3Err("list versions", prefix, err)
		}
		for _, v := range out.Versions {
			if want[aws.ToString(v.Key)] {
				ids = append(ids, types.ObjectIdentifier{Key: v.Key, VersionId: v.VersionId})
			}
		}
		for _, m := range out.DeleteMarkers {
			if want[aws.ToString(m.Key)] {
				ids = append(ids, types.ObjectIdentifier{Key: m.Key, VersionId: m.VersionId})
			}
		}
		if !aws.ToBool(out.IsTruncated) {
			return ids, nil
		}
		in.KeyMarker, in.VersionIdMarker = out.NextKeyMarker, out.NextVersionIdMarker
	}
	return nil, fmt.Errorf("list versions of %s: more than %d pages", prefix, s3MaxListPages)
}

func commonPrefix(keys []string) string {
	p := keys[0]
	for _, k := range keys[1:] {
		for !strings.HasPrefix(k, p) {
			p = p[:len(p)-1]
		}
	}
	return p
}

// LockedError is a removal or replacement of an object that is under S3
// Object Lock retention: the server refuses it until Until.
// errors.Is(err, fs.ErrPermission) is true.
type LockedError struct {
	Key   string
	Mode  string    // GOVERNANCE or COMPLIANCE; "" when the server did not say
	Until time.Time // zero when the server did not say
}

func (e *LockedError) Error() string {
	if e.Until.IsZero() {
		return fmt.Sprintf("%s is under Object Lock retention", e.Key)
	}
	return fmt.Sprintf("%s is under Object Lock retention (%s) until %s", e.Key, strings.ToLower(e.Mode), e.Until.UTC().Format(time.RFC3339))
}

// Is makes errors.Is(err, fs.ErrPermission) true.
func (e *LockedError) Is(target error) bool { return target == fs.ErrPermission }

// lockedError asks the server until when key's version is locked.
func (s *s3FS) lockedError(key, version, msg string) error {
	in := &s3.GetObjectRetentionInput{Bucket: &s.bucket, Key: &key}
	if version != "" {
		in.VersionId = &version
	}
	out, err := s.c.GetObjectRetention(s.ctx, in)
	if err != nil || out.Retention == nil {
		return fmt.Errorf("delete %s: %w: %s", key, fs.ErrPermission, msg)
	}
	return &LockedError{Key: key, Mode: string(out.Retention.Mode), Until: aws.ToTime(out.Retention.RetainUntilDate)}
}

// copyObject copies src (of size bytes; -1 when unknown) to dst on the
// server, keeping the metadata; excl refuses an existing dst
// (If-None-Match).
func (s *s3FS) copyObject(src, dst string, size int64, excl bool) error {
	if size < 0 || size > s3CopyLimit {
		h, err := s.head(src)
		if err != nil {
			return err
		}
		if size = aws.ToInt64(h.ContentLength); size > s3CopyLimit {
			return s.copyParts(src, dst, h.Metadata, size, excl)
		}
	}
	return s.copyIn(src, dst, nil, excl)
}

// copyMarker makes dst the directory marker that src is, with its mode.
// (A marker is written anew: some servers, versitygw among them, refuse
// to copy a key that ends in "/".)
func (s *s3FS) copyMarker(src, dst string) error {
	h, err := s.head(src)
	if err != nil {
		return err
	}
	return s.putMarker(s.ctx, dst, dirInfo("", h.Metadata, nil).mode.Perm())
}

// copyMeta copies key (of size bytes) onto itself with the metadata meta.
func (s *s3FS) copyMeta(key string, meta map[string]string, size int64) error {
	if size > s3CopyLimit {
		return s.copyParts(key, key, meta, size, false)
	}
	return s.copyIn(key, key, meta, false)
}

// copyIn is one CopyObject; meta nil keeps the source's metadata.
func (s *s3FS) copyIn(src, dst string, meta map[string]string, excl bool) error {
	mode, until := s.retention()
	in := &s3.CopyObjectInput{
		Bucket: &s.bucket, Key: &dst, CopySource: aws.String(copySource(s.bucket, src)),
		ChecksumAlgorithm: types.ChecksumAlgorithmSha256,
		ObjectLockMode:    mode, ObjectLockRetainUntilDate: until,
	}
	if meta != nil {
		in.Metadata, in.MetadataDirective = meta, types.MetadataDirectiveReplace
	}
	if excl {
		in.IfNoneMatch = aws.String("*")
	}
	_, err := s.c.CopyObject(s.ctx, in)
	return s3Err("copy", src, err)
}

// copySource is CopyObject's "bucket/key", URL-encoded as S3 wants.
func copySource(bucket, key string) string {
	return url.PathEscape(bucket) + "/" + strings.ReplaceAll(url.PathEscape(key), "%2F", "/")
}

// copyParts copies an object larger than CopyObject allows, in parts of
// S3PartSize (so that its composite checksum is the one CompositeSHA256
// computes), s3InFlight at a time. A server that answers UploadPartCopy
// without the part's own SHA-256 (versitygw 1.8.0 gives the source's
// composite) cannot have the upload completed with checksums: the copy is
// made again without, and then the copy has no stored SHA-256.
func (s *s3FS) copyParts(src, dst string, meta map[string]string, size int64, excl bool) error {
	err := s.copyPartsWith(src, dst, meta, size, excl, true)
	if errors.Is(err, errPartSums) {
		err = s.copyPartsWith(src, dst, meta, size, excl, false)
	}
	return err
}

var errPartSums = errors.New("the server did not give the parts' SHA-256")

func (s *s3FS) copyPartsWith(src, dst string, meta map[string]string, size int64, excl, sums bool) error {
	mode, until := s.retention()
	in := &s3.CreateMultipartUploadInput{
		Bucket: &s.bucket, Key: &dst, Metadata: meta, ObjectLockMode: mode, ObjectLockRetainUntilDate: until,
	}
	if sums {
		in.ChecksumAlgorithm, in.ChecksumType = types.ChecksumAlgorithmSha256, types.ChecksumTypeComposite
	}
	up, err := s.c.CreateMultipartUpload(s.ctx, in)
	if err != nil {
		return s3Err("copy", src, err)
	}
	n := int((size + S3PartSize - 1) / S3PartSize)
	if n > 10000 {
		s.abort(dst, up.UploadId)
		return fmt.Errorf("copy %s: %d bytes is more than 10000 parts of %d", src, size, S3PartSize)
	}
	parts := make([]types.CompletedPart, n)
	errs := make([]error, n)
	sem := make(chan struct{}, s3InFlight)
	var wg sync.WaitGroup
	for i := range n {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			first := int64(i) * S3PartSize
			last := min(first+S3PartSize, size) - 1
			out, err := s.c.UploadPartCopy(s.ctx, &s3.UploadPartCopyInput{
				Bucket: &s.bucket, Key: &dst, UploadId: up.UploadId, PartNumber: aws.Int32(int32(i + 1)),
				CopySource: aws.String(copySource(s.bucket, src)), CopySourceRange: aws.String(fmt.Sprintf("bytes=%d-%d", first, last)),
			})
			if err != nil {
				errs[i] = s3Err("copy", src, err)
				return
			}
			parts[i] = types.CompletedPart{PartNumber: aws.Int32(int32(i + 1)), ETag: out.CopyPartResult.ETag}
			if sums {
				sum := aws.ToString(out.CopyPartResult.ChecksumSHA256)
				if b, err := base64.StdEncoding.DecodeString(sum); err != nil || len(b) != sha256.Size {
					errs[i] = errPartSums
					return
				}
				parts[i].ChecksumSHA256 = &sum
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		s.abort(dst, up.UploadId)
		if errors.Is(err, errPartSums) {
			return errPartSums
		}
		return err
	}
	done := &s3.CompleteMultipartUploadInput{Bucket: &s.bucket, Key: &dst, UploadId: up.UploadId, MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}}
	if excl {
		done.IfNoneMatch = aws.String("*")
	}
	if _, err := s.c.CompleteMultipartUpload(s.ctx, done); err != nil {
		s.abort(dst, up.UploadId)
		return s3Err("copy", src, err)
	}
	return nil
}

// copyAll copies every key (each under from) to the same name under to.
func (s *s3FS) copyAll(keys []s3Object, from, to string) error {
	errs := make([]error, len(keys))
	sem := make(chan struct{}, s3CopyWorkers)
	var wg sync.WaitGroup
	for i, k := range keys {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			dst := to + strings.TrimPrefix(k.key, from)
			if strings.HasSuffix(k.key, "/") {
				errs[i] = s.copyMarker(k.key, dst)
				return
			}
			errs[i] = s.copyObject(k.key, dst, k.size, false)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// s3Error is an S3 failure that errors.Is matches to the os error it
// means (kind), keeping the SDK's error for errors.As.
type s3Error struct {
	kind error
	err  error
}

func (e *s3Error) Error() string        { return e.err.Error() }
func (e *s3Error) Unwrap() error        { return e.err }
func (e *s3Error) Is(target error) bool { return e.kind != nil && target == e.kind }

// s3Err maps an SDK error onto os.ErrNotExist, os.ErrExist or
// fs.ErrPermission where it means one.
func s3Err(op, key string, err error) error {
	if err == nil {
		return nil
	}
	var kind error
	switch {
	case isS3NotFound(err):
		kind = os.ErrNotExist
	case s3Code(err) == "PreconditionFailed" || s3Code(err) == "ConditionalRequestConflict" || s3Status(err) == http.StatusPreconditionFailed:
		kind = os.ErrExist
	case s3Code(err) == "AccessDenied" || s3Status(err) == http.StatusForbidden:
		kind = fs.ErrPermission
	}
	return fmt.Errorf("%s %s: %w", op, key, &s3Error{kind: kind, err: err})
}

func isS3NotFound(err error) bool {
	switch s3Code(err) {
	case "NoSuchKey", "NotFound", "NoSuchBucket", "NoSuchUpload":
		return true
	}
	return s3Status(err) == http.StatusNotFound
}

func s3Code(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func s3Status(err error) int {
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}
