package sample

import (
	"bytes"
	"context"
	"encoding/binary"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// hnswHeaderFields mirrors header.bin ('<iQQQQQQiIQQQdQ').
type hnswHeaderFields struct {
	Version        int32
	OffsetLevel0   uint64
	MaxElements    uint64
	CurCount       uint64
	SizePerElement uint64
	LabelOffset    uint64
	OffsetData     uint64
	MaxLevel       int32
	EnterPoint     uint32
	MaxM, MaxM0, M uint64
	Mult           float64
	EfConstruction uint64
}

func readHeader(t *testing.T, dir string) hnswHeaderFields {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "header.bin"))
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != 100 {
		t.Fatalf("%s/header.bin is %d bytes, want 100", dir, len(b))
	}
	var h hnswHeaderFields
	if err := binary.Read(bytes.NewReader(b), binary.LittleEndian, &h); err != nil {
		t.Fatal(err)
	}
	return h
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// TestSegmentFiles applies the checks of research §3 "Validator checks" 4-7
// to every segment.
func TestSegmentFiles(t *testing.T) {
	t.Parallel()
	root := generate(t, Options{Segments: 3, ChromaBytes: 4 << 20})
	db := openRO(t, filepath.Join(root.ChromaPath, chromaDBFile))
	dirs := segmentDirs(t, root.ChromaPath)
	if len(dirs) != 3 {
		t.Fatalf("%d segment directories, want 3", len(dirs))
	}
	grown, upper := 0, 0
	defer func() {
		if grown != 1 || upper == 0 {
			t.Errorf("%d segments grown past their files (want 1), %d elements above level 0 (want some)", grown, upper)
		}
	}()
	for _, dir := range dirs {
		id := filepath.Base(dir)
		if n := queryInt(t, db, "SELECT count(*) FROM segments WHERE id = ? AND scope = 'VECTOR' AND type = ?", id, segmentTypeVector); n != 1 {
			t.Errorf("directory %s is not a vector segment", id)
		}
		h := readHeader(t, dir)
		const d = embeddingDim
		if h.Version != 1 || h.OffsetLevel0 != 0 || h.M != 16 || h.MaxM != h.M || h.MaxM0 != 2*h.M ||
			h.OffsetData != 8*h.M+4 || h.LabelOffset != h.OffsetData+4*d || h.SizePerElement != h.LabelOffset+8 ||
			h.SizePerElement != 1676 || h.EfConstruction != 100 || math.Abs(h.Mult-1/math.Log(16)) > 1e-15 {
			t.Errorf("%s: bad header %+v", id, h)
		}
		cur := h.CurCount
		if cur == 0 || cur > h.MaxElements || h.EnterPoint >= uint32(cur) || h.MaxLevel < 0 {
			t.Errorf("%s: count %d, capacity %d, enterpoint %d, maxlevel %d", id, cur, h.MaxElements, h.EnterPoint, h.MaxLevel)
		}
		// The files hold at least the persisted elements, and at most
		// max_elements (which a resize grows past them).
		level0 := fileSize(t, filepath.Join(dir, "data_level0.bin"))
		slots := uint64(level0) / h.SizePerElement
		if uint64(level0)%h.SizePerElement != 0 || slots < cur || slots > h.MaxElements {
			t.Errorf("%s: data_level0.bin %d bytes for %d elements, max_elements %d", id, level0, cur, h.MaxElements)
		}
		if slots < h.MaxElements {
			grown++
		}
		if got := fileSize(t, filepath.Join(dir, "length.bin")); got != int64(4*slots) {
			t.Errorf("%s: length.bin %d bytes, want %d", id, got, 4*slots)
		}
		levels := walkLinkLists(t, dir, int(cur))
		for _, lv := range levels {
			upper += min(lv, 1)
		}
		if fileSize(t, filepath.Join(dir, hnswPickleFile)) == 0 {
			t.Errorf("%s: empty pickle", id)
		}
		// The vector segment's max_seq_id is the seq of its last persisted
		// element; the queue holds everything after it.
		coll := queryString(t, db, "SELECT collection FROM segments WHERE id = ?", id)
		meta := queryString(t, db, "SELECT id FROM segments WHERE collection = ? AND scope = 'METADATA'", coll)
		total := queryInt(t, db, "SELECT count(*) FROM embeddings WHERE segment_id = ?", meta)
		first := queryInt(t, db, "SELECT min(seq_id) FROM embeddings WHERE segment_id = ?", meta)
		vecSeq := queryInt(t, db, "SELECT seq_id FROM max_seq_id WHERE segment_id = ?", id)
		metaSeq := queryInt(t, db, "SELECT seq_id FROM max_seq_id WHERE segment_id = ?", meta)
		if vecSeq != first+int64(cur)-1 || metaSeq != first+total-1 {
			t.Errorf("%s: max_seq_id vector %d metadata %d, want %d %d", id, vecSeq, metaSeq, first+int64(cur)-1, first+total-1)
		}
		queued := queryInt(t, db, "SELECT count(*) FROM embeddings_queue WHERE topic = ? AND seq_id > ? AND length(vector) = 1536", "persistent://default_tenant/default_database/"+coll, vecSeq)
		if queued != total-int64(cur) {
			t.Errorf("%s: %d queued embeddings, want %d", id, queued, total-int64(cur))
		}
		if n := queryInt(t, db, "SELECT dimension FROM collections WHERE id = ?", coll); n != embeddingDim {
			t.Errorf("collection %s has dimension %d", coll, n)
		}
	}
}

