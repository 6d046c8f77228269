package sample

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
)

// Chroma constants: the default tenant and database every local Chroma has,
// the segment types of a local collection, and the queue configuration 1.x
// writes on first start.
const (
	chromaDBFile        = "chroma.sqlite3"
	chromaTenant        = "default_tenant"
	chromaDatabaseID    = "00000000-0000-0000-0000-000000000000"
	chromaDatabase      = "default_database"
	segmentTypeVector   = "urn:chroma:segment/vector/hnsw-local-persisted"
	segmentTypeMetadata = "urn:chroma:segment/metadata/sqlite"
	queueConfigJSON     = `{"automatically_purge": true, "_type": "EmbeddingsQueueConfigurationInternal"}`
	chromaStream        = 0x6368726f6d61
	chromaNoiseStream   = 0x6e6f697365 << 16
)

// Planning estimates: bytes of chroma.sqlite3 that do not depend on the
// number of embeddings, and bytes each embedding adds to it (row, metadata,
// indexes and full-text index). They only decide how many embeddings to
// create; the segments are then sized from the measured database, so an
// estimate that is off moves bytes between chroma.sqlite3 and the segments
// without missing the total.
//
// maxChromaEmbeddings bounds the embeddings of the whole directory: each
// costs about 1 KB of chroma.sqlite3 and 100 µs to insert (the trigram
// full-text index dominates), while segment bytes cost nothing to write.
// Large fixtures therefore preallocate HNSW capacity well beyond the
// persisted elements, which Chroma's loader accepts (cur <= max_elements).
const (
	estChromaFixed        = 320 << 10
	estChromaPerEmbedding = 1000
	estPicklePerVector    = 72
	maxChromaEmbeddings   = 10000
)

// collection is one Chroma collection with its METADATA and VECTOR segments.
type collection struct {
	ID, Name        string
	MetadataSegment string
	Vector          vectorSegment
	Total           int   // embeddings in the metadata segment (N)
	FirstSeq        int64 // sequence id of the first embedding
}

// buildChroma fills the empty directory chromaPath with a Chroma persist
// directory of the shape, totalling about target bytes across n
// collections.
func buildChroma(ctx context.Context, chromaPath string, target int64, n int, shape Shape, seed int64) error {
	r := rand.New(rand.NewPCG(uint64(seed), chromaStream))
	var cols []collection
	switch shape.or() {
	case ShapeText:
		cols = planTextCollections(r, target, n)
	case ShapeMany:
		cols = planManyCollections(r, target, n)
	default:
		cols = planCollections(r, target, n)
	}
	dbPath := filepath.Join(chromaPath, chromaDBFile)
	if err := writeChromaDB(ctx, dbPath, r, cols); err != nil {
		return err
	}
	fi, err := os.Stat(dbPath)
	if err != nil {
		return err
	}
	left := target - fi.Size()
	// budgets, when set, are each segment's bytes; otherwise what is left
	// is shared equally, each segment taking its share of what the ones
	// before it left.
	var budgets []int64
	if shape.or() == ShapeMany {
		budgets = manyBudgets(r, left, len(cols))
	}
	for i := range cols {
		s := &cols[i].Vector
		s.prepare(seed, i)
		budget := left / int64(len(cols)-i)
		if budgets != nil {
			budget = budgets[i]
		}
		s.Capacity = (budget - s.fixedSize()) / hnswBytesPerSlot
		s.Capacity = max(s.Capacity, hnswMinCapacity, s.persisted())
		// The second collection has been resized past its files, as the
		// Rust engine leaves an index it grew (research §5).
		s.Grown = i == 1 && s.persisted() > 0
		left -= s.size()
		if err := s.write(ctx, chromaPath, newNoise(seed, chromaNoiseStream+uint64(i))); err != nil {
			return err
		}
	}
	return nil
}

