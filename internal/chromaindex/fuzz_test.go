package chromaindex

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"math"
	"os"
	"testing"
)

// seedDict3 is python3's pickle.dumps of a three-element index's metadata
// at protocol 3 (the Rust engine's form) and seedObject4 the same state as a
// PersistentData object at protocol 4 (the Python engine's form).
const (
	seedDictBody = "}q\x00(X\x0e\x00\x00\x00dimensionalityq\x01K\x04X\x14\x00\x00\x00total_elements_addedq\x02K\x03" +
		"X\n\x00\x00\x00max_seq_idq\x03NX\x0b\x00\x00\x00id_to_labelq\x04}q\x05(X\x01\x00\x00\x00aq\x06K\x01" +
		"X\x01\x00\x00\x00bq\x07K\x02X\x01\x00\x00\x00cq\x08K\x03uX\x0b\x00\x00\x00label_to_idq\t}q\n(K\x01h\x06K\x02h\x07K\x03h\x08u" +
		"X\x0c\x00\x00\x00id_to_seq_idq\x0b}q\x0c(h\x06K\x01h\x07K\x02h\x08K\x03uu"
	seedDict3   = "\x80\x03" + seedDictBody + "."
	seedObject4 = "\x80\x04\x8c\x32" + persistentDataModule + "\x94\x8c\x0e" + persistentDataName + "\x94\x93\x94)\x81\x94" + seedDictBody + "b."
)

// seedIndex packs a three-element index at M 2, dimension 4: every element
// on level 0 linked to the two others, element 2 also on level 1.
func seedIndex() (header, level0, length, links []byte) {
	const m, dim, n = 2, 4, 3
	od := uint64(8*m + 4)
	le := binary.LittleEndian
	header = le.AppendUint32(nil, 1)
	for _, v := range []uint64{0, n, n, od + 4*dim + 8, od + 4*dim, od} {
		header = le.AppendUint64(header, v)
	}
	header = le.AppendUint32(header, 1) // maxlevel
	header = le.AppendUint32(header, 2) // enterpoint
	for _, v := range []uint64{m, 2 * m, m, math.Float64bits(1 / math.Log(m)), 100} {
		header = le.AppendUint64(header, v)
	}
	for i := range uint32(n) {
		rec := make([]byte, od+4*dim+8)
		le.PutUint16(rec, 2)
		le.PutUint32(rec[4:], (i+1)%n)
		le.PutUint32(rec[8:], (i+2)%n)
		le.PutUint64(rec[od+4*dim:], uint64(i+1))
		level0 = append(level0, rec...)
	}
	length = make([]byte, 4*n)
	links = le.AppendUint32(le.AppendUint32(nil, 0), 0)
	links = le.AppendUint32(links, 4*m+4)
	links = le.AppendUint32(le.AppendUint32(links, 1), 0)
	links = le.AppendUint32(links, 0)
	return header, level0, length, links
}

// memOpener serves a segment's files from memory.
func memOpener(files map[string][]byte) Opener {
	return func(name string) (io.ReadCloser, error) {
		b, ok := files[name]
		if !ok {
			return nil, os.ErrNotExist
		}
		return io.NopCloser(bytes.NewReader(b)), nil
	}
}

func TestSeedIndexIsClean(t *testing.T) {
	h, d, l, ll := seedIndex()
	files := map[string][]byte{"header.bin": h, "data_level0.bin": d, "length.bin": l, "link_lists.bin": ll}
	sizes := map[string]int64{}
	for k, v := range files {
		sizes[k] = int64(len(v))
	}
	if err := CheckIndex(context.Background(), memOpener(files), 4, sizes, false); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{seedDict3, seedObject4} {
		files[PickleFile] = []byte(p)
		if err := CheckPickle(context.Background(), memOpener(files), 4, int64(len(p)), false); err != nil {
			t.Fatal(err)
		}
	}
}

// FuzzChromaSegment runs the checks of one vector segment (header.bin,
// data_level0.bin, length.bin, link_lists.bin, index_metadata.pickle) on
// arbitrary bytes: they may report anything, but must not panic, and memory
// and time stay bounded by the inputs' sizes.
func FuzzChromaSegment(f *testing.F) {
	h, d, l, ll := seedIndex()
	f.Add(h, d, l, ll, []byte(seedDict3))
	f.Add(h, d, l, ll, []byte(seedObject4))
	f.Add(h[:60], d[:10], l, ll[:2], []byte(seedObject4[:40]))
	f.Fuzz(func(t *testing.T, header, level0, length, links, pickle []byte) {
		files := map[string][]byte{"header.bin": header, "data_level0.bin": level0, "length.bin": length,
			"link_lists.bin": links, PickleFile: pickle}
		sizes := map[string]int64{}
		for k, v := range files {
			sizes[k] = int64(len(v))
		}
		for _, quick := range []bool{false, true} {
			_ = CheckIndex(context.Background(), memOpener(files), 4, sizes, quick)
			_ = CheckPickle(context.Background(), memOpener(files), 4, sizes[PickleFile], quick)
		}
	})
}