// walkLinkLists reads link_lists.bin and data_level0.bin of the n persisted
// elements of dir as hnswlib's loader would, and returns each one's level.
func walkLinkLists(t *testing.T, dir string, n int) []int {
	t.Helper()
	ll, err := os.ReadFile(filepath.Join(dir, "link_lists.bin"))
	if err != nil {
		t.Fatal(err)
	}
	d0, err := os.ReadFile(filepath.Join(dir, "data_level0.bin"))
	if err != nil {
		t.Fatal(err)
	}
	h := readHeader(t, dir)
	unit := int(4*h.MaxM + 4)
	levels := make([]int, n)
	for i := range n {
		size := int(binary.LittleEndian.Uint32(ll))
		if size%unit != 0 || size+4 > len(ll) {
			t.Fatalf("%s: element %d: link list of %d bytes in %d", dir, i, size, len(ll))
		}
		levels[i] = size / unit
		if levels[i] > int(h.MaxLevel) {
			t.Errorf("%s: element %d on level %d above maxlevel %d", dir, i, levels[i], h.MaxLevel)
		}
		for l := range levels[i] {
			block := ll[4+l*unit:]
			for j := range int(binary.LittleEndian.Uint16(block)) {
				if nb := binary.LittleEndian.Uint32(block[4+4*j:]); nb >= uint32(n) {
					t.Errorf("%s: element %d level %d links to %d", dir, i, l+1, nb)
				}
			}
		}
		ll = ll[4+size:]
		rec := d0[uint64(i)*h.SizePerElement:]
		cnt := int(binary.LittleEndian.Uint16(rec))
		if cnt > int(h.MaxM0) || (n > 1 && cnt == 0) {
			t.Errorf("%s: element %d has %d level-0 neighbours", dir, i, cnt)
		}
		for j := range cnt {
			if nb := binary.LittleEndian.Uint32(rec[4+4*j:]); nb >= uint32(n) || nb == uint32(i) {
				t.Errorf("%s: element %d links to %d", dir, i, nb)
			}
		}
		if label := binary.LittleEndian.Uint64(rec[h.LabelOffset:]); label != uint64(i+1) {
			t.Errorf("%s: element %d has label %d", dir, i, label)
		}
	}
	if len(ll) != 0 {
		t.Errorf("%s: %d bytes after the last link list", dir, len(ll))
	}
	return levels
}

