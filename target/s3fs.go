package target

import (
	"context"
	"errors"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/spf13/afero"
)

// s3FS is an afero.Fs over one bucket and key prefix. A path below the
// root "/" is the key PREFIX/path. Directories are key prefixes: one
// exists while an object is under it; Mkdir writes an empty marker object
// "PATH/" (as the AWS console does), so that an empty directory exists
// and carries a mode. A file's mode and modification time are the
// object's metadata (x-amz-meta-mode, x-amz-meta-mtime).
//
// What S3 cannot do is emulated, at the cost of requests: a rename is a
// server-side copy of every object under the name, then their deletion
// (not atomic: see Rename); a read-write open downloads the object to a
// local temporary file and uploads it again at Close.
type s3FS struct {
	ctx       context.Context // the target's, cancelled by Close
	c         *s3.Client
	bucket    string
	prefix    string // without slashes at either end; "" is the whole bucket
	versioned bool   // the bucket keeps versions: a removal deletes every version
	lockable  bool   // the bucket has Object Lock enabled
	excl      exclusiveProbe
	lockDays  int
	lockMode  types.ObjectLockMode
	url       string
	parts     partPool // the part buffers all uploads share
	known     dirCache // directories made or found (s3dirs.go)
}

var (
	_ afero.Fs         = (*s3FS)(nil)
	_ afero.Lstater    = (*s3FS)(nil)
	_ StreamWriter     = (*s3FS)(nil)
	_ ServerCopier     = (*s3FS)(nil)
	_ ChecksumReporter = (*s3FS)(nil)
	_ ExclusiveCreator = (*s3FS)(nil)
	_ ObjectStore      = (*s3FS)(nil)
	_ TreeLister       = (*s3FS)(nil)
)

// s3MaxListPages bounds every listing loop (1000 keys a page).
const s3MaxListPages = 1 << 20

func (s *s3FS) Name() string { return "S3" }

// ObjectStore is true: files appear whole at the end of their upload, and
// a rename copies every object (target.ObjectStore).
func (s *s3FS) ObjectStore() bool { return true }

// UploadPartSize is the part size of multipart uploads, over which a
// stored composite checksum is computed (CompositeSHA256).
func (s *s3FS) UploadPartSize() int64 { return S3PartSize }

// head is HeadObject of key; errors.Is(err, os.ErrNotExist) when absent.
func (s *s3FS) head(key string) (*s3.HeadObjectOutput, error) {
	out, err := s.c.HeadObject(s.ctx, &s3.HeadObjectInput{Bucket: &s.bucket, Key: &key})
	if err != nil {
		return nil, s3Err("stat", key, err)
	}
	return out, nil
}

// hasChildren reports whether an object's key starts with prefix.
func (s *s3FS) hasChildren(ctx context.Context, prefix string) (bool, error) {
	out, err := s.c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &s.bucket, Prefix: &prefix, MaxKeys: aws.Int32(1)})
	if err != nil {
		return false, s3Err("list", prefix, err)
	}
	return len(out.Contents) > 0 || len(out.CommonPrefixes) > 0, nil
}

// cached answers a stat of r from what this FS knows (the root, a
// directory it made or found, a name absent from a fresh directory);
// ok false when the server must be asked.
func (s *s3FS) cached(r string) (*s3Info, bool, error) {
	if r == "" {
		return dirInfo(r, nil, nil), true, nil
	}
	if fi, ok := s.known.get(r); ok {
		return fi, true, nil
	}
	if s.known.absent(r) {
		return nil, true, &os.PathError{Op: "stat", Path: "/" + r, Err: os.ErrNotExist}
	}
	return nil, false, nil
}

// stat finds r: an object, a directory marker, or a prefix with objects.
func (s *s3FS) stat(r string) (*s3Info, error) {
	if fi, ok, err := s.cached(r); ok {
		return fi, err
	}
	out, err := s.head(s.key(r))
	if err == nil {
		return fileInfo(r, aws.ToInt64(out.ContentLength), out.Metadata, out.LastModified), nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, s3PathErr("stat", r, err)
	}
	return s.statDir(r)
}

