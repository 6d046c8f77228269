package target

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

var _ PartResumer = (*s3FS)(nil)

// WriteFileResumable is WriteFileFrom for a multipart upload that a later
// process may continue (PartResumer). Continuing up lists its parts
// (ListParts); a part whose size and SHA-256 match what is to be sent is
// kept, any other is sent again over it. An upload the server no longer
// has (completed, aborted, expired) is started anew.
func (s *s3FS) WriteFileResumable(name string, r io.Reader, perm os.FileMode, up string, started func(string) error) (int64, int64, error) {
	f, err := s.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return 0, 0, err
	}
	w := f.(*s3Writer)
	w.keep, w.started = true, started
	if up != "" {
		held, err := s.listParts(w.key, up)
		switch {
		case err == nil:
			w.uploadID, w.held = aws.String(up), held
		case !errors.Is(err, os.ErrNotExist):
			w.discard()
			return 0, 0, fmt.Errorf("write %s: %w", name, err)
		}
	}
	n, err := w.ReadFrom(r)
	if err != nil {
		w.discard()
		return n, w.kept, fmt.Errorf("write %s: %w", name, err)
	}
	err = w.Close()
	return n, w.kept, err
}

// AbortUpload ends the multipart upload up of name (PartResumer); one the
// server no longer has is not an error.
func (s *s3FS) AbortUpload(name, up string) error {
	key := s.key(rel(name))
	_, err := s.c.AbortMultipartUpload(s.ctx, &s3.AbortMultipartUploadInput{Bucket: &s.bucket, Key: &key, UploadId: &up})
	if err = s3Err("abort", key, err); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}

// heldPart is a part an upload already has on the server.
type heldPart struct {
	size   int64
	sha256 string // base64, as x-amz-checksum-sha256
	etag   *string
}

// listParts lists the parts the upload up of key holds, by number;
// os.ErrNotExist when the server has no such upload.
func (s *s3FS) listParts(key, up string) (map[int32]heldPart, error) {
	held := map[int32]heldPart{}
	in := &s3.ListPartsInput{Bucket: &s.bucket, Key: &key, UploadId: &up}
	for range s3MaxListPages {
		out, err := s.c.ListParts(s.ctx, in)
		if err != nil {
			if s3Code(err) == "NoSuchUpload" {
				return nil, &os.PathError{Op: "list parts", Path: key, Err: os.ErrNotExist}
			}
			return nil, s3Err("list parts", key, err)
		}
		for _, p := range out.Parts {
			held[aws.ToInt32(p.PartNumber)] = heldPart{size: aws.ToInt64(p.Size), sha256: aws.ToString(p.ChecksumSHA256), etag: p.ETag}
		}
		if !aws.ToBool(out.IsTruncated) || out.NextPartNumberMarker == nil {
			return held, nil
		}
		in.PartNumberMarker = out.NextPartNumberMarker
	}
	return nil, fmt.Errorf("list the parts of %s: more than %d pages", key, s3MaxListPages)
}

// keptPart reports whether the upload already holds part num with data's
// size and checksum sum64, and fills in its entry if so. A held part of
// the same size and another checksum (or none) fails the upload with
// ErrPartsDiffer before anything of it is sent.
func (w *s3Writer) keptPart(num int32, data []byte, sum64 string) bool {
	h, ok := w.held[num]
	if !ok || h.size != int64(len(data)) {
		return false
	}
	if h.sha256 != sum64 {
		w.mu.Lock()
		if w.err == nil {
			w.err = fmt.Errorf("upload %s: part %d: %w", w.key, num, ErrPartsDiffer)
		}
		w.mu.Unlock()
		return true // not sent: the upload fails
	}
	w.mu.Lock()
	w.parts[num-1].ETag, w.parts[num-1].ChecksumSHA256 = h.etag, aws.String(sum64)
	w.kept += int64(len(data))
	w.mu.Unlock()
	return true
}
