package target

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/spf13/afero"

	"github.com/atocore/atocore-backup/target/s3test"
)

// Objects above CopyObject's 5 GiB are copied in parts (UploadPartCopy),
// of S3PartSize so that the copy's composite checksum, where the server
// gives one, is the one CompositeSHA256 computes. Shown with the limit
// lowered to 20 MiB: a rename, a server-side copy and a chmod of a 40 MiB
// file. (versitygw 1.8.0 answers UploadPartCopy with the source's
// checksum, not the part's, so there the copies have none.)
func TestS3CopyInParts(t *testing.T) {
	srv := s3test.Start(t)
	defer func(old int64) { s3CopyLimit = old }(s3CopyLimit)
	s3CopyLimit = 20 << 20
	tgt, err := Open(t.Context(), srv.URL(srv.Bucket, "parts"), Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer tgt.Close()
	fsys := tgt.FS().(*s3FS)
	data := make([]byte, 40<<20+3)
	_, _ = io.ReadFull(rand.NewChaCha8([32]byte{9}), data)
	if _, err := fsys.WriteFileFrom("/a", bytes.NewReader(data), 0o600); err != nil {
		t.Fatal(err)
	}
	want, wantParts, _ := CompositeSHA256(bytes.NewReader(data), S3PartSize)
	check := func(name string) {
		t.Helper()
		got, err := afero.ReadFile(fsys, name)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("%s: %d bytes, %v", name, len(got), err)
		}
		sum, parts, err := fsys.StoredSHA256(name)
		if errors.Is(err, errors.ErrUnsupported) {
			t.Logf("%s: no stored checksum: %v", name, err)
			return
		}
		if err != nil || !bytes.Equal(sum, want) || parts != wantParts {
			t.Errorf("%s: stored %x in %d parts (%v), want %x in %d", name, sum, parts, err, want, wantParts)
		}
	}
	if err := fsys.Rename("/a", "/b"); err != nil {
		t.Fatal(err)
	}
	check("/b")
	if err := fsys.CopyFile("/b", "/c"); err != nil {
		t.Fatal(err)
	}
	check("/c")
	if err := fsys.Chmod("/c", 0o640); err != nil {
		t.Fatal(err)
	}
	check("/c")
	if fi, err := fsys.Stat("/c"); err != nil || fi.Mode().Perm() != 0o640 {
		t.Errorf("mode after a chmod in parts: %v, %v", fi, err)
	}
}
