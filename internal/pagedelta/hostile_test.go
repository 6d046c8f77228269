package pagedelta

import (
	"bytes"
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/superfly/ltx"
)

// A delta from a hostile target (an intermediate link of a chain, which
// may be unsigned) whose page header announces a 4 GiB compressed block:
// ApplyTo must refuse it without allocating what it announces.
func TestApplyToBoundsAPageBlock(t *testing.T) {
	base := make([]byte, 4096)
	copy(base, "SQLite format 3\x00")
	pre, err := ltx.ChecksumReader(bytes.NewReader(base), 4096)
	if err != nil {
		t.Fatal(err)
	}
	hdr := ltx.Header{Version: ltx.Version, PageSize: 4096, Commit: 1, MinTXID: 2, MaxTXID: 2, PreApplyChecksum: pre}
	b, err := hdr.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var ph [ltx.PageHeaderSize + 4]byte
	binary.BigEndian.PutUint32(ph[0:], 1)
	binary.BigEndian.PutUint16(ph[4:], ltx.PageHeaderFlagSize)
	binary.BigEndian.PutUint32(ph[6:], 0xFFFFFFF0)
	delta := append(b, ph[:]...)
	p := filepath.Join(t.TempDir(), "db")
	if err := os.WriteFile(p, base, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	err = ApplyTo(context.Background(), f, bytes.NewReader(delta), 1<<20)
	runtime.ReadMemStats(&after)
	t.Logf("ApplyTo: %v", err)
	if n := after.TotalAlloc - before.TotalAlloc; n > 64<<20 {
		t.Fatalf("a %d-byte delta made ApplyTo allocate %d MiB", len(delta), n>>20)
	}
}

// A delta of one page that names a large Commit: ApplyTo makes a sparse
// file of that size and reads all of it (its post-apply checksum), from a
// delta of ~150 bytes. Under an unsigned top snapshot maxSize is the
// target's own word (manifest.json's size).
func TestApplyToRefusesSparseGrowth(t *testing.T) {
	base := make([]byte, 4096)
	copy(base, "SQLite format 3\x00")
	pre, _ := ltx.ChecksumReader(bytes.NewReader(base), 4096)
	var buf bytes.Buffer
	enc, err := ltx.NewEncoder(&buf)
	if err != nil {
		t.Fatal(err)
	}
	const commit = 16 << 20 // 64 GiB of 4 KiB pages
	if err := enc.EncodeHeader(ltx.Header{Version: ltx.Version, PageSize: 4096, Commit: commit, MinTXID: 2, MaxTXID: 2, PreApplyChecksum: pre}); err != nil {
		t.Fatal(err)
	}
	if err := enc.EncodePage(ltx.PageHeader{Pgno: 1}, base); err != nil {
		t.Fatal(err)
	}
	enc.SetPostApplyChecksum(ltx.ChecksumFlag) // whatever: it is reached only after the read
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "db")
	if err := os.WriteFile(p, base, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	start := time.Now()
	err = ApplyTo(ctx, f, bytes.NewReader(buf.Bytes()), 1<<40)
	fi, _ := f.Stat()
	t.Logf("%d-byte delta: %v after %v; the file is %d GiB", buf.Len(), err, time.Since(start).Round(time.Millisecond), fi.Size()>>30)
	if ctx.Err() != nil {
		t.Fatalf("ApplyTo of a %d-byte delta was still reading a %d GiB sparse file after 3s", buf.Len(), fi.Size()>>30)
	}
}