// planCollections decides the collections, their ids and how many embeddings
// each holds and has persisted to its HNSW index. Real indexes are 50-100%
// full (capacity grows in steps), and up to sync_threshold (1000) embeddings
// wait in the queue, not yet persisted.
func planCollections(r *rand.Rand, target int64, n int) []collection {
	perCollection := float64(max(target-estChromaFixed, 0)) / float64(n)
	counts := make([]float64, n)
	var sum float64
	for i := range counts {
		fill := 0.55 + 0.4*r.Float64()
		perVector := estChromaPerEmbedding + hnswBytesPerSlot/fill + hnswBytesPerVector + estPicklePerVector
		counts[i] = perCollection / perVector
		sum += counts[i]
	}
	scale := min(1, maxChromaEmbeddings/max(sum, 1))
	persisted := make([]int, n)
	for i := range persisted {
		persisted[i] = int(counts[i] * scale)
	}
	return makeCollections(r, persisted)
}

// makeCollections draws the ids of one collection per entry of persisted,
// with that many embeddings persisted to its index and up to
// sync_threshold more waiting in the queue.
func makeCollections(r *rand.Rand, persisted []int) []collection {
	cols := make([]collection, len(persisted))
	var seq int64
	for i, p := range persisted {
		pending := r.IntN(min(p/8+5, 999) + 1)
		c := &cols[i]
		c.ID = newUUID(r)
		c.Name = collectionName(i)
		c.MetadataSegment = newUUID(r)
		c.Vector.ID = newUUID(r)
		c.Total = p + pending
		c.FirstSeq = seq + 1
		seq += int64(c.Total)
		c.Vector.IDs = make([]string, p)
		c.Vector.Seqs = make([]int64, p)
	}
	return cols
}

func collectionName(i int) string {
	switch i {
	case 0:
		return "atocore_chunks"
	case 1:
		return "atocore_memories"
	}
	return fmt.Sprintf("atocore_chunks_%02d", i)
}

// writeChromaDB creates chroma.sqlite3 at path in the DELETE journal mode
// Chroma leaves it in, and fills in every collection's embeddings. It records
// the persisted embeddings' ids and sequence ids in cols for the pickles.
func writeChromaDB(ctx context.Context, path string, r *rand.Rand, cols []collection) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	f.Close()
	// Built without a journal (the file is new and removed on failure), then
	// left in Chroma's DELETE mode.
	db, err := sql.Open("sqlite", dsn(path,
		"_pragma=journal_mode(off)", "_pragma=synchronous(off)", "_pragma=cache_size(-32768)"))
	if err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if _, err := db.ExecContext(ctx, chromaSchema); err != nil {
		return fmt.Errorf("create schema in %s: %w", path, err)
	}
	if err := insertChromaSystem(ctx, db, cols); err != nil {
		return fmt.Errorf("populate %s: %w", path, err)
	}
	var rowid int64
	for i := range cols {
		if err := insertEmbeddings(ctx, db, r, &cols[i], &rowid); err != nil {
			return fmt.Errorf("populate %s: collection %s: %w", path, cols[i].Name, err)
		}
	}
	if _, err := db.ExecContext(ctx, "PRAGMA journal_mode=DELETE"); err != nil {
		return fmt.Errorf("set journal mode of %s: %w", path, err)
	}
	if err := db.Close(); err != nil {
		return fmt.Errorf("close %s: %w", path, err)
	}
	return nil
}

// insertChromaSystem writes the system database: migrations, write lock,
// tenant, database, collections and segments, and the queue configuration.
func insertChromaSystem(ctx context.Context, db *sql.DB, cols []collection) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	exec := func(q string, args ...any) {
		if err == nil {
			_, err = tx.ExecContext(ctx, q, args...)
		}
	}
	for _, m := range chromaMigrations() {
		exec("INSERT INTO migrations (dir, version, filename, sql, hash) VALUES (?, ?, ?, ?, ?)",
			m.Dir, m.Version, m.Filename, m.SQL, m.Hash)
	}
	exec("INSERT INTO acquire_write (id, lock_status) VALUES (1, 1)")
	exec("INSERT INTO tenants (id) VALUES (?)", chromaTenant)
	exec("INSERT INTO databases (id, name, tenant_id) VALUES (?, ?, ?)", chromaDatabaseID, chromaDatabase, chromaTenant)
	for _, c := range cols {
		exec("INSERT INTO collections (id, name, dimension, database_id, config_json_str) VALUES (?, ?, ?, ?, '{}')",
			c.ID, c.Name, embeddingDim, chromaDatabaseID)
		exec("INSERT INTO collection_metadata (collection_id, key, str_value) VALUES (?, 'hnsw:space', 'cosine')", c.ID)
		exec("INSERT INTO segments (id, type, scope, collection) VALUES (?, ?, 'METADATA', ?)",
			c.MetadataSegment, segmentTypeMetadata, c.ID)
		exec("INSERT INTO segments (id, type, scope, collection) VALUES (?, ?, 'VECTOR', ?)",
			c.Vector.ID, segmentTypeVector, c.ID)
		last := c.FirstSeq - 1
		if c.Total > 0 {
			exec("INSERT INTO max_seq_id (segment_id, seq_id) VALUES (?, ?)", c.MetadataSegment, last+int64(c.Total))
		}
		// The vector segment's max_seq_id is written with its pickle: only
		// once something is persisted.
		if p := len(c.Vector.IDs); p > 0 {
			exec("INSERT INTO max_seq_id (segment_id, seq_id) VALUES (?, ?)", c.Vector.ID, last+int64(p))
		}
	}
	exec("INSERT INTO embeddings_queue_config (id, config_json_str) VALUES (1, ?)", queueConfigJSON)
	if err != nil {
		return err
	}
	return tx.Commit()
}

