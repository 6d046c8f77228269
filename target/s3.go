package target

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/spf13/afero"
)

// S3Config is what OpenS3 needs to reach a bucket. Credentials are not in
// it: they come from the standard AWS chain (the environment, the shared
// credentials and config files, the profile named here, then the
// platform's: ECS, EC2), never from an address or a flag.
type S3Config struct {
	Bucket string
	// Prefix is the key prefix below which the target lives ("" is the
	// whole bucket): keys are PREFIX/snapshots/<STAMP>/...
	Prefix string
	// Endpoint is an S3-compatible server, "http(s)://host[:port]"; it is
	// addressed path-style (http://host/bucket/key). "" is AWS's endpoint
	// for the region, addressed virtual-host style.
	Endpoint string
	// Region is the bucket's region; "" is the AWS configuration's
	// (AWS_REGION, the profile's region), else "us-east-1" when an
	// Endpoint is given (S3-compatible servers mostly ignore it).
	Region string
	// Profile is the shared-config profile; "" is AWS_PROFILE's, else
	// "default".
	Profile string
	// Create makes the prefix (an empty directory marker object) when
	// nothing is under it. Buckets are never created: the operator makes
	// the bucket, because whether it has Object Lock can only be chosen
	// then.
	Create bool
	// ObjectLockDays > 0 writes every object under Object Lock retention
	// for that many days (the bucket must have Object Lock enabled).
	ObjectLockDays int
	// ObjectLockMode is "governance" (the default: a user with
	// s3:BypassGovernanceRetention can still delete) or "compliance"
	// (nobody can, not even the account's root, until the date passes).
	ObjectLockMode string
}

// S3 multipart layout: objects up to s3PartSize bytes are one PutObject;
// larger ones are uploaded in parts of s3PartSize, at most s3InFlight at
// a time. The part buffers are shared by every upload of the target
// (partPool): at most s3Buffers of them, 64 MiB, whatever the number of
// uploads at once and the files' sizes (with 80 MiB a push of 1 GiB
// peaked at 150-162 MiB RSS, over the 150 MiB goal). CompositeSHA256
// must use the same part size to recompute a stored checksum.
const (
	S3PartSize = 16 << 20
	s3InFlight = 3
	s3Buffers  = s3InFlight + 1
)

// s3Timeout bounds the requests made after the target's context is gone
// (aborting an upload at Close) and the checks at open.
const s3Timeout = 30 * time.Second

// s3Target is a Target on an S3 bucket.
type s3Target struct {
	fs     *s3FS
	url    string
	cancel context.CancelFunc
	once   sync.Once
}

var _ Target = (*s3Target)(nil)

// FS is the bucket's FS; with Object Lock enabled on the bucket it is
// also a RetentionLocker.
func (t *s3Target) FS() afero.Fs {
	if t.fs.lockable {
		return s3LockFS{t.fs}
	}
	return t.fs
}
func (t *s3Target) Root() string { return "/" }
func (t *s3Target) URL() string  { return t.url }
func (t *s3Target) Close() error {
	t.once.Do(t.cancel)
	return nil
}

// OpenS3 opens the bucket c.Bucket (it must exist: a missing bucket is a
// *NotFoundError, whatever c.Create) and the prefix c.Prefix in it (a
// missing one is a *NotFoundError unless c.Create). The FS's root "/" is
// the prefix; its requests use ctx: once ctx is done (or the target
// closed), every operation fails with its error, and an upload under way
// is aborted. Checksum calculation is
// "when required", as S3-compatible servers need, and every upload still
// carries an explicit SHA-256 checksum that the server verifies and keeps.
func OpenS3(ctx context.Context, c S3Config) (Target, error) {
	u := URL{Scheme: SchemeS3, Bucket: c.Bucket, Path: "/" + strings.Trim(c.Prefix, "/"), Endpoint: c.Endpoint, Region: c.Region, Profile: c.Profile}
	name := u.String()
	if reason := checkBucket(c.Bucket); reason != "" {
		return nil, fmt.Errorf("target %s: %s", name, reason)
	}
	mode, err := lockMode(c.ObjectLockMode)
	if err != nil {
		return nil, fmt.Errorf("target %s: %w", name, err)
	}
	if c.ObjectLockDays < 0 {
		return nil, fmt.Errorf("target %s: object lock days %d is negative: give 0 (no lock) or more", name, c.ObjectLockDays)
	}
	client, err := newS3Client(ctx, c)
	if err != nil {
		return nil, fmt.Errorf("target %s: %w", name, err)
	}
	tctx, cancel := context.WithCancel(ctx)
	fs := &s3FS{ctx: tctx, c: client, bucket: c.Bucket, prefix: strings.Trim(c.Prefix, "/"), lockDays: c.ObjectLockDays, lockMode: mode, url: name}
	if err := fs.open(ctx, c.Create); err != nil {
		cancel()
		return nil, err
	}
	return &s3Target{fs: fs, url: name, cancel: cancel}, nil
}

