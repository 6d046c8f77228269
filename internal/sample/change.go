package sample

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
)

// changeStream separates the generators of the Change functions from those
// of Generate, so that a change never rewrites bytes with what they held.
const changeStream = 0x6368616e6765 << 16

// ChangeChroma rewrites about frac (0..1) of the bytes of the Chroma vector
// segments under chromaPath in place, as a Chroma persist between two
// incremental backups would, and returns the number of bytes rewritten.
//
// "Segment bytes" are all files in the segment directories; the rewritten
// bytes are always in data_level0.bin, which holds nearly all of them, so
// headers and pickles stay valid; persisted elements keep their links and
// labels (only their vectors change). Whole segments are taken first, in an order
// drawn from seed (1 of 20 equal segments for frac 0.05); the remainder is one
// contiguous run of elements in the next segment. File sizes do not change.
func ChangeChroma(ctx context.Context, chromaPath string, frac float64, seed int64) (int64, error) {
	segs, total, err := listSegments(chromaPath)
	if err != nil {
		return 0, fmt.Errorf("sample: change chroma: %w", err)
	}
	frac = min(max(frac, 0), 1)
	if frac == 0 || len(segs) == 0 {
		return 0, nil
	}
	r := rand.New(rand.NewPCG(uint64(seed), changeStream))
	r.Shuffle(len(segs), func(i, j int) { segs[i], segs[j] = segs[j], segs[i] })
	remaining := int64(math.Round(frac * float64(total)))
	var changed int64
	taken := make([]bool, len(segs))
	for i, s := range segs {
		// A whole segment may overshoot the remainder by 10%: "about frac".
		if remaining > 0 && s.level0 <= remaining+remaining/10 {
			if err := rewrite(ctx, s.path, 0, s.level0, newNoise(seed, changeStream+uint64(i))); err != nil {
				return changed, err
			}
			taken[i] = true
			changed += s.level0
			remaining -= s.level0
		}
	}
	// The rest, if at least half an element (or nothing changed yet): a run
	// of whole elements at a random place in the first segment not taken.
	if remaining < hnswElementSize/2 && changed > 0 {
		return changed, nil
	}
	for i, s := range segs {
		elems := s.level0 / hnswElementSize
		if taken[i] || elems == 0 {
			continue
		}
		n := min(max((remaining+hnswElementSize/2)/hnswElementSize, 1), elems)
		start := r.Int64N(elems-n+1) * hnswElementSize
		if err := rewrite(ctx, s.path, start, n*hnswElementSize, newNoise(seed, changeStream+uint64(i))); err != nil {
			return changed, err
		}
		changed += n * hnswElementSize
		break
	}
	return changed, nil
}

// segmentFile is the data_level0.bin of one vector segment.
type segmentFile struct {
	path   string
	level0 int64 // size of data_level0.bin
}

// listSegments finds the vector segment directories under chromaPath (those
// holding data_level0.bin), sorted by name, and the total size of all files
// in them.
func listSegments(chromaPath string) ([]segmentFile, int64, error) {
	entries, err := os.ReadDir(chromaPath)
	if err != nil {
		return nil, 0, err
	}
	var segs []segmentFile
	var total int64
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		dir := filepath.Join(chromaPath, e.Name())
		fi, err := os.Stat(filepath.Join(dir, hnswLevel0File))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		} else if err != nil {
			return nil, 0, err
		}
		segs = append(segs, segmentFile{filepath.Join(dir, hnswLevel0File), fi.Size()})
		files, err := os.ReadDir(dir)
		if err != nil {
			return nil, 0, err
		}
		for _, f := range files {
			if info, err := f.Info(); err == nil && info.Mode().IsRegular() {
				total += info.Size()
			}
		}
	}
	sort.Slice(segs, func(i, j int) bool { return segs[i].path < segs[j].path })
	return segs, total, nil
}

// rewrite overwrites the vectors of the elements in size bytes of the
// data_level0.bin at path from off (both multiples of the element size)
// with noise, as a persist rewrites dirty elements; the persisted
// elements keep their links and labels, so the index stays loadable, and
// the unused slots past them are noise throughout. The file keeps its size.
func rewrite(ctx context.Context, path string, off, size int64, nz *noise) error {
	hdr, err := os.ReadFile(filepath.Join(filepath.Dir(path), "header.bin"))
	if err != nil || len(hdr) != hnswHeaderSize {
		return fmt.Errorf("sample: change chroma: header of %s: %v", path, err)
	}
	cur := int64(binary.LittleEndian.Uint64(hdr[20:]))
	l := hnswLayout{spe: int64(binary.LittleEndian.Uint64(hdr[28:])), labelOffset: int64(binary.LittleEndian.Uint64(hdr[36:])), offsetData: int64(binary.LittleEndian.Uint64(hdr[44:]))}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("sample: change chroma: %w", err)
	}
	defer f.Close()
	per := max(noiseBlock/l.spe, 1)
	buf, old := make([]byte, per*l.spe), make([]byte, per*l.spe)
	for pos := off; pos < off+size; pos += per * l.spe {
		if err := ctx.Err(); err != nil {
			return err
		}
		chunk := buf[:min(per*l.spe, off+size-pos)]
		if _, err := f.ReadAt(old[:len(chunk)], pos); err != nil {
			return fmt.Errorf("sample: change chroma: read %s: %w", path, err)
		}
		fillNoise(chunk, nz)
		for rel := int64(0); rel < int64(len(chunk)) && (pos+rel)/l.spe < cur; rel += l.spe {
			copy(chunk[rel:rel+l.offsetData], old[rel:])
			copy(chunk[rel+l.labelOffset:rel+l.spe], old[rel+l.labelOffset:])
		}
		if _, err := f.WriteAt(chunk, pos); err != nil {
			return fmt.Errorf("sample: change chroma: write %s: %w", path, err)
		}
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("sample: change chroma: close %s: %w", path, err)
	}
	return nil
}
