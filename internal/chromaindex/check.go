package chromaindex

import (
	"context"
	"fmt"
	"io"

	"github.com/atocore/atocore-backup/internal/ctxio"
)

// IndexFiles are the files of a persisted HNSW segment.
var IndexFiles = []string{"header.bin", "data_level0.bin", "length.bin", "link_lists.bin"}

// PickleFile is the metadata file Chroma writes beside them at each persist.
const PickleFile = "index_metadata.pickle"

// Opener opens one file of a segment directory by name.
type Opener func(name string) (io.ReadCloser, error)

// CheckIndex checks a segment's header.bin against the collection's
// dimension and the files' sizes (by name, as listed), then walks
// link_lists.bin and, unless quick, the persisted elements of
// data_level0.bin. The error describes the first problem found; it is nil
// when hnswlib would load the files into a consistent index.
func CheckIndex(ctx context.Context, open Opener, dim int64, sizes map[string]int64, quick bool) error {
	if sizes["header.bin"] != hnswHeaderSize {
		return fmt.Errorf("header.bin is %d bytes, want %d", sizes["header.bin"], hnswHeaderSize)
	}
	var raw []byte
	if err := withFile(ctx, open, "header.bin", func(r io.Reader) (err error) {
		raw, err = io.ReadAll(io.LimitReader(r, hnswHeaderSize+1))
		return err
	}); err != nil {
		return err
	}
	h, err := decodeHNSWHeader(raw)
	if err != nil {
		return err
	}
	if err := h.check(dim, sizes["data_level0.bin"], sizes["length.bin"]); err != nil {
		return err
	}
	if h.CurElements == 0 {
		return nil
	}
	if err := withFile(ctx, open, "link_lists.bin", func(r io.Reader) error {
		return checkLinkLists(r, h, sizes["link_lists.bin"])
	}); err != nil {
		return err
	}
	if quick {
		return nil
	}
	return withFile(ctx, open, "data_level0.bin", func(r io.Reader) error { return checkLevel0(r, h) })
}

// CheckPickle parses index_metadata.pickle (size bytes) with the restricted
// unpickler and compares its dimensionality with the collection's. A 0-byte
// or truncated pickle makes both engines fail to load the segment. With
// quick it checks only that the file is not empty.
func CheckPickle(ctx context.Context, open Opener, dim int64, size int64, quick bool) error {
	if size == 0 {
		return fmt.Errorf("%s is empty (0 bytes)", PickleFile)
	}
	if quick {
		return nil
	}
	return withFile(ctx, open, PickleFile, func(r io.Reader) error {
		val, err := unpickle(r, size)
		if err != nil {
			return fmt.Errorf("%s: %w", PickleFile, err)
		}
		m, err := decodeIndexMetadata(val)
		if err != nil {
			return fmt.Errorf("%s: %w", PickleFile, err)
		}
		if d, ok := m.dimensionality.(int64); !ok || d != dim {
			return fmt.Errorf("%s (%s) has dimensionality %v, the collection has %d", PickleFile, m.form, pyValue(m.dimensionality), dim)
		}
		return nil
	})
}

func pyValue(v any) string {
	if i, ok := v.(int64); ok {
		return fmt.Sprint(i)
	}
	return pyType(v)
}

// withFile opens name and hands it to check, stopping when ctx ends.
func withFile(ctx context.Context, open Opener, name string, check func(io.Reader) error) error {
	f, err := open(name)
	if err != nil {
		return fmt.Errorf("open %s: %w", name, err)
	}
	defer f.Close()
	return check(ctxio.NewReader(ctx, f))
}
