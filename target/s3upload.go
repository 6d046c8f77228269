package target

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// s3Writer streams a new object: the bytes are kept until S3PartSize of
// them are there; a file that ends before is one PutObject, a larger one
// a multipart upload whose parts are sent s3InFlight at a time while the
// next fills, so that it holds at most (s3InFlight+1)*S3PartSize bytes.
// Every object and part carries its SHA-256 (x-amz-checksum-sha256), which
// the server checks and keeps. Nothing is visible under the name before
// Close returns nil; a failed upload is aborted, leaving nothing.
type s3Writer struct {
	fs     *s3FS
	r, key string
	perm   os.FileMode
	excl   bool // If-None-Match: * (the name must still be free at the end)
	mtime  time.Time

	buf      []byte // the part being filled
	off      int64  // bytes written
	uploadID *string
	parts    []types.CompletedPart
	wg       sync.WaitGroup
	mu       sync.Mutex
	err      error // the first failed part
	closed   bool

	// A resumable upload (WriteFileResumable) is left, not aborted, when
	// it fails; it may continue one the server holds parts of.
	keep    bool
	started func(id string) error // told the new upload's id
	held    map[int32]heldPart    // the parts of the upload continued
	kept    int64                 // bytes of held parts not sent again
}

func (s *s3FS) newWriter(r string, perm os.FileMode, excl bool) *s3Writer {
	s.known.wrote(r)
	return &s3Writer{fs: s, r: r, key: s.key(r), perm: perm & os.ModePerm, excl: excl, mtime: time.Now()}
}

func (w *s3Writer) failed() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// room sends w.buf as a part when it is full.
func (w *s3Writer) room() error {
	if len(w.buf) < S3PartSize {
		return nil
	}
	return w.sendPart()
}

// sendPart starts the upload of the full w.buf as the next part and gives
// w.buf a buffer whose part is done (waiting for one when s3InFlight are
// in flight).
func (w *s3Writer) sendPart() error { return w.send(false) }

// send is sendPart; last leaves w without a buffer (Close sends the rest).
func (w *s3Writer) send(last bool) error {
	if err := w.failed(); err != nil {
		return err
	}
	if w.uploadID == nil {
		mode, until := w.fs.retention()
		out, err := w.fs.c.CreateMultipartUpload(w.fs.ctx, &s3.CreateMultipartUploadInput{
			Bucket: &w.fs.bucket, Key: &w.key, Metadata: metadata(w.perm, w.mtime),
			ChecksumAlgorithm: types.ChecksumAlgorithmSha256, ChecksumType: types.ChecksumTypeComposite,
			ObjectLockMode: mode, ObjectLockRetainUntilDate: until,
		})
		if err != nil {
			return s3Err("upload", w.key, err)
		}
		w.uploadID = out.UploadId
		if w.started != nil {
			if err := w.started(aws.ToString(out.UploadId)); err != nil {
				return fmt.Errorf("upload %s: record the upload: %w", w.key, err)
			}
		}
	}
	if len(w.parts) == 10000 {
		return fmt.Errorf("upload %s: more than 10000 parts of %d bytes", w.key, S3PartSize)
	}
	w.mu.Lock() // the parts in flight fill in their entries
	num := int32(len(w.parts) + 1)
	w.parts = append(w.parts, types.CompletedPart{PartNumber: aws.Int32(num)})
	w.mu.Unlock()
	data := w.buf
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		sum := sha256.Sum256(data)
		sum64 := base64.StdEncoding.EncodeToString(sum[:])
		if w.keptPart(num, data, sum64) {
			w.fs.parts.put(data)
			return
		}
		out, err := w.fs.c.UploadPart(w.fs.ctx, &s3.UploadPartInput{
			Bucket: &w.fs.bucket, Key: &w.key, UploadId: w.uploadID, PartNumber: aws.Int32(num),
			Body: bytes.NewReader(data), ContentLength: aws.Int64(int64(len(data))), ChecksumSHA256: &sum64,
		})
		w.mu.Lock()
		if err != nil && w.err == nil {
			w.err = s3Err("upload", w.key, err)
		}
		if err == nil {
			w.parts[num-1].ETag, w.parts[num-1].ChecksumSHA256 = out.ETag, &sum64
		}
		w.mu.Unlock()
		w.fs.parts.put(data)
	}()
	if last {
		w.buf = nil
		return nil
	}
	buf, err := w.fs.parts.get(w.fs.ctx)
	w.buf = buf
	return err
}

