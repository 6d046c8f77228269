package target

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"slices"
	"strings"
	"syscall"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// s3Reader reads an object: one GET streamed from the current offset, a
// new ranged GET after a Seek (or a ReadAt). Every GET is conditional on
// the ETag seen at open, so that a file replaced meanwhile is an error,
// never a mix of two versions.
type s3Reader struct {
	fs      *s3FS
	r, key  string
	etag    string
	info    *s3Info
	off     int64
	body    io.ReadCloser
	bodyOff int64
	closed  bool
}

// get opens a GET of the bytes from off to last (-1: the end).
func (f *s3Reader) get(off, last int64) (io.ReadCloser, error) {
	rng := fmt.Sprintf("bytes=%d-", off)
	if last >= 0 {
		rng += fmt.Sprint(last)
	}
	in := &s3.GetObjectInput{Bucket: &f.fs.bucket, Key: &f.key, Range: &rng}
	if f.etag != "" {
		in.IfMatch = &f.etag
	}
	out, err := f.fs.c.GetObject(f.fs.ctx, in)
	if err != nil {
		err = s3Err("read", f.key, err)
		if errors.Is(err, os.ErrExist) { // 412: the ETag no longer matches
			err = fmt.Errorf("read %s: the object was replaced while it was open", f.key)
		}
		return nil, &os.PathError{Op: "read", Path: "/" + f.r, Err: err}
	}
	return out.Body, nil
}

