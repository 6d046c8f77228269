package validate

import (
	"context"
	"database/sql"
	"io"
	"path"
	"path/filepath"
	"runtime"
	"strings"
	"sync"

	"github.com/spf13/afero"

	"github.com/atocore/atocore-backup/internal/chromaindex"
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

// indexFiles are the files of a persisted HNSW segment; pickleName the
// metadata file Chroma writes at each persist.
var indexFiles = chromaindex.IndexFiles

const pickleName = chromaindex.PickleFile

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
	if err := v.checkSegments(segs); err != nil {
		return err
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

// checkSegments checks the segments on every core: a deployment with
// hundreds of small collections has hundreds of segment directories, and
// each check reads its files whole. It returns the first error (not a
// finding: cancellation, or a check that panicked, named by its segment).
func (v *run) checkSegments(segs []vectorSegment) error {
	next := make(chan vectorSegment)
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	for range min(runtime.GOMAXPROCS(0), max(len(segs), 1)) {
		wg.Go(func() {
			for s := range next {
				j := job{name: path.Join(snapshot.ChromaDir, s.id), run: func() error { return v.checkSegment(s) }}
				if err := j.safeRun(); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		})
	}
	for _, s := range segs {
		if v.ctx.Err() != nil {
			break
		}
		next <- s
	}
	close(next)
	wg.Wait()
	if first == nil {
		first = v.ctx.Err()
	}
	return first
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
	case !hasPickle && s.persisted:
		// Chroma writes the pickle before the vector segment's max_seq_id;
		// without it Chroma re-initialises the index and the vectors whose
		// log it purged are lost. (Python 0.4.0-0.5.5 write no such row.)
		v.fail(CodeChromaSegmentMissing, "%s/ lacks %s; %s records persisted vectors for it", rel, pickleName, snapshot.ChromaDBName)
		return nil
	}
	bad := func(format string, args ...any) error {
		v.fail(CodeChromaSegmentCorrupt, "%s: "+format, append([]any{rel}, args...)...)
		return nil
	}
	// Quick skips what reads every element: the data_level0.bin walk and
	// the pickle's parse.
	open := v.opener(rel)
	if err := chromaindex.CheckIndex(v.ctx, open, s.dimension.Int64, present, v.opts.Quick); err != nil {
		if v.ctx.Err() != nil {
			return v.ctx.Err()
		}
		return bad("%v", err)
	}
	if hasPickle {
		if err := chromaindex.CheckPickle(v.ctx, open, s.dimension.Int64, present[pickleName], v.opts.Quick); err != nil {
			if v.ctx.Err() != nil {
				return v.ctx.Err()
			}
			return bad("%v", err)
		}
	}
	return nil
}

func (v *run) segmentPath(rel, name string) string {
	return filepath.Join(v.dir, filepath.FromSlash(rel), name)
}

// opener opens the files of the segment directory rel.
func (v *run) opener(rel string) chromaindex.Opener {
	return func(name string) (io.ReadCloser, error) { return v.fsys.Open(v.segmentPath(rel, name)) }
}