// dirExists is statDir in one request, a listing of r's prefix (which
// finds its marker too), for callers that need no directory's metadata:
// the FileInfo of a directory so found has the default mode.
func (s *s3FS) dirExists(r string) (*s3Info, error) {
	if fi, ok, err := s.cached(r); ok {
		return fi, err
	}
	ok, err := s.hasChildren(s.ctx, s.dirPrefix(r))
	if err != nil {
		return nil, s3PathErr("stat", r, err)
	}
	if !ok {
		return nil, &os.PathError{Op: "stat", Path: "/" + r, Err: os.ErrNotExist}
	}
	return dirInfo(r, nil, nil), nil
}

// statDir finds r as a directory, r not being an object: a prefix with
// objects (its marker among them), os.ErrNotExist when there is none.
// The listing comes first, so that a name that is not there costs one
// request; the marker, read for the directory's mode, only when it is.
func (s *s3FS) statDir(r string) (*s3Info, error) {
	if fi, ok, err := s.cached(r); ok {
		return fi, err
	}
	marker := s.dirPrefix(r)
	ok, err := s.hasChildren(s.ctx, marker)
	if err != nil {
		return nil, s3PathErr("stat", r, err)
	}
	if !ok {
		return nil, &os.PathError{Op: "stat", Path: "/" + r, Err: os.ErrNotExist}
	}
	fi := dirInfo(r, nil, nil)
	if out, err := s.head(marker); err == nil {
		fi = dirInfo(r, out.Metadata, out.LastModified)
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, s3PathErr("stat", r, err)
	}
	s.known.add(r, fi)
	return fi, nil
}

func (s *s3FS) Stat(name string) (os.FileInfo, error) { return s.stat(rel(name)) }

// LstatIfPossible is Stat: S3 has no links, so what it finds is never one.
func (s *s3FS) LstatIfPossible(name string) (os.FileInfo, bool, error) {
	fi, err := s.Stat(name)
	return fi, true, err
}

// parentDir checks that r's parent is a directory: a missing one is
// os.ErrNotExist, a file syscall.ENOTDIR.
func (s *s3FS) parentDir(op, r string) error {
	p := parent(r)
	fi, err := s.stat(p)
	if err != nil {
		return &os.PathError{Op: op, Path: "/" + r, Err: unwrapPath(err)}
	}
	if !fi.IsDir() {
		return &os.PathError{Op: op, Path: "/" + r, Err: syscall.ENOTDIR}
	}
	return nil
}

// putMarker writes the empty object that makes key (ending in "/") an
// existing directory; it fails with os.ErrExist if one is there.
func (s *s3FS) putMarker(ctx context.Context, key string, perm os.FileMode) error {
	mode, until := s.retention()
	_, err := s.c.PutObject(ctx, &s3.PutObjectInput{
		Bucket: &s.bucket, Key: &key, Body: strings.NewReader(""), ContentLength: aws.Int64(0),
		Metadata: metadata(perm, time.Now()), IfNoneMatch: aws.String("*"),
		ChecksumSHA256: aws.String(emptySHA256), ObjectLockMode: mode, ObjectLockRetainUntilDate: until,
	})
	return s3Err("mkdir", key, err)
}

