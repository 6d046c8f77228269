package pagedelta

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/pierrec/lz4/v4"
	"github.com/superfly/ltx"
)

// readPage is one page as a reader returns it.
type readPage struct {
	pgno uint32
	sum  ltx.Checksum
	data []byte
}

// readDelta reads a whole delta with deltaReader.
func readDelta(r io.Reader) ([]readPage, ltx.Trailer, error) {
	dr := newDeltaReader(r)
	hdr, err := dr.header()
	if err != nil {
		return nil, ltx.Trailer{}, err
	}
	var pages []readPage
	for {
		data := make([]byte, hdr.PageSize)
		pgno, sum, err := dr.page(data)
		if err == io.EOF {
			break
		}
		if err != nil {
			return pages, ltx.Trailer{}, err
		}
		pages = append(pages, readPage{pgno, sum, data})
	}
	t, err := dr.close()
	return pages, t, err
}

// ltxPages reads a whole delta with ltx's own decoder.
func ltxPages(b []byte) ([]readPage, ltx.Trailer, error) {
	dec := ltx.NewDecoder(bytes.NewReader(b))
	if err := dec.DecodeHeader(); err != nil {
		return nil, ltx.Trailer{}, err
	}
	var pages []readPage
	for {
		var ph ltx.PageHeader
		data := make([]byte, dec.Header().PageSize)
		if err := dec.DecodePage(&ph, data); err == io.EOF {
			break
		} else if err != nil {
			return pages, ltx.Trailer{}, err
		}
		pages = append(pages, readPage{ph.Pgno, ltx.ChecksumPage(ph.Pgno, data), data})
	}
	if err := dec.Close(); err != nil {
		return pages, ltx.Trailer{}, err
	}
	return pages, dec.Trailer(), nil
}

// encodedDelta is an LTX delta of random pages made by ltx's encoder.
func encodedDelta(t testing.TB, r *rand.Rand, ps int) []byte {
	var buf bytes.Buffer
	enc, err := ltx.NewEncoder(&buf)
	if err != nil {
		t.Fatal(err)
	}
	commit := uint32(3 + r.IntN(40))
	if err := enc.EncodeHeader(ltx.Header{Version: ltx.Version, PageSize: uint32(ps), Commit: commit, MinTXID: 3, MaxTXID: 4, Timestamp: 1, PreApplyChecksum: ltx.ChecksumFlag | 5}); err != nil {
		t.Fatal(err)
	}
	for pg := uint32(1); pg <= commit; pg++ {
		if r.IntN(3) == 0 {
			continue
		}
		if err := enc.EncodePage(ltx.PageHeader{Pgno: pg}, review2Page(r, ps, r.IntN(5))); err != nil {
			t.Fatal(err)
		}
	}
	enc.SetPostApplyChecksum(ltx.ChecksumFlag | 6)
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// The reader returns what ltx's decoder returns, page for page, with the
// page checksums ltx computes.
func TestReaderReadsWhatLTXReads(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, ps := range []int{512, 4096, 65536} {
		for range 8 {
			b := encodedDelta(t, r, ps)
			want, wantT, err := ltxPages(b)
			if err != nil {
				t.Fatal(err)
			}
			got, gotT, err := readDelta(bytes.NewReader(b))
			if err != nil {
				t.Fatalf("page size %d: %v", ps, err)
			}
			if len(got) != len(want) || gotT != wantT {
				t.Fatalf("page size %d: %d pages, trailer %+v; ltx read %d, %+v", ps, len(got), gotT, len(want), wantT)
			}
			for i := range got {
				if got[i].pgno != want[i].pgno || got[i].sum != want[i].sum || !bytes.Equal(got[i].data, want[i].data) {
					t.Fatalf("page size %d: page %d differs from ltx's (%d, %s; ltx %d, %s)", ps, i, got[i].pgno, got[i].sum, want[i].pgno, want[i].sum)
				}
			}
		}
	}
}

// Damaged deltas: every one cut short and a few thousand with one byte
// changed. The reader may refuse a file that ltx's decoder takes (it is
// stricter), never take one that ltx refuses, and never return other
// pages than ltx for a file both take.
func TestReaderRefusesWhatLTXRefuses(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	b := encodedDelta(t, r, 512)
	check := func(what string, bad []byte) {
		t.Helper()
		got, _, err := readDelta(bytes.NewReader(bad))
		if err != nil {
			return // (ltx's decoder may allocate the 4 GiB a damaged size says)
		}
		want, _, ltxErr := ltxPages(bad)
		switch {
		case ltxErr != nil:
			t.Fatalf("%s: the reader took a file ltx refuses (%v)", what, ltxErr)
		case len(got) != len(want):
			t.Fatalf("%s: the reader read %d pages, ltx %d", what, len(got), len(want))
		default:
			for i := range got {
				if got[i].pgno != want[i].pgno || !bytes.Equal(got[i].data, want[i].data) {
					t.Fatalf("%s: page %d differs from ltx's", what, i)
				}
			}
		}
	}
	for n := range len(b) {
		check("cut to "+strconv.Itoa(n), b[:n])
	}
	check("with a byte more", append(bytes.Clone(b), 0))
	for range 3000 {
		bad := bytes.Clone(b)
		i := r.IntN(len(bad))
		bad[i] ^= byte(1 + r.IntN(255))
		check("byte "+strconv.Itoa(i)+" changed", bad)
	}
}

// A delta whose file checksum is wrong is ltx.ErrChecksumMismatch; one
// whose pages do not ascend is refused at that page.
func TestReaderErrors(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	b := encodedDelta(t, r, 4096)
	bad := bytes.Clone(b)
	bad[len(bad)-1] ^= 1 // the file checksum
	if _, _, err := readDelta(bytes.NewReader(bad)); !errors.Is(err, ltx.ErrChecksumMismatch) {
		t.Fatalf("a wrong file checksum: %v", err)
	}

	page := make([]byte, 4096)
	var buf bytes.Buffer
	hdr := ltx.Header{Version: ltx.Version, PageSize: 4096, Commit: 9, MinTXID: 2, MaxTXID: 2, PreApplyChecksum: ltx.ChecksumFlag}
	hb, _ := hdr.MarshalBinary()
	buf.Write(hb)
	writeFrame(t, &buf, 4, page)
	writeFrame(t, &buf, 4, page)
	_, _, err := readDelta(bytes.NewReader(buf.Bytes()))
	if !errors.Is(err, ltx.ErrInvalidFile) {
		t.Fatalf("page 4 twice: %v", err)
	}
	t.Logf("page 4 twice: %v", err)
}

// writeFrame writes one page frame as ltx's encoder does: the page
// header, the compressed size, the LZ4 block.
func writeFrame(t *testing.T, w *bytes.Buffer, pgno uint32, data []byte) {
	block := make([]byte, lz4.CompressBlockBound(len(data)))
	n, err := lz4.CompressBlock(data, block, nil)
	if err != nil || n == 0 {
		t.Fatalf("lz4: %d bytes, %v", n, err)
	}
	var fh [ltx.PageHeaderSize + 4]byte
	binary.BigEndian.PutUint32(fh[0:], pgno)
	binary.BigEndian.PutUint16(fh[4:], ltx.PageHeaderFlagSize)
	binary.BigEndian.PutUint32(fh[6:], uint32(n))
	w.Write(fh[:])
	w.Write(block[:n])
}

func FuzzReader(f *testing.F) {
	r := rand.New(rand.NewPCG(11, 12))
	f.Add(encodedDelta(f, r, 512))
	f.Add(encodedDelta(f, r, 1024))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, _, err := readDelta(bytes.NewReader(b))
		if err != nil {
			return
		}
		want, _, ltxErr := ltxPages(b)
		if ltxErr != nil {
			t.Fatalf("the reader took a file ltx refuses (%v)", ltxErr)
		}
		if len(got) != len(want) {
			t.Fatalf("the reader read %d pages, ltx %d", len(got), len(want))
		}
	})
}