// partPool lends the part buffers of a target's uploads: at most
// s3Buffers exist, each back in the pool once its part is sent, so that
// the memory of concurrent uploads is bounded together and reused (fresh
// buffers for every part were garbage the collector freed late: a push
// of two files at once peaked at 245-370 MiB).
type partPool struct {
	mu   sync.Mutex
	made map[*byte]bool // the buffers made, by their first byte
	free chan []byte
}

// get takes a buffer, waiting while every one is in use.
func (p *partPool) get(ctx context.Context) ([]byte, error) {
	p.mu.Lock()
	if p.free == nil {
		p.free, p.made = make(chan []byte, s3Buffers), map[*byte]bool{}
	}
	select {
	case b := <-p.free:
		p.mu.Unlock()
		return b[:0], nil
	default:
	}
	if len(p.made) < s3Buffers {
		b := make([]byte, 0, S3PartSize)
		p.made[&b[:1][0]] = true
		p.mu.Unlock()
		return b, nil
	}
	free := p.free
	p.mu.Unlock()
	select {
	case b := <-free:
		return b[:0], nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// put gives back a buffer that get lent; any other (a small file's own,
// grown as it filled) is left to the collector.
func (p *partPool) put(b []byte) {
	if cap(b) == 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.made[&b[:1][0]] {
		select {
		case p.free <- b[:0]: // room: at most s3Buffers are made
		default:
		}
	}
}

func (w *s3Writer) Write(p []byte) (int, error) {
	if w.closed {
		return 0, os.ErrClosed
	}
	n := 0
	for len(p) > 0 {
		if err := w.room(); err != nil {
			return n, &os.PathError{Op: "write", Path: "/" + w.r, Err: err}
		}
		m := min(len(p), S3PartSize-len(w.buf))
		w.buf = append(w.buf, p[:m]...)
		p, n, w.off = p[m:], n+m, w.off+int64(m)
	}
	return n, nil
}

// ReadFrom reads r into the part buffers directly (io.Copy uses it). A
// full buffer is sent only once a further byte has come, so that a file
// of exactly S3PartSize bytes is one PutObject, as with Write.
func (w *s3Writer) ReadFrom(r io.Reader) (int64, error) {
	if w.closed {
		return 0, os.ErrClosed
	}
	var n int64
	for idle := 0; ; {
		if err := w.fs.ctx.Err(); err != nil {
			return n, err
		}
		if len(w.buf) >= S3PartSize {
			var one [1]byte
			m, err := io.ReadFull(r, one[:])
			if m == 0 {
				if err == io.EOF {
					return n, nil
				}
				return n, err
			}
			if err := w.sendPart(); err != nil {
				return n, &os.PathError{Op: "write", Path: "/" + w.r, Err: err}
			}
			w.buf = append(w.buf, one[0])
			n, w.off = n+1, w.off+1
		}
		if len(w.buf) == cap(w.buf) { // small files start small
			w.buf = slices.Grow(w.buf, min(max(cap(w.buf), 64<<10), S3PartSize-len(w.buf)))
		}
		m, err := r.Read(w.buf[len(w.buf):min(cap(w.buf), S3PartSize)])
		w.buf = w.buf[:len(w.buf)+m]
		n, w.off = n+int64(m), w.off+int64(m)
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
		if idle++; m > 0 {
			idle = 0
		} else if idle == 100 { // as bufio: a reader that never gives bytes nor EOF
			return n, io.ErrNoProgress
		}
	}
}

func (w *s3Writer) WriteString(s string) (int, error) { return w.Write([]byte(s)) }

// Close sends what is left and makes the object: PutObject, or the last
// part and CompleteMultipartUpload. An exclusive create whose name was
// taken meanwhile fails with os.ErrExist.
func (w *s3Writer) Close() error {
	if w.closed {
		return nil
	}
	w.closed = true
	err := w.finish()
	w.buf = nil
	if err != nil {
		return &os.PathError{Op: "close", Path: "/" + w.r, Err: err}
	}
	return nil
}

func (w *s3Writer) finish() error {
	mode, until := w.fs.retention()
	var ifNone *string
	if w.excl {
		ifNone = aws.String("*")
	}
	if w.uploadID == nil {
		sum := sha256.Sum256(w.buf)
		_, err := w.fs.c.PutObject(w.fs.ctx, &s3.PutObjectInput{
			Bucket: &w.fs.bucket, Key: &w.key, Body: bytes.NewReader(w.buf), ContentLength: aws.Int64(int64(len(w.buf))),
			ChecksumSHA256: aws.String(base64.StdEncoding.EncodeToString(sum[:])), Metadata: metadata(w.perm, w.mtime),
			IfNoneMatch: ifNone, ObjectLockMode: mode, ObjectLockRetainUntilDate: until,
		})
		return s3Err("upload", w.key, err)
	}
	var err error
	if len(w.buf) > 0 {
		err = w.send(true)
	} else {
		w.fs.parts.put(w.buf)
		w.buf = nil
	}
	w.wg.Wait()
	if err == nil {
		err = w.failed()
	}
	if err == nil {
		_, err = w.fs.c.CompleteMultipartUpload(w.fs.ctx, &s3.CompleteMultipartUploadInput{
			Bucket: &w.fs.bucket, Key: &w.key, UploadId: w.uploadID, IfNoneMatch: ifNone,
			MultipartUpload: &types.CompletedMultipartUpload{Parts: w.parts},
		})
		err = s3Err("upload", w.key, err)
	}
	if err != nil && !w.keep {
		w.fs.abort(w.key, w.uploadID)
	}
	return err
}

// abort ends a multipart upload that will not complete, so that its parts
// are not kept (and billed); it runs even after the target's context is
// cancelled, bounded by s3Timeout.
func (s *s3FS) abort(key string, id *string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(s.ctx), s3Timeout)
	defer cancel()
	_, _ = s.c.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: &s.bucket, Key: &key, UploadId: id})
}

