package pagedelta

import (
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"testing/iotest"

	"github.com/superfly/ltx"
)

func review2Page(r *rand.Rand, size int, kind int) []byte {
	p := make([]byte, size)
	switch kind % 5 {
	case 0: // incompressible
		for i := range p {
			p[i] = byte(r.Uint32())
		}
	case 1: // zeros
	case 2: // half random
		for i := range p[:size/2] {
			p[i] = byte(r.Uint32())
		}
	case 3: // short runs
		for i := 0; i < size; {
			n := 1 + r.IntN(7)
			b := byte(r.Uint32())
			for j := 0; j < n && i < size; j++ {
				p[i] = b
				i++
			}
		}
	case 4: // a repeated 5-byte pattern
		for i := range p {
			p[i] = byte(i % 5)
		}
	}
	return p
}

type review2File struct{ f *os.File }

// Real encoder output, every page size, every kind of page, read in
// chunks of every shape: ApplyTo takes them all and rebuilds the target.
func TestApplyToTakesEncoderOutput(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, ps := range []int{512, 1024, 4096, 16384, 65536} {
		for iter := range 12 {
			nBase := 1 + r.IntN(24)
			nNew := 1 + r.IntN(24)
			base := make([]byte, 0, nBase*ps)
			for range nBase {
				base = append(base, review2Page(r, ps, r.IntN(5))...)
			}
			next := make([]byte, 0, nNew*ps)
			var changed []uint32
			for pg := 1; pg <= nNew; pg++ {
				var p []byte
				if pg <= nBase && r.IntN(3) == 0 {
					p = base[(pg-1)*ps : pg*ps]
				} else {
					p = review2Page(r, ps, r.IntN(5))
				}
				next = append(next, p...)
				if pg > nBase || !bytes.Equal(p, base[(pg-1)*ps:pg*ps]) {
					changed = append(changed, uint32(pg))
				}
			}
			if len(changed) == 0 && nNew > nBase {
				t.Fatal("unreachable")
			}
			pre, err := ltx.ChecksumReader(bytes.NewReader(base), ps)
			if err != nil {
				t.Fatal(err)
			}
			post, err := ltx.ChecksumReader(bytes.NewReader(next), ps)
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			enc, _ := ltx.NewEncoder(&buf)
			if err := enc.EncodeHeader(ltx.Header{Version: ltx.Version, PageSize: uint32(ps), Commit: uint32(nNew), MinTXID: 2, MaxTXID: 2, Timestamp: 1, PreApplyChecksum: pre}); err != nil {
				t.Fatal(err)
			}
			for _, pg := range changed {
				if err := enc.EncodePage(ltx.PageHeader{Pgno: pg}, next[(int(pg)-1)*ps:int(pg)*ps]); err != nil {
					t.Fatal(err)
				}
			}
			enc.SetPostApplyChecksum(post)
			if err := enc.Close(); err != nil {
				t.Fatal(err)
			}
			for ri, wrap := range []func(io.Reader) io.Reader{
				func(r io.Reader) io.Reader { return r },
				iotest.OneByteReader, iotest.HalfReader, iotest.DataErrReader,
			} {
				p := filepath.Join(t.TempDir(), "db")
				if err := os.WriteFile(p, base, 0o600); err != nil {
					t.Fatal(err)
				}
				f, err := os.OpenFile(p, os.O_RDWR, 0)
				if err != nil {
					t.Fatal(err)
				}
				err = ApplyTo(context.Background(), f, wrap(bytes.NewReader(buf.Bytes())), int64(nNew*ps))
				f.Close()
				if err != nil {
					t.Fatalf("page size %d, iter %d, reader %d: %d->%d pages, %d changed: %v", ps, iter, ri, nBase, nNew, len(changed), err)
				}
				got, _ := os.ReadFile(p)
				if !bytes.Equal(got, next) {
					t.Fatalf("page size %d, iter %d: rebuilt file differs", ps, iter)
				}
			}
		}
	}
}

// The reader alone, on files with pages past the lock page and page
// numbers up to 2^31 (no database built).
func TestReaderPassesHighPages(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, ps := range []int{512, 4096, 65536} {
		lock := ltx.LockPgno(uint32(ps))
		pgnos := []uint32{1, 2, lock - 1, lock + 1, lock + 2, 1<<31 - 1}
		var buf bytes.Buffer
		enc, _ := ltx.NewEncoder(&buf)
		if err := enc.EncodeHeader(ltx.Header{Version: ltx.Version, PageSize: uint32(ps), Commit: 1<<31 - 1, MinTXID: 5, MaxTXID: 5, Timestamp: 1, PreApplyChecksum: ltx.ChecksumFlag | 7}); err != nil {
			t.Fatal(err)
		}
		for i, pg := range pgnos {
			if err := enc.EncodePage(ltx.PageHeader{Pgno: pg}, review2Page(r, ps, i)); err != nil {
				t.Fatal(err)
			}
		}
		enc.SetPostApplyChecksum(ltx.ChecksumFlag | 9)
		if err := enc.Close(); err != nil {
			t.Fatal(err)
		}
		for _, wrap := range []func(io.Reader) io.Reader{iotest.OneByteReader, iotest.HalfReader, func(r io.Reader) io.Reader { return r }} {
			got, _, err := readDelta(wrap(bytes.NewReader(buf.Bytes())))
			if err != nil {
				t.Fatalf("page size %d: %v", ps, err)
			}
			if len(got) != len(pgnos) || got[len(got)-1].pgno != pgnos[len(pgnos)-1] {
				t.Fatalf("page size %d: read %d pages, the last %d; wrote %v", ps, len(got), got[len(got)-1].pgno, pgnos)
			}
		}
	}
}