func (s *s3FS) Mkdir(name string, perm os.FileMode) error {
	r := rel(name)
	if r == "" {
		return &os.PathError{Op: "mkdir", Path: "/", Err: os.ErrExist}
	}
	if err := s.parentDir("mkdir", r); err != nil {
		return err
	}
	if _, err := s.stat(r); err == nil {
		return &os.PathError{Op: "mkdir", Path: "/" + r, Err: os.ErrExist}
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if err := s.putMarker(s.ctx, s.dirPrefix(r), perm); err != nil {
		return s3PathErr("mkdir", r, err)
	}
	s.known.add(r, madeDir(r, perm))
	return nil
}

// MkdirAll writes one marker, for name itself, when it does not exist:
// its parents then exist as the prefixes of that marker. A file on the
// way is syscall.ENOTDIR.
func (s *s3FS) MkdirAll(name string, perm os.FileMode) error {
	r := rel(name)
	if r == "" {
		return nil
	}
	if _, ok := s.known.get(r); ok {
		return nil
	}
	if !s.known.absent(r) {
		if _, err := s.head(s.key(r)); err == nil {
			return &os.PathError{Op: "mkdir", Path: "/" + r, Err: syscall.ENOTDIR}
		} else if !errors.Is(err, os.ErrNotExist) {
			return s3PathErr("mkdir", r, err)
		}
		if _, err := s.dirExists(r); err == nil {
			// There already, maybe made this instant by a call beside this
			// one, whose marking it fresh must not hide what this writes.
			s.known.spoil(r)
			s.known.add(r, dirInfo(r, nil, nil))
			return nil
		} else if !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	// r is not there; neither are the parents up to the first that is
	// (made by the marker below). Those known absent because they are in a
	// fresh directory are fresh too; one found empty by asking the server
	// is not (it may be snapshots/, where other hosts add theirs).
	var inFresh []string
	for p := parent(r); p != ""; p = parent(p) {
		if _, ok := s.known.get(p); ok {
			break // a directory this FS made or found: the ones above it are too
		}
		if s.known.absent(p) {
			inFresh = append(inFresh, p)
		} else {
			if _, err := s.head(s.key(p)); err == nil {
				return &os.PathError{Op: "mkdir", Path: "/" + p, Err: syscall.ENOTDIR}
			} else if !errors.Is(err, os.ErrNotExist) {
				return s3PathErr("mkdir", p, err)
			}
			if ok, err := s.hasChildren(s.ctx, s.dirPrefix(p)); err != nil {
				return s3PathErr("mkdir", p, err)
			} else if ok {
				break // an existing directory: the ones above it are too
			}
		}
	}
	err := s.putMarker(s.ctx, s.dirPrefix(r), perm)
	switch {
	case errors.Is(err, os.ErrExist):
		// Made meanwhile, by a call beside this one or another host: known,
		// and never fresh (what the other writes there is not counted).
		s.known.spoil(r)
		s.known.add(r, dirInfo(r, nil, nil))
		return nil
	case err != nil:
		return s3PathErr("mkdir", r, err)
	}
	s.known.markFresh(r)
	for _, p := range inFresh {
		s.known.markFreshUnknown(p)
	}
	s.known.add(r, madeDir(r, perm))
	return nil
}

// madeDir is the FileInfo of the directory r this FS just made.
func madeDir(r string, perm os.FileMode) *s3Info {
	now := time.Now()
	return dirInfo(r, metadata(perm, now), &now)
}

func (s *s3FS) Create(name string) (afero.File, error) {
	return s.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o666)
}

func (s *s3FS) Open(name string) (afero.File, error) { return s.OpenFile(name, os.O_RDONLY, 0) }

// OpenFile opens for reading (ranged GETs), for writing a new or
// truncated file (a streamed upload, sequential writes only, visible at
// Close), or for anything else (read-write, append, write without
// truncation: a local temporary copy uploaded at Close). O_EXCL is an
// upload conditional on the name being free (If-None-Match: *), so that
// two hosts that create one name at once cannot both succeed; the name is
// also checked at open, so that the usual case fails at once.
func (s *s3FS) OpenFile(name string, flag int, perm os.FileMode) (afero.File, error) {
	r := rel(name)
	write := flag&(os.O_WRONLY|os.O_RDWR) != 0
	var existing *s3.HeadObjectOutput
	if r != "" && !s.known.absent(r) {
		out, err := s.head(s.key(r))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, s3PathErr("open", r, err)
		}
		existing = out
	}
	if existing == nil {
		statDir := s.statDir
		if write {
			statDir = s.dirExists // one request: a write needs no directory's metadata
		}
		fi, err := statDir(r)
		if err == nil && fi.IsDir() {
			if write {
				return nil, &os.PathError{Op: "open", Path: "/" + r, Err: syscall.EISDIR}
			}
			return &s3Dir{fs: s, r: r, info: fi}, nil
		}
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
		if !write || flag&os.O_CREATE == 0 {
			return nil, &os.PathError{Op: "open", Path: "/" + r, Err: os.ErrNotExist}
		}
		if err := s.parentDir("open", r); err != nil {
			return nil, err
		}
	}
	if !write {
		return &s3Reader{fs: s, r: r, key: s.key(r), etag: aws.ToString(existing.ETag), info: fileInfo(r, aws.ToInt64(existing.ContentLength), existing.Metadata, existing.LastModified)}, nil
	}
	if existing != nil {
		if flag&(os.O_CREATE|os.O_EXCL) == os.O_CREATE|os.O_EXCL {
			return nil, &os.PathError{Op: "open", Path: "/" + r, Err: os.ErrExist}
		}
		if err := s.checkUnlocked("open", r, existing); err != nil {
			return nil, err
		}
		perm = fileInfo(r, 0, existing.Metadata, nil).mode // an open never changes the mode
	}
	w := s.newWriter(r, perm, existing == nil && flag&os.O_EXCL != 0)
	if flag&os.O_RDWR == 0 && flag&os.O_APPEND == 0 && (existing == nil || flag&os.O_TRUNC != 0) {
		return w, nil
	}
	var src *s3Reader
	if existing != nil && flag&os.O_TRUNC == 0 {
		src = &s3Reader{fs: s, r: r, key: s.key(r), etag: aws.ToString(existing.ETag), info: fileInfo(r, aws.ToInt64(existing.ContentLength), existing.Metadata, existing.LastModified)}
	}
	return newSpool(w, src, flag)
}