func TestChromaDatabase(t *testing.T) {
	t.Parallel()
	root := generate(t, Options{})
	db := openRO(t, filepath.Join(root.ChromaPath, chromaDBFile))
	if got := queryString(t, db, "PRAGMA journal_mode"); got != "delete" {
		t.Errorf("journal_mode = %q, want delete", got)
	}
	if got := queryString(t, db, "PRAGMA integrity_check"); got != "ok" {
		t.Errorf("integrity_check = %q", got)
	}
	for _, c := range []struct {
		q    string
		want int64
	}{
		{"SELECT count(*) FROM migrations", 18},
		{"SELECT max(version) FROM migrations WHERE dir = 'sysdb'", 10},
		{"SELECT max(version) FROM migrations WHERE dir = 'metadb'", 6},
		{"SELECT count(*) FROM acquire_write", 1},
		{"SELECT count(*) FROM tenants WHERE id = 'default_tenant'", 1},
		{"SELECT count(*) FROM databases WHERE id = '00000000-0000-0000-0000-000000000000' AND name = 'default_database'", 1},
		{"SELECT count(*) FROM collections", DefaultSegments},
		{"SELECT count(*) FROM segments WHERE scope = 'METADATA'", DefaultSegments},
		{"SELECT count(*) FROM embeddings_queue_config WHERE id = 1", 1},
		{"SELECT count(*) FROM embeddings e LEFT JOIN embedding_metadata m ON m.id = e.id AND m.key = 'chroma:document' WHERE m.string_value IS NULL", 0},
		{"SELECT count(*) FROM embeddings", queryInt(t, db, "SELECT count(*) FROM embedding_fulltext_search")},
	} {
		if got := queryInt(t, db, c.q); got != c.want {
			t.Errorf("%s = %d, want %d", c.q, got, c.want)
		}
	}
	if _, err := os.Stat(filepath.Join(root.ChromaPath, chromaDBFile+"-journal")); err == nil {
		t.Error("chroma.sqlite3-journal left behind")
	}
}

func TestChromaBytes(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		bytes    int64
		segments int
	}{
		{8 << 20, 4},
		{24 << 20, 12},
	} {
		root := generate(t, Options{DBBytes: 1, ChromaBytes: c.bytes, Segments: c.segments})
		if got := dirBytes(t, root.ChromaPath); got < c.bytes*9/10 || got > c.bytes*11/10 {
			t.Errorf("ChromaBytes %d: directory is %d bytes", c.bytes, got)
		}
		if got := len(segmentDirs(t, root.ChromaPath)); got != c.segments {
			t.Errorf("%d segments, want %d", got, c.segments)
		}
	}
}

// TestPickleLoads checks index_metadata.pickle with Python's own unpickler,
// and that CPython pickles the loaded dict to the same bytes. Besides the
// generated segments it checks a pickle large enough for LONG_BINPUT,
// LONG_BINGET, several SETITEMS batches and LONG1 integers.
func TestPickleLoads(t *testing.T) {
	t.Parallel()
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not installed")
	}
	root := generate(t, Options{ChromaBytes: 2 << 20})
	const script = `
import pickle, sys
for path in sys.argv[1:]:
    raw = open(path, "rb").read()
    d = pickle.loads(raw)
    n = d["total_elements_added"]
    assert d["dimensionality"] == 384, d["dimensionality"]
    assert d["max_seq_id"] is None
    assert len(d["id_to_label"]) == len(d["label_to_id"]) == len(d["id_to_seq_id"]) == n > 0
    assert all(d["label_to_id"][l] == i for i, l in d["id_to_label"].items())
    assert sorted(d["label_to_id"]) == list(range(1, n + 1))
    assert pickle.dumps(d, protocol=3) == raw, "not what CPython writes"
    print(n)
`
	dirs := segmentDirs(t, root.ChromaPath)
	args := []string{"-c", script}
	for _, dir := range dirs {
		args = append(args, filepath.Join(dir, hnswPickleFile))
	}
	ids := make([]string, 2500)
	seqs := make([]int64, len(ids))
	for i := range ids {
		ids[i] = formatUUID([16]byte{byte(i), byte(i >> 8), 1})
		seqs[i] = int64(i)*70001 + 1<<31 // beyond BININT
	}
	large := filepath.Join(t.TempDir(), hnswPickleFile)
	if err := os.WriteFile(large, hnswPickle(embeddingDim, ids, seqs), 0o600); err != nil {
		t.Fatal(err)
	}
	args = append(args, large)
	out, err := exec.Command(py, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("python3: %v\n%s", err, out)
	}
	counts := strings.Fields(string(out))
	if len(counts) != len(dirs)+1 || counts[len(dirs)] != "2500" {
		t.Fatalf("python3 printed %q for %d pickles and one of 2500", out, len(dirs))
	}
	for i, dir := range dirs {
		if want := strconv.FormatUint(readHeader(t, dir).CurCount, 10); counts[i] != want {
			t.Errorf("%s: pickle has %s elements, header %s", dir, counts[i], want)
		}
	}
}

