package replica

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// The -wal file, as SQLite's wal.c writes it (https://sqlite.org/fileformat2.html#walformat):
// a 32-byte header, then frames of a 24-byte header and one page each.
// Replicate reads it to learn which pages changed since its last tick; it
// never takes page contents from it (those come from SQLite, through
// sqlite_dbpage, inside a read transaction). The -wal carries no lock of
// SQLite's (see internal/sqlitedb/livefile.go), so opening and closing it
// drops nobody's lock.
const (
	walHeaderSize      = 32
	walFrameHeaderSize = 24
	walMagicLE         = 0x377f0682 // checksums over little-endian words
	walMagicBE         = 0x377f0683 // checksums over big-endian words
	walVersion         = 3007000
)

// walHeader is the part of a -wal header replicate needs.
type walHeader struct {
	bigEndian    bool // the checksums' word order
	pageSize     uint32
	ckptSeq      uint32 // one more at each restart
	salt1, salt2 uint32 // salt-1 is one more at each restart; salt-2 is random
	sum          walSum // the header's checksum: where frame 1's chain starts
}

// walSum is SQLite's running checksum of a -wal (two 32-bit words).
type walSum struct{ s1, s2 uint32 }

// update continues the checksum over b, whose length is a multiple of 8.
func (s walSum) update(b []byte, bigEndian bool) walSum {
	s1, s2 := s.s1, s.s2
	if bigEndian {
		for i := 0; i+8 <= len(b); i += 8 {
			s1 += binary.BigEndian.Uint32(b[i:]) + s2
			s2 += binary.BigEndian.Uint32(b[i+4:]) + s1
		}
	} else {
		for i := 0; i+8 <= len(b); i += 8 {
			s1 += binary.LittleEndian.Uint32(b[i:]) + s2
			s2 += binary.LittleEndian.Uint32(b[i+4:]) + s1
		}
	}
	return walSum{s1, s2}
}

// errNoWAL is returned by readWALHeader for a -wal that is missing, empty
// or not (yet) a valid header: no frame of it can be trusted.
var errNoWAL = errors.New("no valid -wal header")

// parseWALHeader checks a header as walIndexRecover does.
func parseWALHeader(b []byte) (walHeader, error) {
	if len(b) < walHeaderSize {
		return walHeader{}, errNoWAL
	}
	magic := binary.BigEndian.Uint32(b)
	if magic != walMagicLE && magic != walMagicBE {
		return walHeader{}, errNoWAL
	}
	h := walHeader{
		bigEndian: magic&1 == 1,
		pageSize:  binary.BigEndian.Uint32(b[8:]),
		ckptSeq:   binary.BigEndian.Uint32(b[12:]),
		salt1:     binary.BigEndian.Uint32(b[16:]),
		salt2:     binary.BigEndian.Uint32(b[20:]),
	}
	if binary.BigEndian.Uint32(b[4:]) != walVersion || h.pageSize < 512 || h.pageSize > 65536 || h.pageSize&(h.pageSize-1) != 0 {
		return walHeader{}, errNoWAL
	}
	h.sum = walSum{}.update(b[:24], h.bigEndian)
	if h.sum.s1 != binary.BigEndian.Uint32(b[24:]) || h.sum.s2 != binary.BigEndian.Uint32(b[28:]) {
		return walHeader{}, errNoWAL
	}
	return h, nil
}

// walFrame is one valid frame of a scan.
type walFrame struct {
	index  uint32 // 1 for the first frame of the -wal
	pgno   uint32
	commit uint32 // the database's size in pages after this commit frame; 0 inside a transaction
	sum    walSum // the running checksum after this frame
	page   pageSum
}

// walFile is a -wal opened for one tick.
type walFile struct {
	f    *os.File
	size int64
}

// openWAL opens path's -wal; it returns (nil, nil) when there is none.
func openWAL(path string) (*walFile, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("stat %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	return &walFile{f: f, size: fi.Size()}, nil
}

func (w *walFile) close() {
	if w != nil {
		w.f.Close()
	}
}

// header reads the -wal's header as it is now.
func (w *walFile) header() (walHeader, error) {
	if w == nil {
		return walHeader{}, errNoWAL
	}
	b := make([]byte, walHeaderSize)
	if _, err := w.f.ReadAt(b, 0); err != nil {
		if errors.Is(err, io.EOF) {
			return walHeader{}, errNoWAL
		}
		return walHeader{}, fmt.Errorf("read the -wal header: %w", err)
	}
	return parseWALHeader(b)
}

// frameOffset is where frame index (1-based) starts.
func frameOffset(index uint32, pageSize uint32) int64 {
	return walHeaderSize + int64(index-1)*int64(walFrameHeaderSize+pageSize)
}

// scan reads the frames after frame `after` of the generation whose salts
// and page size hdr gives, continuing the checksum chain from sum (the
// checksum after frame `after`, or the header's for after == 0), and
// returns them up to the first frame that is not valid (other salts,
// broken chain, cut short, or past limit frames): SQLite's own rule for
// which frames a -wal holds. Frames past the last commit frame belong to a
// transaction still being written (or abandoned); the caller uses their
// page numbers only.
func (w *walFile) scan(hdr walHeader, after uint32, sum walSum, limit int) ([]walFrame, error) {
	if w == nil {
		return nil, nil
	}
	size := int64(walFrameHeaderSize + hdr.pageSize)
	off := frameOffset(after+1, hdr.pageSize)
	if off >= w.size {
		return nil, nil
	}
	r := bufio.NewReaderSize(io.NewSectionReader(w.f, off, w.size-off), 1<<16)
	buf := make([]byte, size)
	var frames []walFrame
	for i := after + 1; len(frames) < limit; i++ {
		if _, err := io.ReadFull(r, buf); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				break
			}
			return nil, fmt.Errorf("read the -wal: %w", err)
		}
		pgno := binary.BigEndian.Uint32(buf)
		if pgno == 0 || binary.BigEndian.Uint32(buf[8:]) != hdr.salt1 || binary.BigEndian.Uint32(buf[12:]) != hdr.salt2 {
			break
		}
		next := sum.update(buf[:8], hdr.bigEndian).update(buf[walFrameHeaderSize:], hdr.bigEndian)
		if next.s1 != binary.BigEndian.Uint32(buf[16:]) || next.s2 != binary.BigEndian.Uint32(buf[20:]) {
			break
		}
		sum = next
		frames = append(frames, walFrame{index: i, pgno: pgno, commit: binary.BigEndian.Uint32(buf[4:]), sum: next,
			page: sumPage(pgno, buf[walFrameHeaderSize:])})
	}
	return frames, nil
}

// count returns how many valid frames the generation hdr has from its
// start, up to limit.
func (w *walFile) count(hdr walHeader, limit int) (uint32, error) {
	frames, err := w.scan(hdr, 0, hdr.sum, limit)
	if err != nil {
		return 0, err
	}
	return uint32(len(frames)), nil
}

// sizeNow is the -wal's size at this moment (0 when there is none).
func (w *walFile) sizeNow() int64 {
	if w == nil {
		return 0
	}
	fi, err := w.f.Stat()
	if err != nil {
		return 0
	}
	return fi.Size()
}
