package sample

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
)

// vectorSegment is what one VECTOR segment directory holds.
type vectorSegment struct {
	ID       string   // segment UUID, the directory name
	Capacity int64    // preallocated slots in data_level0.bin and length.bin
	Grown    bool     // header's max_elements doubled by a resize the files did not follow
	IDs      []string // embedding ids persisted in the index, label i+1 for IDs[i]
	Seqs     []int64  // sequence id of each persisted embedding
	files    *hnswFiles
}

// persisted is the header's cur_element_count.
func (s *vectorSegment) persisted() int64 { return int64(len(s.IDs)) }

// prepare draws the graph and encodes the pickle; both are needed before
// sizing the segment.
func (s *vectorSegment) prepare(seed int64, i int) {
	r := rand.New(rand.NewPCG(uint64(seed), hnswStream+uint64(i)))
	s.files = &hnswFiles{layout: newLayout(hnswM, embeddingDim), graph: buildGraph(r, len(s.IDs), hnswM)}
	if len(s.IDs) > 0 {
		s.files.pickle = hnswPickle(embeddingDim, s.IDs, s.Seqs)
	}
}

// fixedSize is the bytes of the segment that do not scale with Capacity.
func (s *vectorSegment) fixedSize() int64 {
	return hnswHeaderSize + s.files.graph.linkListsSize(s.files.layout) + int64(len(s.files.pickle))
}

// size is the number of bytes the segment's files take.
func (s *vectorSegment) size() int64 { return s.fixedSize() + s.Capacity*hnswBytesPerSlot }

// write creates the segment directory under chromaPath and its files.
func (s *vectorSegment) write(ctx context.Context, chromaPath string, nz *noise) error {
	s.files.slots = s.Capacity
	s.files.maxElements = s.Capacity
	if s.Grown {
		s.files.maxElements = 2 * s.Capacity
	}
	if err := writeHNSW(ctx, filepath.Join(chromaPath, s.ID), s.files, nz); err != nil {
		return fmt.Errorf("segment %s: %w", s.ID, err)
	}
	s.files = nil // the pickle can be tens of MB; written, no longer needed
	return nil
}

// PickleForm is the form of index_metadata.pickle that WriteHNSW writes.
type PickleForm int

const (
	// PickleDict is the Rust engine's (Chroma 1.x): a protocol-3 dict.
	PickleDict PickleForm = iota
	// PickleObject is the Python engine's (Chroma 0.4-0.6): a protocol-4
	// chromadb.segment.impl.vector.local_persistent_hnsw.PersistentData
	// object whose state holds the same fields.
	PickleObject
	// PickleNone writes no pickle, as before the first persist.
	PickleNone
)

// HNSWOptions describes one persisted hnswlib index for WriteHNSW. The zero
// value is an empty index of 100 slots at M 16, dimension 384.
type HNSWOptions struct {
	Dim      int   // vector dimension; 0 means 384
	M        int   // 0 means 16
	Elements int   // the header's cur_element_count
	Slots    int64 // elements data_level0.bin and length.bin hold; 0 means max(100, Elements)
	// MaxElements is the header's max_elements; 0 means Slots. The Rust
	// engine grows it on resize without growing the files.
	MaxElements int64
	// Deleted lists elements marked deleted (hnswlib's markDelete).
	Deleted []int
	Pickle  PickleForm
	// PickleIDs is how many ids the pickle lists (labels 1..n); 0 means
	// Elements. hnswlib 0.7.3 does not persist a lone first element: the
	// header counts 0 and the pickle lists 1.
	PickleIDs int
	Seed      int64
}

// WriteHNSW writes the directory dir (which must not exist) holding an index
// the way chroma-hnswlib persists one: header.bin, data_level0.bin with
// level-0 links, deleted marks and labels from 1, length.bin,
// link_lists.bin with the upper levels of elements drawn with
// mult = 1/ln(M), and index_metadata.pickle in the form asked for.
func WriteHNSW(ctx context.Context, dir string, o HNSWOptions) error {
	o.Dim = cmp.Or(o.Dim, embeddingDim)
	o.M = cmp.Or(o.M, hnswM)
	o.Slots = cmp.Or(o.Slots, max(hnswMinCapacity, int64(o.Elements)))
	o.MaxElements = cmp.Or(o.MaxElements, o.Slots)
	o.PickleIDs = cmp.Or(o.PickleIDs, o.Elements)
	if o.Elements < 0 || int64(o.Elements) > o.Slots || o.MaxElements < int64(o.Elements) || o.M < 2 {
		return fmt.Errorf("sample: hnsw %s: %d elements do not fit %d slots, max_elements %d, M %d", dir, o.Elements, o.Slots, o.MaxElements, o.M)
	}
	r := rand.New(rand.NewPCG(uint64(o.Seed), hnswStream))
	f := &hnswFiles{layout: newLayout(o.M, o.Dim), graph: buildGraph(r, o.Elements, o.M), slots: o.Slots, maxElements: o.MaxElements}
	for _, d := range o.Deleted {
		if d < 0 || d >= o.Elements {
			return fmt.Errorf("sample: hnsw %s: deleted element %d of %d", dir, d, o.Elements)
		}
		f.graph.deleted[d] = true
	}
	ids := make([]string, o.PickleIDs)
	seqs := make([]int64, o.PickleIDs)
	for i := range ids {
		ids[i] = newUUID(r)
		seqs[i] = int64(i + 1)
	}
	switch o.Pickle {
	case PickleDict:
		f.pickle = hnswPickle(o.Dim, ids, seqs)
	case PickleObject:
		f.pickle = hnswPickleObject(o.Dim, ids, seqs)
	}
	return writeHNSW(ctx, dir, f, newNoise(o.Seed, hnswStream))
}