// A whole database as an LTX snapshot (MinTXID 1), or a delta without
// checksums, is refused at its header: the reader does not check a
// snapshot's post-apply checksum against its pages.
func TestReaderRefusesSnapshotsAndUncheckedDeltas(t *testing.T) {
	page := make([]byte, 4096)
	copy(page, "SQLite format 3\x00")
	for _, c := range []struct {
		name string
		hdr  ltx.Header
	}{
		{"snapshot", ltx.Header{Version: ltx.Version, PageSize: 4096, Commit: 1, MinTXID: 1, MaxTXID: 1}},
		{"no checksums", ltx.Header{Version: ltx.Version, Flags: ltx.HeaderFlagNoChecksum, PageSize: 4096, Commit: 1, MinTXID: 2, MaxTXID: 2}},
	} {
		var buf bytes.Buffer
		enc, err := ltx.NewEncoder(&buf)
		if err != nil {
			t.Fatal(err)
		}
		if err := enc.EncodeHeader(c.hdr); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if err := enc.EncodePage(ltx.PageHeader{Pgno: 1}, page); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if c.hdr.NoChecksum() {
			enc.SetPostApplyChecksum(0)
		} else {
			enc.SetPostApplyChecksum(ltx.ChecksumFlag | 12345) // not the page's: a reader that read on would take it
		}
		if err := enc.Close(); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if _, _, err := readDelta(bytes.NewReader(buf.Bytes())); !errors.Is(err, ltx.ErrInvalidFile) {
			t.Fatalf("%s: the reader says %v, want ltx.ErrInvalidFile", c.name, err)
		}
		f := filepath.Join(t.TempDir(), "db")
		if err := os.WriteFile(f, page, 0o600); err != nil {
			t.Fatal(err)
		}
		db, err := os.OpenFile(f, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		err = ApplyTo(context.Background(), db, bytes.NewReader(buf.Bytes()), 1<<20)
		db.Close()
		if !errors.Is(err, ltx.ErrInvalidFile) {
			t.Fatalf("%s: ApplyTo says %v, want ltx.ErrInvalidFile", c.name, err)
		}
	}
}