// checkUnlocked refuses to replace an object under Object Lock retention:
// the server would keep the locked version anyway (a new version hides
// it), and the new one could not be removed either.
func (s *s3FS) checkUnlocked(op, r string, h *s3.HeadObjectOutput) error {
	if h.ObjectLockRetainUntilDate != nil && h.ObjectLockRetainUntilDate.After(time.Now()) {
		return &os.PathError{Op: op, Path: "/" + r, Err: &LockedError{Key: s.key(r), Mode: string(h.ObjectLockMode), Until: *h.ObjectLockRetainUntilDate}}
	}
	return nil
}

// Remove deletes a file (every version of it, on a versioned bucket), or
// an empty directory's marker.
func (s *s3FS) Remove(name string) error {
	r := rel(name)
	if r == "" {
		return &os.PathError{Op: "remove", Path: "/", Err: syscall.EBUSY}
	}
	if s.known.absent(r) {
		return &os.PathError{Op: "remove", Path: "/" + r, Err: os.ErrNotExist}
	}
	defer s.known.forget(r)
	if _, err := s.head(s.key(r)); err == nil {
		return s3PathErr("remove", r, s.deleteKeys([]string{s.key(r)}))
	} else if !errors.Is(err, os.ErrNotExist) {
		return s3PathErr("remove", r, err)
	}
	marker := s.dirPrefix(r)
	out, err := s.c.ListObjectsV2(s.ctx, &s3.ListObjectsV2Input{Bucket: &s.bucket, Prefix: &marker, MaxKeys: aws.Int32(2)})
	if err != nil {
		return s3PathErr("remove", r, s3Err("list", marker, err))
	}
	switch {
	case len(out.Contents) == 0:
		return &os.PathError{Op: "remove", Path: "/" + r, Err: os.ErrNotExist}
	case len(out.Contents) > 1 || aws.ToString(out.Contents[0].Key) != marker:
		return &os.PathError{Op: "remove", Path: "/" + r, Err: syscall.ENOTEMPTY}
	}
	return s3PathErr("remove", r, s.deleteKeys([]string{marker}))
}

// RemoveAll deletes name and every object under it; a missing name is
// not an error.
func (s *s3FS) RemoveAll(name string) error {
	r := rel(name)
	defer s.known.forget(r)
	if r != "" {
		if _, err := s.head(s.key(r)); err == nil {
			if err := s.deleteKeys([]string{s.key(r)}); err != nil {
				return s3PathErr("remove", r, err)
			}
		} else if !errors.Is(err, os.ErrNotExist) {
			return s3PathErr("remove", r, err)
		}
	}
	keys, err := s.listKeys(s.dirPrefix(r))
	if err != nil {
		return s3PathErr("remove", r, err)
	}
	return s3PathErr("remove", r, s.deleteKeys(objectKeys(keys)))
}

