package sample

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
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
	hnswBytesPerVector = 4                               // link_lists.bin per persisted element on level 0
	hnswEmptyEnter     = math.MaxUint32                  // enterpoint of an empty index
	hnswDeleteMark     = 0x01                            // third byte of the level-0 count word
	hnswLevel0File     = "data_level0.bin"               // the bulk of a segment
	hnswPickleFile     = "index_metadata.pickle"         // written once elements are persisted
	hnswStream         = 0x686e7377 << 16                // random stream of the graphs
)

// hnswLayout is the geometry of one index: M and the dimension fix every
// offset (hnswalg.h's constructor).
type hnswLayout struct {
	m, dim                       int
	offsetData, labelOffset, spe int64
}

func newLayout(m, dim int) hnswLayout {
	od := int64(8*m + 4)
	return hnswLayout{m: m, dim: dim, offsetData: od, labelOffset: od + int64(4*dim), spe: od + int64(4*dim) + 8}
}

// upperBlock is the size of one upper-level link list: a count and M slots.
func (l hnswLayout) upperBlock() int64 { return int64(4*l.m + 4) }

// hnswGraph is an index's graph as hnswlib builds it: each element draws a
// random level with mult = 1/ln(M) and links, on every level up to its own,
// to at most 2M (level 0) or M (above) earlier elements of that level, which
// link back while they have room. The neighbours are drawn at random, not by
// distance: the files have hnswlib's shape, the graph is no search index.
type hnswGraph struct {
	levels   []int
	links    [][][]uint32 // links[i][l]: neighbours of element i on level l
	deleted  []bool
	maxLevel int
	enter    uint32
}

// buildGraph draws the graph of n elements.
func buildGraph(r *rand.Rand, n, m int) *hnswGraph {
	g := &hnswGraph{levels: make([]int, n), links: make([][][]uint32, n), deleted: make([]bool, n), maxLevel: -1, enter: hnswEmptyEnter}
	mult := 1 / math.Log(float64(m))
	var byLevel [][]uint32 // elements whose level is at least l
	for i := range n {
		level := int(-math.Log(1-r.Float64()) * mult)
		g.levels[i] = level
		g.links[i] = make([][]uint32, level+1)
		for l := 0; l <= min(level, g.maxLevel); l++ {
			room := m
			if l == 0 {
				room = 2 * m
			}
			for _, nb := range pick(r, byLevel[l], room) {
				g.links[i][l] = append(g.links[i][l], nb)
				if len(g.links[nb][l]) < room {
					g.links[nb][l] = append(g.links[nb][l], uint32(i))
				}
			}
		}
		for len(byLevel) <= level {
			byLevel = append(byLevel, nil)
		}
		for l := 0; l <= level; l++ {
			byLevel[l] = append(byLevel[l], uint32(i))
		}
		if level > g.maxLevel {
			g.maxLevel, g.enter = level, uint32(i)
		}
	}
	return g
}

// pick returns up to k distinct elements of from, drawn at random.
func pick(r *rand.Rand, from []uint32, k int) []uint32 {
	if len(from) <= k {
		return from
	}
	if len(from) < 4*k {
		c := append([]uint32(nil), from...)
		r.Shuffle(len(c), func(i, j int) { c[i], c[j] = c[j], c[i] })
		return c[:k]
	}
	seen := make(map[int]bool, k)
	out := make([]uint32, 0, k)
	for len(out) < k { // at most a few draws more than k: from has 4k or more
		if j := r.IntN(len(from)); !seen[j] {
			seen[j] = true
			out = append(out, from[j])
		}
	}
	return out
}

// linkListsSize is the size of link_lists.bin for g.
func (g *hnswGraph) linkListsSize(l hnswLayout) int64 {
	var n int64
	for _, lv := range g.levels {
		n += 4 + int64(lv)*l.upperBlock()
	}
	return n
}

// hnswHeader packs header.bin as hnswlib's persistHeader does
// (struct '<iQQQQQQiIQQQdQ', 100 bytes).
func hnswHeader(l hnswLayout, maxElements, count int64, maxLevel int, enter uint32) []byte {
	b := make([]byte, 0, hnswHeaderSize)
	b = binary.LittleEndian.AppendUint32(b, 1) // version
	b = binary.LittleEndian.AppendUint64(b, 0) // offsetLevel0
	b = binary.LittleEndian.AppendUint64(b, uint64(maxElements))
	b = binary.LittleEndian.AppendUint64(b, uint64(count))
	b = binary.LittleEndian.AppendUint64(b, uint64(l.spe))
	b = binary.LittleEndian.AppendUint64(b, uint64(l.labelOffset))
	b = binary.LittleEndian.AppendUint64(b, uint64(l.offsetData))
	b = binary.LittleEndian.AppendUint32(b, uint32(int32(maxLevel)))
	b = binary.LittleEndian.AppendUint32(b, enter)
	b = binary.LittleEndian.AppendUint64(b, uint64(l.m))   // maxM
	b = binary.LittleEndian.AppendUint64(b, uint64(2*l.m)) // maxM0
	b = binary.LittleEndian.AppendUint64(b, uint64(l.m))
	b = binary.LittleEndian.AppendUint64(b, math.Float64bits(1/math.Log(float64(l.m)))) // mult
	b = binary.LittleEndian.AppendUint64(b, hnswEfConstruction)
	return b
}

