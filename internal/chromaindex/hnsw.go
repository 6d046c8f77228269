package chromaindex

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// The on-disk format of a persisted hnswlib index (chroma-hnswlib's
// hnswalg.h, persistHeader / persistDirty / loadPersistedIndex), as both
// Chroma engines write it:
//
//   - header.bin, 100 bytes '<iQQQQQQiIQQQdQ': version 1, offsetLevel0 0,
//     max_elements, cur_element_count, size_data_per_element (spe),
//     label_offset, offsetData, maxlevel, enterpoint, maxM, maxM0, M, mult,
//     ef_construction.
//   - data_level0.bin, spe bytes per element: the level-0 link list (a
//     uint32 whose low 16 bits count the neighbours and whose third byte
//     holds the deleted mark, then maxM0 uint32 neighbour slots), the
//     vector (4·dim bytes) and the uint64 label.
//   - length.bin, a float32 per element.
//   - link_lists.bin, per element a uint32 byte count (level·(4·maxM+4))
//     and that many bytes: per upper level, a uint32 count and maxM slots.
//
// hnswlib loads these files without bounds checks, so every field is
// checked here before it is used, with arithmetic that cannot overflow.

// hnswHeaderSize is the size of header.bin.
const hnswHeaderSize = 100

// Limits beyond which a header is corrupt rather than merely unusual:
// hnswlib keeps the level-0 count in 16 bits, so maxM0 = 2M < 65536.
const (
	hnswMaxM   = 1<<15 - 1
	hnswMaxDim = 1 << 20
)

// hnswHeader is header.bin as hnswlib's persistHeader writes it.
type hnswHeader struct {
	Version        int32
	OffsetLevel0   uint64
	MaxElements    uint64
	CurElements    uint64
	SizePerElement uint64
	LabelOffset    uint64
	OffsetData     uint64
	MaxLevel       int32
	EnterPoint     uint32
	MaxM           uint64
	MaxM0          uint64
	M              uint64
	Mult           float64
	EfConstruction uint64
}

// decodeHNSWHeader decodes the 100 bytes of header.bin.
func decodeHNSWHeader(raw []byte) (hnswHeader, error) {
	var h hnswHeader
	if len(raw) != hnswHeaderSize {
		return h, fmt.Errorf("header.bin is %d bytes, want %d", len(raw), hnswHeaderSize)
	}
	le := binary.LittleEndian
	h.Version = int32(le.Uint32(raw[0:]))
	u := func(off int) uint64 { return le.Uint64(raw[off:]) }
	h.OffsetLevel0, h.MaxElements, h.CurElements = u(4), u(12), u(20)
	h.SizePerElement, h.LabelOffset, h.OffsetData = u(28), u(36), u(44)
	h.MaxLevel = int32(le.Uint32(raw[52:]))
	h.EnterPoint = le.Uint32(raw[56:])
	h.MaxM, h.MaxM0, h.M = u(60), u(68), u(76)
	h.EfConstruction = u(92)
	return h, nil
}

// check verifies the header against the collection's dimension and the
// sizes of the data files. All products are of bounded factors (M and dim
// are range-checked first) or are replaced by divisions.
func (h hnswHeader) check(dim int64, level0, length int64) error {
	switch {
	case h.Version != 1 || h.OffsetLevel0 != 0:
		return fmt.Errorf("header.bin version %d, offset %d: not an hnswlib index header", h.Version, h.OffsetLevel0)
	case h.M == 0 || h.M > hnswMaxM:
		return fmt.Errorf("header.bin has M %d, outside 1..%d", h.M, hnswMaxM)
	case dim < 1 || dim > hnswMaxDim:
		return fmt.Errorf("the collection's dimension %d is outside 1..%d", dim, hnswMaxDim)
	}
	offsetData := 8*h.M + 4 // M ≤ 2^15: no overflow
	switch {
	case h.MaxM != h.M || h.MaxM0 != 2*h.M || h.OffsetData != offsetData:
		return fmt.Errorf("header.bin has inconsistent M fields (M %d, maxM %d, maxM0 %d, offsetData %d)", h.M, h.MaxM, h.MaxM0, h.OffsetData)
	case h.LabelOffset != offsetData+uint64(4*dim) || h.SizePerElement != h.LabelOffset+8:
		return fmt.Errorf("header.bin element size %d does not fit the collection's dimension %d", h.SizePerElement, dim)
	case h.CurElements > h.MaxElements:
		return fmt.Errorf("header.bin counts %d elements, capacity %d", h.CurElements, h.MaxElements)
	case h.CurElements > 0 && (uint64(h.EnterPoint) >= h.CurElements || h.MaxLevel < 0):
		return fmt.Errorf("header.bin entry point %d / level %d invalid for %d elements", h.EnterPoint, h.MaxLevel, h.CurElements)
	}
	// The Rust engine grows max_elements on resize without growing the
	// files, so only the cur persisted elements must be in them.
	spe := int64(h.SizePerElement) // < 2^23
	if level0%spe != 0 || h.CurElements > uint64(level0/spe) {
		return fmt.Errorf("data_level0.bin is %d bytes; %d elements of %d bytes need a multiple of %d that holds them all",
			level0, h.CurElements, spe, spe)
	}
	if h.CurElements > uint64(length/4) {
		return fmt.Errorf("length.bin is %d bytes, %d elements need %d", length, h.CurElements, 4*h.CurElements)
	}
	return nil
}