// insertEmbeddings adds c's embeddings to the metadata segment (rows,
// metadata, trigram full-text index keyed by the embedding's row id), records the persisted ones in c.Vector, and
// leaves the unpersisted tail in embeddings_queue, as Chroma does between two
// persists of the HNSW index.
func insertEmbeddings(ctx context.Context, db *sql.DB, r *rand.Rand, c *collection, rowid *int64) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	stmts := make([]*sql.Stmt, 0, 4)
	prepare := func(q string) *sql.Stmt {
		if err != nil {
			return nil
		}
		var s *sql.Stmt
		if s, err = tx.PrepareContext(ctx, q); err == nil {
			stmts = append(stmts, s)
		}
		return s
	}
	embStmt := prepare("INSERT INTO embeddings (id, segment_id, embedding_id, seq_id, created_at) VALUES (?, ?, ?, ?, ?)")
	metaStmt := prepare(`INSERT INTO embedding_metadata (id, key, string_value, int_value) VALUES
		(?, 'chroma:document', ?, NULL), (?, 'project', ?, NULL), (?, 'chunk_index', NULL, ?)`)
	queueStmt := prepare(`INSERT INTO embeddings_queue (seq_id, created_at, operation, topic, id, vector, encoding, metadata)
		VALUES (?, ?, 0, ?, ?, ?, 'FLOAT32', ?)`)
	defer func() {
		for _, s := range stmts {
			s.Close()
		}
	}()
	if err != nil {
		return err
	}
	topic := "persistent://" + chromaTenant + "/" + chromaDatabase + "/" + c.ID
	persisted := len(c.Vector.IDs)
	first := *rowid
	var text []byte
	for j := range c.Total {
		if j%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		*rowid++
		id := newUUID(r)
		seq := c.FirstSeq + int64(j)
		created := timestamp(r, 400).Format(timeLayout)
		project := catalogue[r.IntN(len(catalogue))].ID
		index := r.IntN(24)
		text = appendText(text[:0], r, 60+r.IntN(140))
		doc := string(text)
		if _, err := embStmt.ExecContext(ctx, *rowid, c.MetadataSegment, id, seq, created); err != nil {
			return err
		}
		if _, err := metaStmt.ExecContext(ctx, *rowid, doc, *rowid, project, *rowid, index); err != nil {
			return err
		}
		if j < persisted {
			c.Vector.IDs[j], c.Vector.Seqs[j] = id, seq
			continue
		}
		meta, _ := json.Marshal(map[string]any{"chroma:document": doc, "project": project, "chunk_index": index})
		vec := appendEmbedding(nil, r)
		if _, err := queueStmt.ExecContext(ctx, seq, created, topic, id, vec, string(meta)); err != nil {
			return err
		}
	}
	// One statement for the whole collection: FTS5 flushes its pending
	// index at every statement savepoint, so row-by-row inserts would merge
	// segments thousands of times.
	if _, err := tx.ExecContext(ctx, `INSERT INTO embedding_fulltext_search (rowid, string_value)
		SELECT id, string_value FROM embedding_metadata WHERE key = 'chroma:document' AND id > ?`, first); err != nil {
		return fmt.Errorf("index documents: %w", err)
	}
	return tx.Commit()
}
