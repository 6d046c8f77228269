package validate

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/binary"
	"errors"

	"io"
	"path"
	"path/filepath"
	"strings"

	"github.com/spf13/afero"

	"github.com/atocore/atocore-backup/internal/snapshot"
	"github.com/atocore/atocore-backup/internal/sqlitedb"
)

// Chroma-aware checks of a snapshot's chroma/ directory, after the layout
// of Chroma's persist directory (hnswlib's index files, Chroma 0.4-1.x):
// every vector segment that chroma.sqlite3 lists for a collection with a
// dimension must have its directory and index files, and each 100-byte
// header.bin must agree with that dimension and with the files' sizes.
// A torn copy (files from different moments) fails here even when every
// file matches the manifest, because the manifest was written from it.

// hnswHeaderSize is the size of header.bin, packed as <iQQQQQQiIQQQdQ.
const hnswHeaderSize = 100

// indexFiles are the files of a persisted HNSW segment.
var indexFiles = []string{"header.bin", "data_level0.bin", "length.bin", "link_lists.bin"}

// picklePresent names the metadata file Chroma writes at each persist.
const pickleName = "index_metadata.pickle"

type vectorSegment struct {
	id        string
	dimension sql.NullInt64
	persisted bool // max_seq_id has a row for it: Chroma has flushed vectors
}

// chromaSegments checks the segment directories against chroma.sqlite3.
// It runs after chroma.sqlite3 passed integrity_check.
func (v *run) chromaSegments(ctx context.Context, dbRel string) error {
	db, closeFn, err := sqlitedb.OpenSnapshotDB(v.fsys, filepath.Join(v.dir, filepath.FromSlash(dbRel)))
	if err != nil {
		v.fail(CodeChromaIntegrity, "%s: %v", dbRel, err)
		return nil
	}
	defer closeFn()
	segs, err := readVectorSegments(ctx, db)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		v.fail(CodeChromaIntegrity, "%s: cannot read its segments table: %v", dbRel, err)
		return nil
	}
	known := map[string]bool{}
	for _, s := range segs {
		known[s.id] = true
		if err := v.checkSegment(s); err != nil {
			return err
		}
	}
	// Orphans: directories that belong to no segment at all.
	all, err := readAllSegmentIDs(ctx, db)
	if err != nil {
		return nil
	}
	entries, _ := afero.ReadDir(v.fsys, filepath.Join(v.dir, snapshot.ChromaDir))
	for _, e := range entries {
		if e.IsDir() && !all[e.Name()] {
			v.warn(CodeChromaSegmentOrphan, "%s/%s/ belongs to no segment in %s", snapshot.ChromaDir, e.Name(), snapshot.ChromaDBName)
		}
	}
	return nil
}

