package pagedelta

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"sync"

	"github.com/pierrec/lz4/v4"
	"github.com/superfly/ltx"

	"github.com/atocore/atocore-backup/internal/crc64iso"
)

// decodeBatch is how many decoded pages a pageBatch holds.
const decodeBatch = 64

// pageBatch is a run of decoded pages, in the delta's order, with each
// page's LTX checksum.
type pageBatch struct {
	pgnos []uint32
	sums  []ltx.Checksum
	data  []byte // len(pgnos) pages
	n     int
}

// Delta is one LTX delta decoded on a goroutine of its own, ahead of
// the Rebuilder that applies it (ApplyDelta): its header, then its pages
// in batches that the two pass back and forth, and last the decoder's own
// check of the file (its checksum and page index). A replay decodes the
// next delta while it applies this one: two cores for a chain of them.
type Delta struct {
	hdrReady   chan struct{} // closed once hdr or hdrErr is set
	hdr        ltx.Header
	hdrErr     error
	full, free chan *pageBatch
	quit       chan struct{}
	quitOnce   sync.Once
	wg         sync.WaitGroup
	failure    error       // why the pages ended early; set before full is closed
	trailer    ltx.Trailer // set before full is closed
}

// Decode starts decoding the delta read from r (through a buffer of its
// own), holding at most about ahead bytes of decoded pages that are not
// applied yet (at least three batches of 64 pages). Close it when done
// with it, applied or not.
func Decode(r io.Reader, ahead int) *Delta {
	d := &Delta{hdrReady: make(chan struct{}), quit: make(chan struct{})}
	d.wg.Go(func() { d.decode(r, ahead) })
	return d
}

// Close stops the decoding, wherever it is, and waits for it; r is not
// read after Close returns.
func (d *Delta) Close() {
	d.quitOnce.Do(func() { close(d.quit) })
	d.wg.Wait()
	// The batches left are nobody's now: the next delta's decoding takes
	// them (a replay's hundreds of files would each allocate and zero
	// their own otherwise).
	for {
		select {
		case b := <-d.free:
			batchPool.Put(b)
			continue
		default:
		}
		break
	}
	if d.full != nil {
		for b := range d.full {
			batchPool.Put(b)
		}
	}
}

// batchPool holds page batches that no delta uses.
var batchPool sync.Pool

// newBatch is a batch for pages of ps bytes, from the pool when it holds one.
func newBatch(ps int) *pageBatch {
	if b, ok := batchPool.Get().(*pageBatch); ok && len(b.data) == decodeBatch*ps {
		return b
	}
	return &pageBatch{pgnos: make([]uint32, decodeBatch), sums: make([]ltx.Checksum, decodeBatch), data: make([]byte, decodeBatch*ps)}
}

