package chromaindex

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// pythonPickles has python3's pickle module write index metadata in each
// form Chroma uses: the Rust engine's protocol-3 dict and the Python
// engine's PersistentData object (protocol 4 and 5, with FRAMEs and
// MEMOIZE), through a stand-in class registered under chromadb's module
// path. 2500 ids take memo indexes past 256 and several SETITEMS batches.
const pythonPickles = `
import pickle, sys, types
mod = types.ModuleType("chromadb.segment.impl.vector.local_persistent_hnsw")
class PersistentData:
    pass
PersistentData.__module__ = mod.__name__
mod.PersistentData = PersistentData
for name in ["chromadb", "chromadb.segment", "chromadb.segment.impl", "chromadb.segment.impl.vector", mod.__name__]:
    sys.modules.setdefault(name, types.ModuleType(name))
sys.modules[mod.__name__] = mod
ids = ["%08x-0000-4000-8000-%012x" % (i, i * 7919) for i in range(2500)]
state = {
    "dimensionality": 384,
    "total_elements_added": len(ids),
    "max_seq_id": 2**40 + 5,
    "id_to_label": {s: i + 1 for i, s in enumerate(ids)},
    "label_to_id": {i + 1: s for i, s in enumerate(ids)},
    "id_to_seq_id": {s: 2**33 + i for i, s in enumerate(ids)},
}
out = sys.argv[1]
open(out + "/dict3", "wb").write(pickle.dumps(state, protocol=3))
for proto in (4, 5):
    obj = PersistentData()
    obj.__dict__.update(state)
    open(out + "/object%d" % proto, "wb").write(pickle.dumps(obj, protocol=proto))
open(out + "/none_dim", "wb").write(pickle.dumps(dict(state, dimensionality=None), protocol=3))
class Other:
    pass
open(out + "/other_class", "wb").write(pickle.dumps(Other(), protocol=4))
`

func TestUnpicklerReadsWhatPythonWrites(t *testing.T) {
	dir := t.TempDir()
	if out, err := exec.Command("python3", "-c", pythonPickles, dir).CombinedOutput(); err != nil {
		t.Fatalf("python3: %v\n%s", err, out)
	}
	parse := func(name string) (indexMetadata, error) {
		raw, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		v, err := unpickle(bytes.NewReader(raw), int64(len(raw)))
		if err != nil {
			return indexMetadata{}, err
		}
		return decodeIndexMetadata(v)
	}
	for _, c := range []struct{ name, form string }{{"dict3", "dict"}, {"object4", persistentDataName}, {"object5", persistentDataName}} {
		m, err := parse(c.name)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if m.form != c.form || m.dimensionality != int64(384) {
			t.Errorf("%s: %+v", c.name, m)
		}
	}
	if m, err := parse("none_dim"); err != nil || m.dimensionality != nil {
		t.Errorf("none_dim: %+v, %v", m, err)
	}
	if _, err := parse("other_class"); err == nil || !strings.Contains(err.Error(), "refuses to construct __main__.Other") {
		t.Errorf("other_class: %v", err)
	}
	// Every proper prefix of a real pickle is an error, never a value.
	raw, _ := os.ReadFile(filepath.Join(dir, "object4"))
	for _, n := range []int{0, 1, 2, 11, len(raw) / 3, len(raw) - 2, len(raw) - 1} {
		if _, err := unpickle(bytes.NewReader(raw[:n]), int64(n)); err == nil {
			t.Errorf("prefix of %d bytes parsed", n)
		}
	}
}

// Hostile lengths and nesting are refused before anything is allocated.
func TestUnpicklerBounds(t *testing.T) {
	for name, raw := range map[string]string{
		"huge BINUNICODE8": "\x80\x04\x8d\xff\xff\xff\xff\xff\xff\xff\x7f",
		"huge LONG4":       "\x80\x03\x8b\xff\xff\xff\x7f",
		"huge FRAME":       "\x80\x04\x95\xff\xff\xff\xff\xff\xff\xff\xff",
		"deep marks":       "\x80\x03" + strings.Repeat("(", 1000) + ".",
		"unhashable key":   "\x80\x03}(]]u.",
		"memo miss":        "\x80\x03h\x07.",
		"protocol 6":       "\x80\x06}.",
		"REDUCE":           "\x80\x03cos\nsystem\nX\x02\x00\x00\x00lsR.",
	} {
		if _, err := unpickle(strings.NewReader(raw), int64(len(raw))); err == nil {
			t.Errorf("%s: parsed", name)
		}
	}
}