// hnswFiles is what writeHNSW puts in one segment directory.
type hnswFiles struct {
	layout      hnswLayout
	graph       *hnswGraph // its elements are the header's cur_element_count
	slots       int64      // elements data_level0.bin and length.bin hold
	maxElements int64      // header's max_elements: slots, or more after a resize
	pickle      []byte     // nil: no index_metadata.pickle
}

// writeHNSW creates dir and the index files of f. Vectors and the slots
// past the persisted elements are noise from nz; each persisted element has
// its level-0 links, deleted mark and label (element i has label i+1).
func writeHNSW(ctx context.Context, dir string, f *hnswFiles, nz *noise) error {
	if err := os.Mkdir(dir, 0o700); err != nil {
		return fmt.Errorf("create segment directory: %w", err)
	}
	g, l := f.graph, f.layout
	cur := int64(len(g.levels))
	if err := writeNewFile(filepath.Join(dir, "header.bin"), hnswHeader(l, f.maxElements, cur, g.maxLevel, g.enter)); err != nil {
		return err
	}
	if err := writeNewFile(filepath.Join(dir, "length.bin"), make([]byte, 4*f.slots)); err != nil {
		return err
	}
	if err := writeLinkLists(filepath.Join(dir, "link_lists.bin"), g, l); err != nil {
		return err
	}
	if err := writeLevel0(ctx, filepath.Join(dir, hnswLevel0File), f, nz); err != nil {
		return err
	}
	if f.pickle != nil {
		return writeNewFile(filepath.Join(dir, hnswPickleFile), f.pickle)
	}
	return nil
}

func writeLinkLists(path string, g *hnswGraph, l hnswLayout) error {
	b := make([]byte, 0, g.linkListsSize(l))
	for i, lv := range g.levels {
		b = binary.LittleEndian.AppendUint32(b, uint32(int64(lv)*l.upperBlock()))
		for lev := 1; lev <= lv; lev++ {
			nbs := g.links[i][lev]
			b = binary.LittleEndian.AppendUint32(b, uint32(len(nbs)))
			for j := range l.m {
				var nb uint32
				if j < len(nbs) {
					nb = nbs[j]
				}
				b = binary.LittleEndian.AppendUint32(b, nb)
			}
		}
	}
	return writeNewFile(path, b)
}

// putElement writes element i's level-0 record (count word, neighbours,
// label) into rec, the element's spe bytes, leaving its vector alone.
func putElement(rec []byte, g *hnswGraph, l hnswLayout, i int) {
	nbs := g.links[i][0]
	clear(rec[:l.offsetData])
	binary.LittleEndian.PutUint16(rec, uint16(len(nbs)))
	if g.deleted[i] {
		rec[2] |= hnswDeleteMark
	}
	for j, nb := range nbs {
		binary.LittleEndian.PutUint32(rec[4+4*j:], nb)
	}
	binary.LittleEndian.PutUint64(rec[l.labelOffset:], uint64(i+1))
}

// writeLevel0 writes data_level0.bin: f.slots elements of noise, the
// persisted ones with their records.
func writeLevel0(ctx context.Context, path string, f *hnswFiles, nz *noise) error {
	out, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(out, 1<<20)
	l := f.layout
	per := max(noiseBlock/l.spe, 1) // elements per noise block
	buf := make([]byte, per*l.spe)
	for first := int64(0); first < f.slots && err == nil; first += per {
		if err = ctx.Err(); err != nil {
			break
		}
		n := min(per, f.slots-first)
		fillNoise(buf[:n*l.spe], nz)
		for i := first; i < first+n && i < int64(len(f.graph.levels)); i++ {
			putElement(buf[(i-first)*l.spe:(i-first+1)*l.spe], f.graph, l, int(i))
		}
		_, err = w.Write(buf[:n*l.spe])
	}
	if err == nil {
		err = w.Flush()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// fillNoise fills b with noise.
func fillNoise(b []byte, nz *noise) {
	for len(b) > 0 {
		b = b[copy(b, nz.next()):]
	}
}