func (d *Delta) decode(r io.Reader, ahead int) {
	dec := newDeltaReader(r)
	d.hdr, d.hdrErr = dec.header()
	ps := int(d.hdr.PageSize)
	batches := 3
	if d.hdrErr == nil {
		batches = max(3, ahead/(decodeBatch*ps))
	}
	d.full, d.free = make(chan *pageBatch, batches), make(chan *pageBatch, batches)
	close(d.hdrReady)
	defer close(d.full)
	if d.hdrErr != nil {
		return
	}
	made := 0
	for {
		var b *pageBatch
		select {
		case b = <-d.free:
		default:
			if made < batches {
				made++
				b = newBatch(ps)
				break
			}
			select {
			case b = <-d.free:
			case <-d.quit:
				return
			}
		}
		b.n = 0
		var err error
		for b.n < decodeBatch {
			if b.pgnos[b.n], b.sums[b.n], err = dec.page(b.data[b.n*ps : (b.n+1)*ps]); err != nil {
				break
			}
			b.n++
		}
		if err == io.EOF {
			if d.trailer, err = dec.close(); err == nil {
				err = io.EOF
			}
		}
		if err != nil && err != io.EOF {
			d.failure = err
		}
		if b.n > 0 {
			select {
			case d.full <- b:
			case <-d.quit:
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// next is the next batch of pages; false after the last one (d.failure
// then says whether the delta was whole).
func (d *Delta) next() (*pageBatch, bool) {
	b, ok := <-d.full
	return b, ok
}

// done hands a batch back to be filled again.
func (d *Delta) done(b *pageBatch) { d.free <- b }

// deltaReader reads an LTX delta frame by frame and checks it as
// ltx.Decoder does (the header, ascending page numbers, the page index
// against the pages read, the file checksum over what it read), with
// CRC-64 from crc64iso, and with each page's checksum for the rebuild.
// It is ours, not ltx.Decoder, because a restore to a time spent most of
// its replay in hash/crc64 there; `ltx verify` and `ltx apply` still
// read every file this tool writes (TestLTXToolAppliesTheDelta).
//
// It reads deltas with checksums only, and refuses anything else at the
// header: a snapshot file (a whole database) would need its post-apply
// checksum checked against its pages, which ltx.Decoder does and this
// reader does not.
//
// It is stricter than ltx.Decoder where a hostile file could make it
// allocate or misread: every page carries its compressed size (LZ4 block
// format, what ltx's encoder writes), that size is within LZ4's bound
// for the page size before anything is read for it, and each page
// decompresses to exactly one page.
type deltaReader struct {
	br    *bufio.Reader
	hdr   ltx.Header
	bound int    // the most bytes a page compresses to
	hash  uint64 // CRC-64 of the file so far
	seq   uint64 // CRC-64 of the page numbers read, for the page index
	prev  uint32 // the last page number read
	pages int
}

// readerBuffer holds a whole page frame at the largest page size.
const readerBuffer = 256 << 10

func newDeltaReader(r io.Reader) *deltaReader {
	return &deltaReader{br: bufio.NewReaderSize(r, readerBuffer)}
}

// peek is the next n bytes, still unread; a file that ends before them
// is cut short (io.ErrUnexpectedEOF).
func (r *deltaReader) peek(n int) ([]byte, error) {
	b, err := r.br.Peek(n)
	if len(b) < n {
		if err == nil || err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return b, nil
}

// consume hashes the next n bytes, which peek returned, and moves past them.
func (r *deltaReader) consume(b []byte) {
	r.hash = crc64iso.Update(r.hash, b)
	_, _ = r.br.Discard(len(b))
}

func (r *deltaReader) header() (ltx.Header, error) {
	b, err := r.peek(ltx.HeaderSize)
	if err != nil {
		return ltx.Header{}, err
	}
	if err := r.hdr.UnmarshalBinary(b); err != nil {
		return ltx.Header{}, fmt.Errorf("unmarshal header: %w", err)
	}
	r.consume(b)
	if err := r.hdr.Validate(); err != nil {
		return ltx.Header{}, fmt.Errorf("%w: %w", ltx.ErrInvalidFile, err)
	}
	if r.hdr.IsSnapshot() || r.hdr.NoChecksum() {
		return ltx.Header{}, fmt.Errorf("%w: a delta with checksums was expected", ltx.ErrInvalidFile)
	}
	r.bound = lz4.CompressBlockBound(int(r.hdr.PageSize))
	return r.hdr, nil
}

// page decodes the next page into data (one page) and returns its number
// and LTX checksum; io.EOF after the last page.
func (r *deltaReader) page(data []byte) (uint32, ltx.Checksum, error) {
	const frame = ltx.PageHeaderSize + 4 // the page header and the compressed size
	b, err := r.peek(ltx.PageHeaderSize)
	if err != nil {
		return 0, 0, err
	}
	pgno, flags := binary.BigEndian.Uint32(b), binary.BigEndian.Uint16(b[4:])
	if pgno == 0 && flags == 0 {
		r.consume(b) // the end of the pages
		return 0, 0, io.EOF
	}
	switch {
	case pgno == 0:
		return 0, 0, fmt.Errorf("%w: a page numbered 0", ltx.ErrInvalidFile)
	case flags != ltx.PageHeaderFlagSize:
		return 0, 0, fmt.Errorf("%w: a page frame with flags %#x (this tool writes each page with its size)", ltx.ErrInvalidFile, flags)
	case pgno <= r.prev:
		return 0, 0, fmt.Errorf("%w: page %d after page %d (a delta's pages ascend)", ltx.ErrInvalidFile, pgno, r.prev)
	}
	if b, err = r.peek(frame); err != nil {
		return 0, 0, err
	}
	size := int(binary.BigEndian.Uint32(b[ltx.PageHeaderSize:]))
	if size == 0 || size > r.bound {
		return 0, 0, fmt.Errorf("%w: a page compressed to %d bytes, past the %d a page can take", ltx.ErrInvalidFile, size, r.bound)
	}
	if b, err = r.peek(frame + size); err != nil {
		return 0, 0, err
	}
	n, err := lz4.UncompressBlock(b[frame:], data)
	if err != nil {
		return 0, 0, fmt.Errorf("%w: page %d: decompress: %w", ltx.ErrInvalidFile, pgno, err)
	}
	if n != len(data) {
		return 0, 0, fmt.Errorf("%w: page %d decompresses to %d bytes, not its %d", ltx.ErrInvalidFile, pgno, n, len(data))
	}
	r.hash = crc64iso.Update(r.hash, b[:frame])
	_, _ = r.br.Discard(frame + size)
	r.hash = crc64iso.Update(r.hash, data)
	var num [4]byte
	binary.BigEndian.PutUint32(num[:], pgno)
	r.seq = crc64iso.Update(r.seq, num[:])
	r.prev = pgno
	r.pages++
	return pgno, PageChecksum(pgno, data), nil
}

// close reads the page index and the trailer after the last page and
// checks the file: an index of exactly the pages read, nothing after the
// trailer, and the file checksum the trailer holds.
func (r *deltaReader) close() (ltx.Trailer, error) {
	if err := r.index(); err != nil {
		return ltx.Trailer{}, fmt.Errorf("%w: page index: %w", ltx.ErrInvalidFile, err)
	}
	b, err := r.peek(ltx.TrailerSize)
	if err != nil {
		return ltx.Trailer{}, fmt.Errorf("read trailer: %w", err)
	}
	var t ltx.Trailer
	if err := t.UnmarshalBinary(b); err != nil {
		return ltx.Trailer{}, fmt.Errorf("unmarshal trailer: %w", err)
	}
	r.consume(b[:ltx.TrailerChecksumOffset])
	_, _ = r.br.Discard(ltx.TrailerSize - ltx.TrailerChecksumOffset)
	if _, err := r.br.ReadByte(); err == nil {
		return ltx.Trailer{}, fmt.Errorf("%w: data after its trailer", ltx.ErrInvalidFile)
	} else if !errors.Is(err, io.EOF) {
		return ltx.Trailer{}, fmt.Errorf("read after trailer: %w", err)
	}
	if sum := ltx.ChecksumFlag | ltx.Checksum(r.hash); sum != t.FileChecksum {
		return ltx.Trailer{}, ltx.ErrChecksumMismatch
	}
	return t, nil
}

// index reads the page index: (page, offset, size) varints in ascending
// page order, a 0, and the index's size in 8 bytes. Its entries must be
// the pages read, in frames that start after the header and do not
// overlap (the rules of ltx.Decoder).
func (r *deltaReader) index() error {
	var rec []byte
	var consumed int64
	var seq uint64
	var prev uint32
	next := int64(ltx.HeaderSize) // the earliest offset a frame may start at
	n := 0
	uvarint := func() (uint64, error) {
		var x uint64
		for i, s := 0, uint(0); i < binary.MaxVarintLen64; i, s = i+1, s+7 {
			c, err := r.br.ReadByte()
			if err != nil {
				if errors.Is(err, io.EOF) {
					err = io.ErrUnexpectedEOF
				}
				return 0, err
			}
			rec = append(rec, c)
			if c < 0x80 {
				if i == binary.MaxVarintLen64-1 && c > 1 {
					break
				}
				return x | uint64(c)<<s, nil
			}
			x |= uint64(c&0x7f) << s
		}
		return 0, errors.New("a varint overflows 64 bits")
	}
	for {
		rec = rec[:0]
		pgno, err := uvarint()
		if err != nil {
			return err
		}
		if pgno == 0 {
			r.hash = crc64iso.Update(r.hash, rec)
			consumed += int64(len(rec))
			break
		}
		offset, err := uvarint()
		if err != nil {
			return err
		}
		size, err := uvarint()
		if err != nil {
			return err
		}
		switch {
		case pgno > uint64(r.hdr.Commit):
			return fmt.Errorf("page %d past the commit of %d pages", pgno, r.hdr.Commit)
		case uint32(pgno) <= prev:
			return fmt.Errorf("out of order: page %d after %d", pgno, prev)
		case offset > math.MaxInt64 || size > math.MaxInt64 || int64(offset) < next:
			return fmt.Errorf("page %d at offset %d overlaps the frame before it", pgno, offset)
		case int64(size) <= ltx.PageHeaderSize || int64(offset) > math.MaxInt64-int64(size):
			return fmt.Errorf("page %d has a frame of %d bytes", pgno, size)
		}
		r.hash = crc64iso.Update(r.hash, rec)
		consumed += int64(len(rec))
		prev, next = uint32(pgno), int64(offset+size)
		var num [4]byte
		binary.BigEndian.PutUint32(num[:], uint32(pgno))
		seq = crc64iso.Update(seq, num[:])
		n++
	}
	b, err := r.peek(8)
	if err != nil {
		return fmt.Errorf("read its size: %w", err)
	}
	if size := binary.BigEndian.Uint64(b); size != uint64(consumed) {
		return fmt.Errorf("it says it has %d bytes, it has %d", size, consumed)
	}
	r.consume(b)
	if n != r.pages {
		return fmt.Errorf("it names %d pages, not the %d read", n, r.pages)
	}
	if seq != r.seq {
		return errors.New("it names other pages than those read")
	}
	return nil
}
