package crc64iso

import (
	"bytes"
	"hash/crc64"
	"math/rand/v2"
	"testing"
)

var isoTable = crc64.MakeTable(crc64.ISO)

// TestUpdateIsHashCRC64 compares every length up to a few blocks, at
// every alignment, from zero and from a running checksum.
func TestUpdateIsHashCRC64(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	buf := make([]byte, 3*4*lane+64)
	for i := range buf {
		buf[i] = byte(r.Uint32())
	}
	for _, start := range []uint64{0, 0x0123456789abcdef, ^uint64(0)} {
		for off := range 9 {
			for n := 0; off+n <= len(buf); n += 1 + n/40 {
				p := buf[off : off+n]
				if got, want := Update(start, p), crc64.Update(start, isoTable, p); got != want {
					t.Fatalf("Update(%#x, %d bytes at %d) = %#x, hash/crc64 says %#x", start, n, off, got, want)
				}
			}
		}
	}
}

func TestUpdateOfPatterns(t *testing.T) {
	for _, p := range [][]byte{
		nil,
		[]byte("123456789"),
		bytes.Repeat([]byte{0}, 4096),
		bytes.Repeat([]byte{0xff}, 4096),
		bytes.Repeat([]byte{0x80, 0x01}, 3000),
	} {
		if got, want := Checksum(p), crc64.Checksum(p, isoTable); got != want {
			t.Fatalf("Checksum of %d bytes (%x...) = %#x, hash/crc64 says %#x", len(p), p[:min(len(p), 4)], got, want)
		}
	}
	// The catalogued check value of CRC-64/GO-ISO.
	if got := Checksum([]byte("123456789")); got != 0xb90956c775a41001 {
		t.Fatalf("check value %#x, want 0xb90956c775a41001", got)
	}
}

func TestHashWritesInPieces(t *testing.T) {
	data := bytes.Repeat([]byte("AtoCore page "), 1000)
	h, ref := New(), crc64.New(isoTable)
	for p := data; len(p) > 0; {
		n := min(len(p), 1+len(p)%1500)
		h.Write(p[:n])
		ref.Write(p[:n])
		p = p[n:]
	}
	if h.Sum64() != ref.Sum64() || !bytes.Equal(h.Sum(nil), ref.Sum(nil)) {
		t.Fatalf("in pieces: %#x, hash/crc64 says %#x", h.Sum64(), ref.Sum64())
	}
	h.Reset()
	if h.Sum64() != 0 || h.Size() != Size || h.BlockSize() != 1 {
		t.Fatal("Reset, Size or BlockSize differ from hash/crc64's")
	}
}

func FuzzUpdate(f *testing.F) {
	f.Add(uint64(0), []byte("123456789"))
	f.Add(uint64(7), bytes.Repeat([]byte{1, 2, 3}, 700))
	f.Fuzz(func(t *testing.T, start uint64, p []byte) {
		if got, want := Update(start, p), crc64.Update(start, isoTable, p); got != want {
			t.Fatalf("Update(%#x, %d bytes) = %#x, hash/crc64 says %#x", start, len(p), got, want)
		}
	})
}

func BenchmarkUpdate(b *testing.B) {
	page := make([]byte, 4096)
	for _, bc := range []struct {
		name string
		fn   func(uint64, []byte) uint64
	}{
		{"crc64iso", Update},
		{"hash-crc64", func(s uint64, p []byte) uint64 { return crc64.Update(s, isoTable, p) }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(page)))
			var s uint64
			for b.Loop() {
				s = bc.fn(s, page)
			}
			_ = s
		})
	}
}