// checkLevel0 walks the first cur elements of data_level0.bin for records
// hnswlib would load into garbage: a header older than the data files
// (neighbours past cur) or data files older than the header (unwritten
// slots: label 0; Chroma numbers labels from 1).
func checkLevel0(r io.Reader, h hnswHeader) error {
	cur := int64(h.CurElements)
	links := int64(h.OffsetData)
	br := bufio.NewReaderSize(r, 1<<20)
	rec := make([]byte, links)
	var label [8]byte
	for i := int64(0); i < cur; i++ {
		if _, err := io.ReadFull(br, rec); err != nil {
			return fmt.Errorf("read data_level0.bin element %d: %w", i, err)
		}
		if _, err := br.Discard(int(int64(h.LabelOffset) - links)); err != nil {
			return fmt.Errorf("read data_level0.bin element %d: %w", i, err)
		}
		if _, err := io.ReadFull(br, label[:]); err != nil {
			return fmt.Errorf("read data_level0.bin element %d: %w", i, err)
		}
		n := uint64(binary.LittleEndian.Uint16(rec))
		if n > h.MaxM0 {
			return fmt.Errorf("data_level0.bin element %d has %d level-0 neighbours, more than maxM0 %d", i, n, h.MaxM0)
		}
		for j := uint64(0); j < n; j++ {
			nb := int64(binary.LittleEndian.Uint32(rec[4+4*j:]))
			if nb >= cur {
				return fmt.Errorf("data_level0.bin element %d links to %d, past the %d elements header.bin counts (header older than the data files?)", i, nb, cur)
			}
			if nb == i {
				return fmt.Errorf("data_level0.bin element %d links to itself", i)
			}
		}
		if binary.LittleEndian.Uint64(label[:]) == 0 {
			return fmt.Errorf("data_level0.bin element %d has label 0, which Chroma never assigns (data files older than header.bin?)", i)
		}
	}
	return nil
}

// checkLinkLists walks link_lists.bin: per element a uint32 byte count, a
// multiple of 4·maxM+4 of at most maxlevel levels, followed by that many
// bytes inside the file; every upper-level list counts at most maxM
// neighbours, each below cur.
func checkLinkLists(r io.Reader, h hnswHeader, size int64) error {
	cur := int64(h.CurElements)
	unit := int64(4*h.MaxM + 4) // M ≤ 2^15
	br := bufio.NewReaderSize(r, 256<<10)
	var pos int64
	var word [4]byte
	block := make([]byte, unit)
	for i := int64(0); i < cur; i++ {
		if _, err := io.ReadFull(br, word[:]); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return fmt.Errorf("link_lists.bin ends after %d of %d elements", i, cur)
			}
			return fmt.Errorf("read link_lists.bin: %w", err)
		}
		pos += 4
		n := int64(binary.LittleEndian.Uint32(word[:]))
		if n%unit != 0 {
			return fmt.Errorf("link_lists.bin entry %d has %d bytes: not a multiple of 4M+4 = %d", i, n, unit)
		}
		if n > size-pos {
			return fmt.Errorf("link_lists.bin entry %d has %d bytes: past the end of the %d-byte file", i, n, size)
		}
		if levels := n / unit; levels > int64(h.MaxLevel) {
			return fmt.Errorf("link_lists.bin element %d has %d upper levels, header.bin's maxlevel is %d", i, levels, h.MaxLevel)
		}
		for l := int64(1); l*unit <= n; l++ {
			if _, err := io.ReadFull(br, block); err != nil {
				return fmt.Errorf("read link_lists.bin element %d: %w", i, err)
			}
			c := uint64(binary.LittleEndian.Uint16(block))
			if c > h.MaxM {
				return fmt.Errorf("link_lists.bin element %d level %d has %d neighbours, more than maxM %d", i, l, c, h.MaxM)
			}
			for j := uint64(0); j < c; j++ {
				if nb := int64(binary.LittleEndian.Uint32(block[4+4*j:])); nb >= cur {
					return fmt.Errorf("link_lists.bin element %d level %d links to %d, past the %d elements header.bin counts", i, l, nb, cur)
				}
			}
		}
		pos += n
	}
	return nil
}
