// Package crc64iso computes CRC-64/ISO, the checksum of LTX files and of
// their pages, several times faster than hash/crc64 and with the same
// results.
//
// hash/crc64 reads a byte at a time through tables (slicing by 8, about
// 1.5 GB/s here). The ISO polynomial, x⁶⁴+x⁴+x³+x+1, has so few terms
// that eight bytes at once reduce with a handful of shifts and no table;
// four lanes of a block are summed at once, so the processor overlaps
// their work, and are joined with a precomputed shift of 256 bytes.
// A restore to a time sums every page of its chain twice (the file's
// checksum and the database's), which made CRC-64 the largest part of
// its replay.
//
//	sum := crc64iso.Update(0, data) // == crc64.Update(0, crc64.MakeTable(crc64.ISO), data)
package crc64iso

import (
	"encoding/binary"
	"hash"
	"hash/crc64"
)

// Size is the size of a CRC-64 checksum in bytes.
const Size = 8

// lane is the bytes each of the four lanes of a block sums.
const lane = 256

var (
	table = crc64.MakeTable(crc64.ISO)
	// skip[k][b] is the shift by lane zero bytes of a register that holds
	// b in its byte k: a register is shifted by XORing its eight bytes'.
	skip = makeSkip()
)

// Update returns the result of adding the bytes in p to crc, as
// crc64.Update does with the ISO table.
func Update(crc uint64, p []byte) uint64 {
	return ^update(^crc, p)
}

// Checksum returns the CRC-64/ISO checksum of data.
func Checksum(data []byte) uint64 { return Update(0, data) }

// update adds p to the register s (no inversions).
func update(s uint64, p []byte) uint64 {
	for len(p) >= 4*lane {
		a, b, c, d := s, uint64(0), uint64(0), uint64(0)
		for i := 0; i < lane; i += 8 {
			a = word(a ^ binary.LittleEndian.Uint64(p[i:]))
			b = word(b ^ binary.LittleEndian.Uint64(p[lane+i:]))
			c = word(c ^ binary.LittleEndian.Uint64(p[2*lane+i:]))
			d = word(d ^ binary.LittleEndian.Uint64(p[3*lane+i:]))
		}
		s = shift(shift(shift(a)^b)^c) ^ d
		p = p[4*lane:]
	}
	for len(p) >= 8 {
		s = word(s ^ binary.LittleEndian.Uint64(p))
		p = p[8:]
	}
	for _, v := range p {
		s = table[byte(s)^v] ^ (s >> 8)
	}
	return s
}

// word shifts the register a through 64 zero bits: a·x⁶⁴ mod P in
// reflected form. The bits shifted out are q (a's, plus the polynomial's
// own terms that reach the end within the word); each adds the
// polynomial, whose terms x⁶⁴, x⁴, x³ and x are the shifts by 0, 1, 3
// and 4.
func word(a uint64) uint64 {
	q := a ^ a<<60 ^ a<<61 ^ a<<63
	return q ^ q>>1 ^ q>>3 ^ q>>4
}

// shift is the register s moved through lane zero bytes.
func shift(s uint64) uint64 {
	return skip[0][byte(s)] ^ skip[1][byte(s>>8)] ^ skip[2][byte(s>>16)] ^ skip[3][byte(s>>24)] ^
		skip[4][byte(s>>32)] ^ skip[5][byte(s>>40)] ^ skip[6][byte(s>>48)] ^ skip[7][byte(s>>56)]
}

func makeSkip() *[8][256]uint64 {
	var zeros [lane]byte
	var bit [64]uint64 // the shift of each single bit
	for i := range bit {
		s := uint64(1) << i
		for j := 0; j < lane; j += 8 {
			s = word(s ^ binary.LittleEndian.Uint64(zeros[j:]))
		}
		bit[i] = s
	}
	t := new([8][256]uint64)
	for k := range t {
		for b := 1; b < 256; b++ {
			for i := range 8 {
				if b&(1<<i) != 0 {
					t[k][b] ^= bit[8*k+i]
				}
			}
		}
	}
	return t
}

// New returns a hash.Hash64 of CRC-64/ISO, as crc64.New(crc64.MakeTable(crc64.ISO)).
func New() hash.Hash64 { return new(digest) }

type digest struct{ crc uint64 }

func (d *digest) Size() int      { return Size }
func (d *digest) BlockSize() int { return 1 }
func (d *digest) Reset()         { d.crc = 0 }
func (d *digest) Sum64() uint64  { return d.crc }

func (d *digest) Write(p []byte) (int, error) {
	d.crc = Update(d.crc, p)
	return len(p), nil
}

func (d *digest) Sum(in []byte) []byte {
	return binary.BigEndian.AppendUint64(in, d.crc)
}
