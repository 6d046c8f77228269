package target

import (
	"errors"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// How the S3 FS names things: a path below the root is a key under the
// prefix, a directory a key prefix ending in "/", and what a file system
// keeps beside the bytes (mode, modification time) is object metadata.

// Metadata keys (x-amz-meta-...) that hold what a file system has and an
// object lacks.
const (
	s3MetaMode  = "mode"  // octal permission bits, "0600"
	s3MetaMtime = "mtime" // Unix time in nanoseconds
)

// rel is name below the root, clean, without a leading slash: "" is the
// root.
func rel(name string) string {
	return strings.TrimPrefix(path.Clean("/"+filepath.ToSlash(name)), "/")
}

// key is the object key of rel ("" only for the root of a whole-bucket
// target).
func (s *s3FS) key(r string) string {
	switch {
	case s.prefix == "":
		return r
	case r == "":
		return s.prefix
	}
	return s.prefix + "/" + r
}

// dirPrefix is the key prefix of the objects under directory r.
func (s *s3FS) dirPrefix(r string) string {
	if r == "" && s.prefix == "" {
		return ""
	}
	return s.key(r) + "/"
}

// parent is the directory that holds r.
func parent(r string) string {
	if d := path.Dir(r); d != "." {
		return d
	}
	return ""
}

// s3Info is an os.FileInfo of an object or a key prefix.
type s3Info struct {
	name  string
	size  int64
	mode  os.FileMode
	mtime time.Time
}

func (i *s3Info) Name() string       { return i.name }
func (i *s3Info) Size() int64        { return i.size }
func (i *s3Info) Mode() os.FileMode  { return i.mode }
func (i *s3Info) ModTime() time.Time { return i.mtime }
func (i *s3Info) IsDir() bool        { return i.mode.IsDir() }
func (i *s3Info) Sys() any           { return nil }

func baseName(r string) string {
	if r == "" {
		return "/"
	}
	return path.Base(r)
}

// fileInfo makes the info of an object from its metadata.
func fileInfo(r string, size int64, meta map[string]string, modified *time.Time) *s3Info {
	fi := &s3Info{name: baseName(r), size: size, mode: 0o600}
	if m, err := strconv.ParseUint(meta[s3MetaMode], 8, 32); err == nil {
		fi.mode = os.FileMode(m) & os.ModePerm
	}
	if ns, err := strconv.ParseInt(meta[s3MetaMtime], 10, 64); err == nil {
		fi.mtime = time.Unix(0, ns).UTC()
	} else if modified != nil {
		fi.mtime = *modified
	}
	return fi
}

func dirInfo(r string, meta map[string]string, modified *time.Time) *s3Info {
	fi := fileInfo(r, 0, meta, modified)
	if meta[s3MetaMode] == "" {
		fi.mode = 0o700
	}
	fi.mode |= os.ModeDir
	return fi
}

// metadata is the metadata stored with a new object.
func metadata(perm os.FileMode, mtime time.Time) map[string]string {
	return map[string]string{
		s3MetaMode:  "0" + strconv.FormatUint(uint64(perm&os.ModePerm), 8),
		s3MetaMtime: strconv.FormatInt(mtime.UnixNano(), 10),
	}
}

// s3PathErr wraps err (already mapped by s3Err) as an *os.PathError on the
// root-relative path r, unless it is one.
func s3PathErr(op, r string, err error) error {
	if err == nil {
		return nil
	}
	var pe *os.PathError
	if errors.As(err, &pe) {
		return err
	}
	return &os.PathError{Op: op, Path: "/" + r, Err: err}
}

// unwrapPath is the cause inside an *os.PathError, for a LinkError.
func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