// newS3Client loads the AWS configuration (environment, shared files,
// c.Profile) and checks that it yields credentials, so that their absence
// is one clear error rather than a signature failure later.
func newS3Client(ctx context.Context, c S3Config) (*s3.Client, error) {
	opts := []func(*config.LoadOptions) error{
		config.WithRequestChecksumCalculation(aws.RequestChecksumCalculationWhenRequired),
		config.WithResponseChecksumValidation(aws.ResponseChecksumValidationWhenRequired),
	}
	if c.Profile != "" {
		opts = append(opts, config.WithSharedConfigProfile(c.Profile))
	}
	if c.Region != "" {
		opts = append(opts, config.WithRegion(c.Region))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("load the AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		if c.Endpoint == "" {
			return nil, errors.New("no region: add ?region=R to the address, or set AWS_REGION or the profile's region")
		}
		cfg.Region = "us-east-1"
	}
	cctx, cancel := context.WithTimeout(ctx, s3Timeout)
	defer cancel()
	if cfg.Credentials == nil {
		return nil, errNoCredentials(nil)
	}
	if _, err := cfg.Credentials.Retrieve(cctx); err != nil {
		return nil, errNoCredentials(err)
	}
	return s3.NewFromConfig(cfg, func(o *s3.Options) {
		if c.Endpoint != "" {
			o.BaseEndpoint = aws.String(c.Endpoint)
			o.UsePathStyle = true
		}
	}), nil
}

func errNoCredentials(err error) error {
	const fix = "no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or write them to the shared credentials file (~/.aws/credentials, or AWS_SHARED_CREDENTIALS_FILE), or name a profile (?profile=NAME or AWS_PROFILE)"
	if err == nil {
		return errors.New(fix)
	}
	return fmt.Errorf("%s (%s)", fix, firstLine(err.Error()))
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// lockMode maps the configured Object Lock mode to S3's.
func lockMode(m string) (types.ObjectLockMode, error) {
	switch strings.ToLower(m) {
	case "", "governance":
		return types.ObjectLockModeGovernance, nil
	case "compliance":
		return types.ObjectLockModeCompliance, nil
	}
	return "", fmt.Errorf("object lock mode %q: use governance or compliance", m)
}

// bucketNotFound is the error for a bucket that does not exist. Buckets
// are never created here, so the fix is to make it.
func bucketNotFound(url string) error {
	return fmt.Errorf("%w: make the bucket with the provider's tools (buckets are not created by a push; Object Lock can only be enabled when a bucket is made)", &NotFoundError{URL: url})
}

// open checks the bucket (and learns whether it keeps versions, which
// decides how objects are removed) and the prefix.
func (s *s3FS) open(ctx context.Context, create bool) error {
	cctx, cancel := context.WithTimeout(ctx, s3Timeout)
	defer cancel()
	if _, err := s.c.HeadBucket(cctx, &s3.HeadBucketInput{Bucket: &s.bucket}); err != nil {
		if isS3NotFound(err) {
			return bucketNotFound(URL{Scheme: SchemeS3, Bucket: s.bucket, Path: "/"}.String())
		}
		return fmt.Errorf("target %s: %w", s.url, s3Err("open", s.bucket, err))
	}
	lc, err := s.c.GetObjectLockConfiguration(cctx, &s3.GetObjectLockConfigurationInput{Bucket: &s.bucket})
	s.lockable = err == nil && lc.ObjectLockConfiguration != nil && lc.ObjectLockConfiguration.ObjectLockEnabled == types.ObjectLockEnabledEnabled
	if s.lockDays > 0 && !s.lockable {
		if errors.Is(s3Err("", "", err), fs.ErrPermission) {
			return fmt.Errorf("target %s: object lock days %d, but these credentials may not read bucket %s's Object Lock configuration: grant s3:GetBucketObjectLockConfiguration", s.url, s.lockDays, s.bucket)
		}
		return fmt.Errorf("target %s: object lock days %d, but bucket %s has no Object Lock: make a bucket with Object Lock enabled (it can only be chosen when the bucket is made)", s.url, s.lockDays, s.bucket)
	}
	// A bucket with Object Lock keeps versions; so may another, and then
	// a removal must delete every version, or the previous one shows again.
	v, err := s.c.GetBucketVersioning(cctx, &s3.GetBucketVersioningInput{Bucket: &s.bucket})
	switch {
	case err == nil:
		s.versioned = v.Status != "" || s.lockable
	case errors.Is(s3Err("", "", err), fs.ErrPermission):
		s.versioned = s.lockable // not allowed to ask: removals leave delete markers
	default:
		return fmt.Errorf("target %s: %w", s.url, s3Err("open", s.bucket, err))
	}
	if s.prefix == "" {
		return nil
	}
	ok, err := s.hasChildren(cctx, s.prefix+"/")
	if err != nil {
		return fmt.Errorf("target %s: %w", s.url, err)
	}
	if ok {
		return nil
	}
	if !create {
		return &NotFoundError{URL: s.url}
	}
	if err := s.putMarker(cctx, s.prefix+"/", 0o700); err != nil {
		return fmt.Errorf("target %s: create the prefix: %w", s.url, err)
	}
	return nil
}