func (f *s3Reader) Read(p []byte) (int, error) {
	if f.closed {
		return 0, os.ErrClosed
	}
	if f.off >= f.info.size {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	if f.body == nil || f.bodyOff != f.off {
		f.closeBody()
		b, err := f.get(f.off, -1)
		if err != nil {
			return 0, err
		}
		f.body, f.bodyOff = b, f.off
	}
	n, err := f.body.Read(p[:min(int64(len(p)), f.info.size-f.off)])
	f.off += int64(n)
	f.bodyOff += int64(n)
	if err == io.EOF {
		f.closeBody()
		if f.off < f.info.size {
			return n, &os.PathError{Op: "read", Path: "/" + f.r, Err: io.ErrUnexpectedEOF}
		}
		err = nil
	}
	if err != nil {
		f.closeBody()
		return n, &os.PathError{Op: "read", Path: "/" + f.r, Err: err}
	}
	return n, nil
}

func (f *s3Reader) ReadAt(p []byte, off int64) (int, error) {
	if f.closed {
		return 0, os.ErrClosed
	}
	if off < 0 {
		return 0, &os.PathError{Op: "readat", Path: "/" + f.r, Err: syscall.EINVAL}
	}
	if off >= f.info.size {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	end := min(off+int64(len(p)), f.info.size)
	b, err := f.get(off, end-1)
	if err != nil {
		return 0, err
	}
	defer b.Close()
	n, err := io.ReadFull(b, p[:end-off])
	if err != nil {
		return n, &os.PathError{Op: "readat", Path: "/" + f.r, Err: err}
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (f *s3Reader) Seek(offset int64, whence int) (int64, error) {
	if f.closed {
		return 0, os.ErrClosed
	}
	switch whence {
	case io.SeekCurrent:
		offset += f.off
	case io.SeekEnd:
		offset += f.info.size
	}
	if offset < 0 {
		return 0, &os.PathError{Op: "seek", Path: "/" + f.r, Err: syscall.EINVAL}
	}
	f.off = offset
	return offset, nil
}

func (f *s3Reader) closeBody() {
	if f.body != nil {
		_ = f.body.Close()
		f.body = nil
	}
}

func (f *s3Reader) Close() error {
	f.closeBody()
	f.closed = true
	return nil
}

func (f *s3Reader) Name() string               { return "/" + f.r }
func (f *s3Reader) Stat() (os.FileInfo, error) { return f.info, nil }
func (f *s3Reader) Sync() error                { return nil }
func (f *s3Reader) readOnly(op string) error {
	return &os.PathError{Op: op, Path: "/" + f.r, Err: syscall.EBADF}
}
func (f *s3Reader) Write([]byte) (int, error)          { return 0, f.readOnly("write") }
func (f *s3Reader) WriteAt([]byte, int64) (int, error) { return 0, f.readOnly("write") }
func (f *s3Reader) WriteString(string) (int, error)    { return 0, f.readOnly("write") }
func (f *s3Reader) Truncate(int64) error               { return f.readOnly("truncate") }
func (f *s3Reader) Readdir(int) ([]os.FileInfo, error) {
	return nil, &os.PathError{Op: "readdir", Path: "/" + f.r, Err: syscall.ENOTDIR}
}
func (f *s3Reader) Readdirnames(int) ([]string, error) {
	return nil, &os.PathError{Op: "readdir", Path: "/" + f.r, Err: syscall.ENOTDIR}
}

// s3Dir is an open directory: its entries are listed (delimiter "/") at
// the first Readdir, sorted by name, and handed out from there. A file's
// entry has the size and upload time of the listing and mode 0600 (the
// listing has no metadata: Stat the file for its own mode and time).
type s3Dir struct {
	fs      *s3FS
	r       string
	info    *s3Info
	entries []os.FileInfo
	listed  bool
	pos     int
}

func (d *s3Dir) list() error {
	if d.listed {
		return nil
	}
	prefix := d.fs.dirPrefix(d.r)
	in := &s3.ListObjectsV2Input{Bucket: &d.fs.bucket, Prefix: &prefix, Delimiter: aws.String("/")}
	for page := 0; ; page++ {
		if page == s3MaxListPages {
			return fmt.Errorf("readdir /%s: more than %d pages", d.r, s3MaxListPages)
		}
		out, err := d.fs.c.ListObjectsV2(d.fs.ctx, in)
		if err != nil {
			return &os.PathError{Op: "readdir", Path: "/" + d.r, Err: s3Err("list", prefix, err)}
		}
		for _, p := range out.CommonPrefixes {
			name := strings.TrimSuffix(strings.TrimPrefix(aws.ToString(p.Prefix), prefix), "/")
			if name != "" {
				d.entries = append(d.entries, dirInfo(path.Join(d.r, name), nil, nil))
			}
		}
		for _, o := range out.Contents {
			name := strings.TrimPrefix(aws.ToString(o.Key), prefix)
			if name == "" || strings.Contains(name, "/") {
				continue // the directory's own marker
			}
			d.entries = append(d.entries, fileInfo(path.Join(d.r, name), aws.ToInt64(o.Size), nil, o.LastModified))
		}
		if !aws.ToBool(out.IsTruncated) || out.NextContinuationToken == nil {
			break
		}
		in.ContinuationToken = out.NextContinuationToken
	}
	slices.SortFunc(d.entries, func(a, b os.FileInfo) int { return strings.Compare(a.Name(), b.Name()) })
	// A name that is both an object and a prefix is listed once, as the
	// file that Stat finds.
	d.entries = slices.CompactFunc(d.entries, func(a, b os.FileInfo) bool { return a.Name() == b.Name() })
	d.listed = true
	return nil
}

func (d *s3Dir) Readdir(n int) ([]os.FileInfo, error) {
	if err := d.list(); err != nil {
		return nil, err
	}
	rest := d.entries[d.pos:]
	if n <= 0 {
		d.pos = len(d.entries)
		return slices.Clone(rest), nil
	}
	if len(rest) == 0 {
		return nil, io.EOF
	}
	rest = rest[:min(n, len(rest))]
	d.pos += len(rest)
	return slices.Clone(rest), nil
}

func (d *s3Dir) Readdirnames(n int) ([]string, error) {
	fis, err := d.Readdir(n)
	names := make([]string, len(fis))
	for i, fi := range fis {
		names[i] = fi.Name()
	}
	return names, err
}

func (d *s3Dir) Name() string               { return "/" + d.r }
func (d *s3Dir) Stat() (os.FileInfo, error) { return d.info, nil }
func (d *s3Dir) Close() error               { return nil }
func (d *s3Dir) Sync() error                { return nil }
func (d *s3Dir) isDir(op string) error {
	return &os.PathError{Op: op, Path: "/" + d.r, Err: syscall.EISDIR}
}
func (d *s3Dir) Read([]byte) (int, error)           { return 0, d.isDir("read") }
func (d *s3Dir) ReadAt([]byte, int64) (int, error)  { return 0, d.isDir("read") }
func (d *s3Dir) Seek(int64, int) (int64, error)     { return 0, d.isDir("seek") }
func (d *s3Dir) Write([]byte) (int, error)          { return 0, d.isDir("write") }
func (d *s3Dir) WriteAt([]byte, int64) (int, error) { return 0, d.isDir("write") }
func (d *s3Dir) WriteString(string) (int, error)    { return 0, d.isDir("write") }
func (d *s3Dir) Truncate(int64) error               { return d.isDir("truncate") }
