package offsite

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/spf13/afero"

	"github.com/atocore/atocore-backup/target"
	"github.com/atocore/atocore-backup/validate"
)

// Checksums the server stores (target.ChecksumReporter: S3's SHA-256
// object checksums), recorded in the signed statement so that remote
// validate --quick can check a snapshot without downloading it.
//
// A file the server stores in one piece has the SHA-256 of its bytes,
// which the statement lists anyway. One uploaded in parts has the
// composite checksum: the SHA-256 of the parts' binary SHA-256 digests,
// in order; the statement records it as "HEX-PARTS" in stored_sha256.

// partSizer is the part size a ChecksumReporter's uploads use (S3's
// multipart uploads): what a composite checksum is computed over.
type partSizer interface {
	UploadPartSize() int64
}

// compositeHash computes, over a stream, the checksum a server that
// uploads in parts of size stores: the plain SHA-256 for a stream of at
// most one part, the composite beyond.
type compositeHash struct {
	size   int64
	whole  hash.Hash
	part   hash.Hash
	inPart int64
	parts  []byte // the finished parts' digests
	n      int
}

func newCompositeHash(size int64) *compositeHash {
	return &compositeHash{size: size, whole: sha256.New(), part: sha256.New()}
}

func (c *compositeHash) Write(b []byte) (int, error) {
	n := len(b)
	c.whole.Write(b)
	for len(b) > 0 {
		m := int(min(int64(len(b)), c.size-c.inPart))
		c.part.Write(b[:m])
		c.inPart += int64(m)
		b = b[m:]
		if c.inPart == c.size {
			c.parts = c.part.Sum(c.parts)
			c.n++
			c.part.Reset()
			c.inPart = 0
		}
	}
	return n, nil
}

// stored is the checksum as the statement records it: "" for a stream of
// one part (its SHA-256 is the file's own), "HEX-PARTS" beyond.
func (c *compositeHash) stored() string {
	parts, n := c.parts, c.n
	if c.inPart > 0 {
		parts = c.part.Sum(parts)
		n++
	}
	if n <= 1 {
		return ""
	}
	sum := sha256.Sum256(parts)
	return storedText(sum[:], n)
}

func storedText(sum []byte, parts int) string {
	if parts == 0 {
		return hex.EncodeToString(sum)
	}
	return hex.EncodeToString(sum) + "-" + strconv.Itoa(parts)
}

// storedChecksums asks the server, for each file of a snapshot about to
// be signed, the checksum it stores, and returns those of files stored in
// parts (by remote path) for the statement. A file in one piece must
// store the SHA-256 of the bytes sent; one in parts must store the
// composite this push computed while sending it (own), when it sent it.
// Files resumed or copied on the server are taken at the server's word,
// which it checked against the checksums sent with each part.
func storedChecksums(rfs afero.Fs, dir string, files []StoredFile, own map[string]string) (map[string]string, error) {
	cr, ok := rfs.(target.ChecksumReporter)
	if !ok {
		return nil, nil
	}
	out := map[string]string{}
	for _, f := range files {
		sum, parts, err := cr.StoredSHA256(filepath.Join(dir, filepath.FromSlash(f.Path)))
		if errors.Is(err, errors.ErrUnsupported) {
			continue // no checksum kept for this one (a large server-side copy): quick validation names it
		}
		if err != nil {
			return nil, fmt.Errorf("the stored checksum of %s: %w", f.Path, err)
		}
		got := storedText(sum, parts)
		switch {
		case parts == 0 && got != f.SHA256:
			return nil, fmt.Errorf("the target stores %s with another SHA-256 than the bytes sent (%s, not %s): push again", f.Path, got, f.SHA256)
		case parts > 0 && own[f.Path] != "" && own[f.Path] != got:
			return nil, fmt.Errorf("the target stores %s with the composite checksum %s, the bytes sent have %s: push again", f.Path, got, own[f.Path])
		case parts > 0 && own[f.Path] != "":
			out[f.Path] = got
		}
		// A file in parts this push did not send (resumed, or copied on
		// the server) gets no stored checksum: the server's word for it
		// would be signed unchecked (a source damaged on the target would
		// pass quick validation), so quick validation names it instead.
	}
	return out, nil
}

// quickCheck is remote validate --quick on files of a statement: each
// file's checksum as the server stores it, compared with the statement.
// It reads no file's bytes.
func quickCheck(ctx context.Context, rfs afero.Fs, dir string, st *Statement) ([]string, error) {
	cr, ok := rfs.(target.ChecksumReporter)
	if !ok {
		return nil, ErrNoStoredChecksums
	}
	var f findings
	unkept := 0
	for _, sf := range st.Files {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		sum, parts, err := cr.StoredSHA256(filepath.Join(dir, filepath.FromSlash(sf.Path)))
		if errors.Is(err, errors.ErrUnsupported) {
			unkept++
			f.add(fmt.Sprintf("%s: %s: the target keeps no checksum of it (%v): a validation that reads the bytes checks it", CodeChecksumNotKept, sf.Path, err))
			continue
		}
		if err != nil {
			if !f.add(fmt.Sprintf("%s: %s: %v", validate.CodeManifestMismatch, sf.Path, err)) {
				break
			}
			continue
		}
		want := sf.SHA256
		if parts > 0 {
			want = sf.Stored
		}
		got := storedText(sum, parts)
		switch {
		case want == "":
			f.add(fmt.Sprintf("%s: %s is stored in %d parts and the signed %s records no composite checksum for it (pushed before checksums were recorded, or copied on the server): a validation that reads the bytes checks it", validate.CodeManifestMismatch, sf.Path, parts, StatementFile))
		case !strings.EqualFold(got, want):
			f.add(fmt.Sprintf("%s: %s: the target's stored checksum %s differs from the signed %s (%s)", validate.CodeManifestMismatch, sf.Path, got, StatementFile, want))
		}
	}
	if unkept == len(st.Files) && unkept > 0 {
		return nil, ErrNoStoredChecksums
	}
	return f.list, nil
}

// CodeChecksumNotKept is the finding of remote validate --quick for a
// file whose checksum the target does not keep (versitygw stores none for
// a server-side copy above 5 GiB): it cannot be checked without reading.
const CodeChecksumNotKept = "checksum_not_kept"

// ErrNoStoredChecksums is matched when remote validate --quick is asked
// of a target that keeps no checksums of its files (SFTP, a local disk).
var ErrNoStoredChecksums = errors.New("the target keeps no checksums of its files (only object storage such as s3:// does): validate without quick, which reads the bytes")
