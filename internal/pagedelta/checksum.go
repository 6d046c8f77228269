package pagedelta

import (
	"encoding/binary"
	"io"

	"github.com/superfly/ltx"

	"github.com/atocore/atocore-backup/internal/crc64iso"
)

// PageChecksum is LTX's checksum of page pgno holding data: the
// ltx.ChecksumPage of the same page, computed with crc64iso.
func PageChecksum(pgno uint32, data []byte) ltx.Checksum {
	var num [4]byte
	binary.BigEndian.PutUint32(num[:], pgno)
	return ltx.ChecksumFlag | ltx.Checksum(crc64iso.Update(crc64iso.Update(0, num[:]), data))
}

// checksumPages is LTX's checksum of the database read from r, as
// ltx.ChecksumReader computes it, with crc64iso.
func checksumPages(r io.Reader, pageSize int) (ltx.Checksum, error) {
	data := make([]byte, pageSize)
	lock := ltx.LockPgno(uint32(pageSize))
	var sum ltx.Checksum
	for pgno := uint32(1); ; pgno++ {
		if _, err := io.ReadFull(r, data); err == io.EOF {
			return sum, nil
		} else if err != nil {
			return sum, err
		}
		if pgno != lock {
			sum = ltx.ChecksumFlag | (sum ^ PageChecksum(pgno, data))
		}
	}
}