// TestFreshSegments covers a Chroma directory too small for any persist: each
// index is preallocated and empty, with everything still in the queue
// (research §4 step 3, "fresh 1.x").
func TestFreshSegments(t *testing.T) {
	t.Parallel()
	root := generate(t, Options{DBBytes: 1, ChromaBytes: 100 << 10})
	db := openRO(t, filepath.Join(root.ChromaPath, chromaDBFile))
	for _, dir := range segmentDirs(t, root.ChromaPath) {
		h := readHeader(t, dir)
		if h.CurCount != 0 || h.MaxElements != hnswMinCapacity || h.MaxLevel != -1 || h.EnterPoint != math.MaxUint32 {
			t.Errorf("%s: header %+v, want an empty index of 100 slots", dir, h)
		}
		if got := fileSize(t, filepath.Join(dir, "data_level0.bin")); got != 167600 {
			t.Errorf("data_level0.bin is %d bytes, want 167600", got)
		}
		if got := fileSize(t, filepath.Join(dir, "link_lists.bin")); got != 0 {
			t.Errorf("link_lists.bin is %d bytes, want 0", got)
		}
		if _, err := os.Stat(filepath.Join(dir, hnswPickleFile)); err == nil {
			t.Error("pickle written for an empty index")
		}
		if n := queryInt(t, db, "SELECT count(*) FROM max_seq_id WHERE segment_id = ?", filepath.Base(dir)); n != 0 {
			t.Error("max_seq_id row for an empty vector segment")
		}
	}
	if e, q := queryInt(t, db, "SELECT count(*) FROM embeddings"), queryInt(t, db, "SELECT count(*) FROM embeddings_queue"); e != q {
		t.Errorf("%d embeddings but %d queued", e, q)
	}
}

// TestPickleObjectLoads loads the Python engine's form that WriteHNSW
// writes with python3's unpickler, through a stand-in PersistentData class
// registered under chromadb's module path.
func TestPickleObjectLoads(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "seg")
	if err := WriteHNSW(context.Background(), dir, HNSWOptions{Elements: 300, Pickle: PickleObject, Seed: 5}); err != nil {
		t.Fatal(err)
	}
	const script = `
import pickle, sys, types
name = "chromadb.segment.impl.vector.local_persistent_hnsw"
for p in ["chromadb", "chromadb.segment", "chromadb.segment.impl", "chromadb.segment.impl.vector"]:
    sys.modules[p] = types.ModuleType(p)
mod = types.ModuleType(name)
class PersistentData:
    pass
PersistentData.__module__ = name
mod.PersistentData = PersistentData
sys.modules[name] = mod
o = pickle.load(open(sys.argv[1], "rb"))
assert type(o) is PersistentData
d = o.__dict__
assert d["dimensionality"] == 384 and d["total_elements_added"] == 300 and d["max_seq_id"] == 300
assert sorted(d["label_to_id"]) == list(range(1, 301))
assert all(d["label_to_id"][l] == i for i, l in d["id_to_label"].items())
print(len(d["id_to_seq_id"]))
`
	out, err := exec.Command("python3", "-c", script, filepath.Join(dir, hnswPickleFile)).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "300" {
		t.Fatalf("python3: %v\n%s", err, out)
	}
	h := readHeader(t, dir)
	if h.CurCount != 300 || h.MaxLevel < 1 {
		t.Errorf("header %+v: want 300 elements with upper levels", h)
	}
	walkLinkLists(t, dir, 300)
}
