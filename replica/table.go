package replica

import (
	"crypto/sha256"
	"encoding/binary"
	"hash"

	"github.com/superfly/ltx"

	"github.com/atocore/atocore-backup/internal/pagedelta"
)

// pageSum identifies a page's content: LTX's CRC-64 of page number and
// bytes (what the LTX file checksums are made of) and the first 8 bytes of
// the page's SHA-256, so that a changed page is never taken for an
// unchanged one by a CRC collision.
type pageSum struct {
	crc ltx.Checksum
	sha uint64
}

// sumPage sums page pgno's bytes.
func sumPage(pgno uint32, data []byte) pageSum {
	d := sha256.Sum256(data)
	return pageSum{crc: ltx.ChecksumPage(pgno, data), sha: binary.BigEndian.Uint64(d[:8])}
}

// summer sums pages with hashers it keeps.
type summer struct {
	sha hash.Hash
	d   [sha256.Size]byte
}

func newSummer() *summer { return &summer{sha: sha256.New()} }

func (s *summer) sum(pgno uint32, data []byte) pageSum {
	s.sha.Reset()
	s.sha.Write(data)
	s.sha.Sum(s.d[:0])
	return pageSum{crc: pagedelta.PageChecksum(pgno, data), sha: binary.BigEndian.Uint64(s.d[:8])}
}

// table is what replicate knows of the database as its chain last wrote
// it: the sum of every page, and the LTX checksum of the whole (kept up
// to date page by page, as LTX defines it: the XOR of every page's CRC
// but the lock page's). 16 bytes per page: 4 MiB for 1 GiB of 4 KiB pages.
type table struct {
	pageSize uint32
	lock     uint32 // the lock page, never in a database or an LTX file
	pages    []pageSum
	checksum ltx.Checksum
}

func newTable(pageSize uint32) *table {
	return &table{pageSize: pageSize, lock: ltx.LockPgno(pageSize), checksum: ltx.ChecksumFlag}
}

// count is the database's size in pages.
func (t *table) count() uint32 { return uint32(len(t.pages)) }

// get returns page pgno's sum; ok is false past the end.
func (t *table) get(pgno uint32) (pageSum, bool) {
	if pgno == 0 || pgno > t.count() {
		return pageSum{}, false
	}
	return t.pages[pgno-1], true
}

// set records page pgno's new sum, growing the table as needed (pages
// between are zero until set).
func (t *table) set(pgno uint32, s pageSum) {
	for t.count() < pgno {
		t.pages = append(t.pages, pageSum{})
	}
	old := t.pages[pgno-1]
	if pgno != t.lock {
		if old.crc != 0 {
			t.checksum ^= old.crc
		}
		t.checksum = ltx.ChecksumFlag | (t.checksum ^ s.crc)
	}
	t.pages[pgno-1] = s
}

// truncate cuts the table to n pages.
func (t *table) truncate(n uint32) {
	for pgno := t.count(); pgno > n; pgno-- {
		if old := t.pages[pgno-1]; pgno != t.lock && old.crc != 0 {
			t.checksum = ltx.ChecksumFlag | (t.checksum ^ old.crc)
		}
	}
	if n < t.count() {
		t.pages = t.pages[:n]
	}
}

// after is the checksum the table would have with the pages changed and
// cut to commit pages, without changing it: a segment's post-apply
// checksum, known before the segment is in place.
func (t *table) after(changed []pageChange, commit uint32) ltx.Checksum {
	sum := t.checksum
	for _, p := range changed {
		if p.pgno == t.lock || p.pgno > commit {
			continue
		}
		if old, ok := t.get(p.pgno); ok && old.crc != 0 {
			sum ^= old.crc
		}
		sum = ltx.ChecksumFlag | (sum ^ p.sum.crc)
	}
	for pgno := t.count(); pgno > commit; pgno-- {
		if old := t.pages[pgno-1]; pgno != t.lock && old.crc != 0 {
			sum = ltx.ChecksumFlag | (sum ^ old.crc)
		}
	}
	return ltx.ChecksumFlag | sum
}