// Rename moves a file (a server-side copy, then the deletion of the old
// name; an existing file at newname is replaced, as rename(2) does) or a
// directory (every object under it, the same way). A directory never
// replaces anything: newname must not exist (os.ErrExist), not even as an
// empty directory. Neither move is atomic: a crash between copy and
// deletion leaves both names, a reader during a directory move may see
// the new name partly filled.
func (s *s3FS) Rename(oldname, newname string) error {
	ro, rn := rel(oldname), rel(newname)
	if ro == rn {
		return nil
	}
	if ro == "" || rn == "" {
		return &os.LinkError{Op: "rename", Old: oldname, New: newname, Err: syscall.EBUSY}
	}
	defer s.known.forget(ro) // after the move too: its stats below find them again
	defer s.known.forget(rn)
	s.known.wrote(rn)
	linkErr := func(err error) error {
		if err == nil {
			return nil
		}
		return &os.LinkError{Op: "rename", Old: "/" + ro, New: "/" + rn, Err: unwrapPath(err)}
	}
	src, err := s.stat(ro)
	if err != nil {
		return linkErr(err)
	}
	if err := s.parentDir("rename", rn); err != nil {
		return linkErr(err)
	}
	dst, err := s.stat(rn)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return linkErr(err)
	}
	if !src.IsDir() {
		if dst != nil && dst.IsDir() {
			return linkErr(syscall.EISDIR)
		}
		if s.lockable { // refused before the copy, which would stay
			h, err := s.head(s.key(ro))
			if err != nil {
				return linkErr(err)
			}
			if err := s.checkUnlocked("rename", ro, h); err != nil {
				return linkErr(err)
			}
		}
		if dst != nil {
			h, err := s.head(s.key(rn))
			if err != nil {
				return linkErr(err)
			}
			if err := s.checkUnlocked("rename", rn, h); err != nil {
				return linkErr(err)
			}
		}
		if err := s.copyObject(s.key(ro), s.key(rn), src.size, false); err != nil {
			return linkErr(err)
		}
		return linkErr(s.deleteKeys([]string{s.key(ro)}))
	}
	if dst != nil {
		return linkErr(os.ErrExist)
	}
	if strings.HasPrefix(rn+"/", ro+"/") {
		return linkErr(syscall.EINVAL)
	}
	from, to := s.dirPrefix(ro), s.dirPrefix(rn)
	keys, err := s.listKeys(from)
	if err != nil {
		return linkErr(err)
	}
	if err := s.copyAll(keys, from, to); err != nil {
		return linkErr(err)
	}
	return linkErr(s.deleteKeys(objectKeys(keys)))
}

func objectKeys(objs []s3Object) []string {
	keys := make([]string, len(objs))
	for i, o := range objs {
		keys[i] = o.key
	}
	return keys
}

// Chmod stores the new mode: the object is copied onto itself with new
// metadata (S3 cannot change an object in place).
func (s *s3FS) Chmod(name string, mode os.FileMode) error {
	return s.setMeta("chmod", name, func(m map[string]string) {
		m[s3MetaMode] = metadata(mode, time.Time{})[s3MetaMode]
	})
}

// Chown is not supported: objects have no owner but the account.
func (s *s3FS) Chown(name string, uid, gid int) error {
	return &os.PathError{Op: "chown", Path: name, Err: errors.ErrUnsupported}
}

// Chtimes stores mtime (atime is not kept) as Chmod stores a mode.
func (s *s3FS) Chtimes(name string, atime, mtime time.Time) error {
	return s.setMeta("chtimes", name, func(m map[string]string) {
		m[s3MetaMtime] = strconv.FormatInt(mtime.UnixNano(), 10)
	})
}

func (s *s3FS) setMeta(op, name string, change func(map[string]string)) error {
	r := rel(name)
	h, err := s.head(s.key(r))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			if fi, serr := s.stat(r); serr == nil && fi.IsDir() {
				return nil // a directory's metadata is its marker's; not kept
			}
		}
		return s3PathErr(op, r, err)
	}
	if err := s.checkUnlocked(op, r, h); err != nil {
		return err
	}
	m := map[string]string{}
	for k, v := range h.Metadata {
		m[k] = v
	}
	fi := fileInfo(r, 0, h.Metadata, h.LastModified)
	m[s3MetaMode] = metadata(fi.mode, time.Time{})[s3MetaMode]
	m[s3MetaMtime] = strconv.FormatInt(fi.mtime.UnixNano(), 10)
	change(m)
	return s3PathErr(op, r, s.copyMeta(s.key(r), m, aws.ToInt64(h.ContentLength)))
}
