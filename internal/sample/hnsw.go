package sample

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
)

// HNSW parameters and file layout of a Chroma 1.x vector segment with the
// default configuration (M 16, ef_construction 100) at dimension 384.
const (
	hnswM              = 16
	hnswEfConstruction = 100
	hnswOffsetData     = 8*hnswM + 4                     // level-0 link list: count + 2M neighbours
	hnswLabelOffset    = hnswOffsetData + 4*embeddingDim // then the vector, then the label
	hnswElementSize    = hnswLabelOffset + 8             // spe: 1676 bytes at d=384
	hnswMinCapacity    = 100                             // the Rust engine's DEFAULT_MAX_ELEMENTS
	hnswHeaderSize     = 4 + 6*8 + 4 + 4 + 3*8 + 8 + 8   // '<iQQQQQQiIQQQdQ' = 100 bytes
	hnswBytesPerSlot   = hnswElementSize + 4             // data_level0 + length.bin per capacity slot
	hnswBytesPerVector = 4                               // link_lists.bin per persisted element
	hnswEmptyEnter     = math.MaxUint32                  // enterpoint of an empty index
	hnswLevel0File     = "data_level0.bin"               // the bulk of a segment
	hnswPickleFile     = "index_metadata.pickle"         // written once elements are persisted
)

// vectorSegment is what one VECTOR segment directory holds.
type vectorSegment struct {
	ID       string   // segment UUID, the directory name
	Capacity int64    // max_elements: preallocated slots
	IDs      []string // embedding ids persisted in the index, label i+1 for IDs[i]
	Seqs     []int64  // sequence id of each persisted embedding
	pickle   []byte   // encoded index_metadata.pickle, nil when nothing is persisted
}

// persisted is the header's cur_element_count.
func (s *vectorSegment) persisted() int64 { return int64(len(s.IDs)) }

// encodePickle fills s.pickle; it is needed before sizing the segment.
func (s *vectorSegment) encodePickle() {
	if len(s.IDs) > 0 {
		s.pickle = hnswPickle(embeddingDim, s.IDs, s.Seqs)
	}
}

// size is the number of bytes the segment's files take.
func (s *vectorSegment) size() int64 {
	return hnswHeaderSize + s.Capacity*hnswBytesPerSlot + s.persisted()*hnswBytesPerVector + int64(len(s.pickle))
}

// hnswHeader packs header.bin as hnswlib's saveIndex does
// (struct '<iQQQQQQiIQQQdQ', 100 bytes).
func hnswHeader(capacity, count int64) []byte {
	maxLevel, enter := int32(0), uint32(0)
	if count == 0 {
		maxLevel, enter = -1, hnswEmptyEnter
	}
	b := make([]byte, 0, hnswHeaderSize)
	b = binary.LittleEndian.AppendUint32(b, 1) // version
	b = binary.LittleEndian.AppendUint64(b, 0) // offsetLevel0
	b = binary.LittleEndian.AppendUint64(b, uint64(capacity))
	b = binary.LittleEndian.AppendUint64(b, uint64(count))
	b = binary.LittleEndian.AppendUint64(b, hnswElementSize)
	b = binary.LittleEndian.AppendUint64(b, hnswLabelOffset)
	b = binary.LittleEndian.AppendUint64(b, hnswOffsetData)
	b = binary.LittleEndian.AppendUint32(b, uint32(maxLevel))
	b = binary.LittleEndian.AppendUint32(b, enter)
	b = binary.LittleEndian.AppendUint64(b, hnswM)   // maxM
	b = binary.LittleEndian.AppendUint64(b, 2*hnswM) // maxM0
	b = binary.LittleEndian.AppendUint64(b, hnswM)
	b = binary.LittleEndian.AppendUint64(b, math.Float64bits(1/math.Log(hnswM))) // mult
	b = binary.LittleEndian.AppendUint64(b, hnswEfConstruction)
	return b
}

// writeSegment creates the segment directory under chromaPath and its files.
// data_level0.bin is filled with noise from nz; length.bin and link_lists.bin
// hold zeros (every element on level 0 only, with no upper-level links).
func writeSegment(ctx context.Context, chromaPath string, s *vectorSegment, nz *noise) error {
	dir := filepath.Join(chromaPath, s.ID)
	if err := os.Mkdir(dir, 0o700); err != nil {
		return fmt.Errorf("create segment directory: %w", err)
	}
	files := []struct {
		name string
		data []byte
	}{
		{"header.bin", hnswHeader(s.Capacity, s.persisted())},
		{"length.bin", make([]byte, 4*s.Capacity)},
		{"link_lists.bin", make([]byte, hnswBytesPerVector*s.persisted())},
	}
	for _, f := range files {
		if err := writeNewFile(filepath.Join(dir, f.name), f.data); err != nil {
			return fmt.Errorf("segment %s: %w", s.ID, err)
		}
	}
	if err := writeNoiseFile(ctx, filepath.Join(dir, hnswLevel0File), s.Capacity*hnswElementSize, nz); err != nil {
		return fmt.Errorf("segment %s: %w", s.ID, err)
	}
	if s.pickle != nil {
		if err := writeNewFile(filepath.Join(dir, hnswPickleFile), s.pickle); err != nil {
			return fmt.Errorf("segment %s: %w", s.ID, err)
		}
	}
	return nil
}

// writeNoiseFile creates path (mode 0600) holding size bytes of noise.
func writeNoiseFile(ctx context.Context, path string, size int64, nz *noise) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if err := writeNoise(ctx, f, 0, size, nz); err != nil {
		f.Close()
		return fmt.Errorf("%s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", path, err)
	}
	return nil
}