// Sync succeeds: an object is durable once its upload has completed,
// which is at Close (whose error the caller must check).
func (w *s3Writer) Sync() error { return w.failed() }

func (w *s3Writer) Name() string { return "/" + w.r }
func (w *s3Writer) Stat() (os.FileInfo, error) {
	return &s3Info{name: baseName(w.r), size: w.off, mode: w.perm, mtime: w.mtime}, nil
}

// Seek tells the offset; a streamed upload cannot move it.
func (w *s3Writer) Seek(offset int64, whence int) (int64, error) {
	if whence == io.SeekCurrent && offset == 0 || whence == io.SeekStart && offset == w.off {
		return w.off, nil
	}
	return 0, w.sequential("seek")
}
func (w *s3Writer) sequential(op string) error {
	return &os.PathError{Op: op, Path: "/" + w.r, Err: errors.Join(errors.ErrUnsupported, errors.New("an S3 upload is written in order: open the file O_RDWR to write elsewhere"))}
}
func (w *s3Writer) WriteAt([]byte, int64) (int, error) { return 0, w.sequential("writeat") }
func (w *s3Writer) Truncate(size int64) error {
	if size == w.off {
		return nil
	}
	return w.sequential("truncate")
}
func (w *s3Writer) Read([]byte) (int, error) {
	return 0, &os.PathError{Op: "read", Path: "/" + w.r, Err: syscall.EBADF}
}
func (w *s3Writer) ReadAt([]byte, int64) (int, error) {
	return 0, &os.PathError{Op: "read", Path: "/" + w.r, Err: syscall.EBADF}
}
func (w *s3Writer) Readdir(int) ([]os.FileInfo, error) {
	return nil, &os.PathError{Op: "readdir", Path: "/" + w.r, Err: syscall.ENOTDIR}
}
func (w *s3Writer) Readdirnames(int) ([]string, error) {
	return nil, &os.PathError{Op: "readdir", Path: "/" + w.r, Err: syscall.ENOTDIR}
}

// WriteFileFrom uploads r as the new file name (os.ErrExist if it
// exists, also when another writer takes the name during the upload),
// with bounded memory (see s3Writer). On error nothing is left.
func (s *s3FS) WriteFileFrom(name string, r io.Reader, perm os.FileMode) (int64, error) {
	f, err := s.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return 0, err
	}
	w := f.(*s3Writer)
	n, err := w.ReadFrom(r)
	if err != nil {
		w.discard()
		return n, fmt.Errorf("write %s: %w", name, err)
	}
	return n, w.Close()
}

// discard closes w without making the object.
func (w *s3Writer) discard() {
	if w.closed {
		return
	}
	w.closed = true
	w.wg.Wait()
	if w.uploadID != nil && !w.keep {
		w.fs.abort(w.key, w.uploadID)
	}
	w.fs.parts.put(w.buf)
	w.buf = nil
}