func readVectorSegments(ctx context.Context, db *sql.DB) ([]vectorSegment, error) {
	rows, err := db.QueryContext(ctx, `
		SELECT s.id, c.dimension,
		       EXISTS (SELECT 1 FROM max_seq_id m WHERE m.segment_id = s.id)
		FROM segments s JOIN collections c ON c.id = s.collection
		WHERE s.scope = 'VECTOR' AND s.type LIKE '%hnsw%'
		ORDER BY s.id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []vectorSegment
	for rows.Next() {
		var s vectorSegment
		if err := rows.Scan(&s.id, &s.dimension, &s.persisted); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

func readAllSegmentIDs(ctx context.Context, db *sql.DB) (map[string]bool, error) {
	rows, err := db.QueryContext(ctx, `SELECT id FROM segments`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	ids := map[string]bool{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids[id] = true
	}
	return ids, rows.Err()
}

func (v *run) checkSegment(s vectorSegment) error {
	if !snapshot.LocalPath(s.id) || strings.Contains(s.id, "/") {
		v.fail(CodeChromaSegmentCorrupt, "segment id %q is not a directory name", s.id)
		return nil
	}
	rel := path.Join(snapshot.ChromaDir, s.id)
	if !s.dimension.Valid {
		return nil // an empty collection: Chroma has made no index yet
	}
	fi, err := v.fsys.Stat(filepath.Join(v.dir, filepath.FromSlash(rel)))
	if err != nil || !fi.IsDir() {
		if s.persisted {
			v.fail(CodeChromaSegmentMissing, "%s/ is missing; %s records persisted vectors for it", rel, snapshot.ChromaDBName)
		}
		return nil
	}
	present := map[string]int64{}
	for _, name := range append(append([]string{}, indexFiles...), pickleName) {
		if info, ok := v.files[path.Join(rel, name)]; ok {
			present[name] = info.Size()
		}
	}
	_, hasPickle := present[pickleName]
	var missing []string
	for _, name := range indexFiles {
		if _, ok := present[name]; !ok {
			missing = append(missing, name)
		}
	}
	switch {
	case len(missing) == len(indexFiles) && !hasPickle && !s.persisted:
		return nil // created, nothing written yet
	case len(missing) > 0:
		v.fail(CodeChromaSegmentMissing, "%s/ lacks %s", rel, strings.Join(missing, ", "))
		return nil
	}
	return v.checkHeader(rel, int(s.dimension.Int64), present)
}

// hnswHeader is header.bin as hnswlib's saveIndex writes it.
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

func (v *run) checkHeader(rel string, dim int, sizes map[string]int64) error {
	bad := func(format string, args ...any) error {
		v.fail(CodeChromaSegmentCorrupt, "%s: "+format, append([]any{rel}, args...)...)
		return nil
	}
	if sizes["header.bin"] != hnswHeaderSize {
		return bad("header.bin is %d bytes, want %d", sizes["header.bin"], hnswHeaderSize)
	}
	raw, err := afero.ReadFile(v.fsys, filepath.Join(v.dir, filepath.FromSlash(rel), "header.bin"))
	if err != nil {
		return bad("read header.bin: %v", err)
	}
	var h hnswHeader
	if err := binary.Read(bytes.NewReader(raw), binary.LittleEndian, &h); err != nil {
		return bad("decode header.bin: %v", err)
	}
	offsetData := 8*h.M + 4
	switch {
	case h.Version != 1 || h.OffsetLevel0 != 0:
		return bad("header.bin version %d, offset %d: not an hnswlib index header", h.Version, h.OffsetLevel0)
	case h.M == 0 || h.MaxM != h.M || h.MaxM0 != 2*h.M || h.OffsetData != offsetData:
		return bad("header.bin has inconsistent M fields (M %d, maxM %d, maxM0 %d, offsetData %d)", h.M, h.MaxM, h.MaxM0, h.OffsetData)
	case h.SizePerElement != offsetData+uint64(4*dim)+8 || h.LabelOffset != offsetData+uint64(4*dim):
		return bad("header.bin element size %d does not fit the collection's dimension %d", h.SizePerElement, dim)
	case h.CurElements > h.MaxElements:
		return bad("header.bin counts %d elements, capacity %d", h.CurElements, h.MaxElements)
	case h.CurElements > 0 && (uint64(h.EnterPoint) >= h.CurElements || h.MaxLevel < 0):
		return bad("header.bin entry point %d / level %d invalid for %d elements", h.EnterPoint, h.MaxLevel, h.CurElements)
	}
	spe := int64(h.SizePerElement)
	cur := int64(h.CurElements)
	if d := sizes["data_level0.bin"]; d < cur*spe || d%spe != 0 {
		return bad("data_level0.bin is %d bytes; %d elements of %d bytes need a multiple of %d of at least %d", d, cur, spe, spe, cur*spe)
	}
	if l := sizes["length.bin"]; l < 4*cur {
		return bad("length.bin is %d bytes, %d elements need %d", l, cur, 4*cur)
	}
	return v.checkLinkLists(rel, cur, int64(4*h.M+4), sizes["link_lists.bin"], bad)
}

// checkLinkLists walks link_lists.bin: per element a uint32 byte count (a
// multiple of 4M+4) followed by that many bytes, all inside the file.
// hnswlib reads it without bounds checks, so a torn file crashes Chroma.
func (v *run) checkLinkLists(rel string, cur, unit, size int64, bad func(string, ...any) error) error {
	if cur == 0 {
		return nil
	}
	f, err := v.fsys.Open(filepath.Join(v.dir, filepath.FromSlash(rel), "link_lists.bin"))
	if err != nil {
		return bad("open link_lists.bin: %v", err)
	}
	defer f.Close()
	r := &countingReader{r: bufio.NewReaderSize(f, 256<<10)}
	var n uint32
	buf := make([]byte, 64<<10)
	for i := int64(0); i < cur; i++ {
		if err := binary.Read(r, binary.LittleEndian, &n); err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
				return bad("read link_lists.bin: %v", err)
			}
			return bad("link_lists.bin ends after %d of %d elements", i, cur)
		}
		if int64(n)%unit != 0 || r.n+int64(n) > size {
			return bad("link_lists.bin entry %d has %d bytes: not a multiple of %d or past the end", i, n, unit)
		}
		if _, err := io.CopyBuffer(io.Discard, io.LimitReader(r, int64(n)), buf); err != nil {
			return bad("read link_lists.bin: %v", err)
		}
	}
	return nil
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
