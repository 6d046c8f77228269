package sample

import (
	"context"
	"database/sql"
	"fmt"
)

// Generation tuning. A document averages about 8.5 chunks of ~2.5 KB each.
const (
	firstBatchDocs = 16   // documents in the first batch, before the size per document is measured
	maxBatchDocs   = 2000 // about 50 MB per transaction
	docStream      = 0x646f6373
)

// populateDB creates the AtoCore tables in the empty file at path and fills
// them until the file is about target bytes. It leaves the database in WAL
// mode, checkpointed and closed.
//
// The bulk load runs with journal_mode=OFF and synchronous=OFF: the file is
// new and is deleted on failure, so a rollback journal or WAL would only
// double the writes. The database is switched to WAL once it is full.
func populateDB(ctx context.Context, path string, target int64, nProjects int, seed int64) (Counts, error) {
	return load(ctx, path, target, nProjects, seed, loadSpec{
		schema: atocoreSchema, memories: memoryCount(target), key: uuidKey,
		next: (*corpus).nextDocument, insert: insertBatch,
	})
}

// loadSpec is what one shape's database is made of: the rest of the load
// is shared.
type loadSpec struct {
	schema   string
	memories int
	key      memoryKey
	next     func(*corpus) document // the next document of the stream
	insert   func(ctx context.Context, db *sql.DB, docs <-chan document, n int, counts *Counts) error
	analyze  bool // run ANALYZE once the file is full
}

// load creates spec's schema in the empty file at path, adds the
// projects, the memories and then documents until the file is about
// target bytes, and leaves the database in WAL mode, checkpointed and
// closed.
func load(ctx context.Context, path string, target int64, nProjects int, seed int64, spec loadSpec) (Counts, error) {
	var counts Counts
	db, err := sql.Open("sqlite", dsn(path,
		"_pragma=journal_mode(off)", "_pragma=synchronous(off)", "_pragma=cache_size(-65536)"))
	if err != nil {
		return counts, fmt.Errorf("open %s: %w", path, err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)

	if _, err := db.ExecContext(ctx, spec.schema); err != nil {
		return counts, fmt.Errorf("create schema in %s: %w", path, err)
	}
	projects := projectRows(nProjects)
	c := newCorpus(seed, docStream, projects)
	if err := insertBase(ctx, db, c, projects, spec.memories, &counts, spec.key); err != nil {
		return counts, fmt.Errorf("populate %s: %w", path, err)
	}
	streamCtx, stopStream := context.WithCancel(ctx)
	defer stopStream()
	docs := streamDocuments(streamCtx, func() document { return spec.next(c) })
	if err := fillTo(ctx, db, target, &counts, func(n int) error { return spec.insert(ctx, db, docs, n, &counts) }); err != nil {
		return counts, fmt.Errorf("populate %s: %w", path, err)
	}
	if spec.analyze {
		if _, err := db.ExecContext(ctx, "ANALYZE"); err != nil {
			return counts, fmt.Errorf("analyze %s: %w", path, err)
		}
	}
	if _, err := db.ExecContext(ctx, "PRAGMA journal_mode=WAL"); err != nil {
		return counts, fmt.Errorf("switch %s to WAL: %w", path, err)
	}
	if err := db.Close(); err != nil {
		return counts, fmt.Errorf("close %s: %w", path, err)
	}
	return counts, nil
}

// memoryCount scales the number of memories with the database: a real
// AtoCore accumulates memories as it ingests.
func memoryCount(target int64) int {
	return int(min(40+target/(16<<10), 200000))
}

// A memoryKey gives the i-th memory (from 0) its id: its UUID for the
// random shape, i+1 for the integer keys of ShapeText.
type memoryKey func(i int, m memoryRow) any

func uuidKey(_ int, m memoryRow) any { return m.ID }
func intKey(i int, _ memoryRow) any  { return int64(i + 1) }

// insertBase inserts the projects and memories in one transaction.
func insertBase(ctx context.Context, db *sql.DB, c *corpus, projects []project, nMemories int, counts *Counts, key memoryKey) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for i, p := range projects {
		created := epoch.AddDate(0, 0, -30*(len(projects)-i)).Format(timeLayout)
		if _, err := tx.ExecContext(ctx,
			"INSERT INTO projects (id, name, description, created_at) VALUES (?, ?, ?, ?)",
			p.ID, p.Name, p.Description, created); err != nil {
			return fmt.Errorf("insert project %s: %w", p.ID, err)
		}
	}
	st, err := tx.PrepareContext(ctx, `INSERT INTO memories
		(id, memory_type, content, project, confidence, status, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return err
	}
	defer st.Close()
	for i := range nMemories {
		m := c.nextMemory()
		if _, err := st.ExecContext(ctx, key(i, m), m.Type, m.Content, m.Project, m.Confidence,
			m.Status, m.Created, m.Updated); err != nil {
			return fmt.Errorf("insert memory: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	counts.Projects = len(projects)
	counts.Memories = nMemories
	return nil
}

// streamDocuments generates documents with next in a second goroutine, so
// that the next ones are ready while SQLite inserts the previous ones; the
// stream is the same whatever the batch boundaries. It stops when ctx ends.
func streamDocuments(ctx context.Context, next func() document) <-chan document {
	docs := make(chan document, 64)
	go func() {
		defer close(docs)
		for {
			d := next()
			select {
			case docs <- d:
			case <-ctx.Done():
				return
			}
		}
	}()
	return docs
}

// fillTo calls insert with batches of documents until the database reaches
// target bytes. After each batch it measures the file and sizes the next
// batch to close most of the remaining gap, so that small and large targets
// both land close without a calibration constant. insert adds n documents
// and counts them in counts.
func fillTo(ctx context.Context, db *sql.DB, target int64, counts *Counts, insert func(n int) error) error {
	var pageSize int64
	if err := db.QueryRowContext(ctx, "PRAGMA page_size").Scan(&pageSize); err != nil {
		return err
	}
	size := func() (int64, error) {
		var pages int64
		err := db.QueryRowContext(ctx, "PRAGMA page_count").Scan(&pages)
		return pages * pageSize, err
	}
	base, err := size()
	if err != nil {
		return err
	}
	done := counts.Documents
	cur, batch := base, firstBatchDocs
	for {
		if err := insert(batch); err != nil {
			return err
		}
		if cur, err = size(); err != nil {
			return err
		}
		perDoc := max((cur-base)/int64(counts.Documents-done), 1)
		remaining := target - cur
		if remaining < perDoc/2 {
			return nil
		}
		// Aim for 80% of the gap: the estimate improves as the gap closes.
		batch = int(min(max(remaining*4/5/perDoc, 1), maxBatchDocs))
	}
}

// insertBatch inserts n documents from docs in one transaction.
func insertBatch(ctx context.Context, db *sql.DB, docs <-chan document, n int, counts *Counts) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	docStmt, err := tx.PrepareContext(ctx, `INSERT INTO source_documents
		(id, file_path, file_hash, title, project, ingested_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return err
	}
	defer docStmt.Close()
	chunkStmt, err := tx.PrepareContext(ctx, `INSERT INTO source_chunks
		(id, document_id, chunk_index, content, heading_path, char_count, embedding)
		VALUES (?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return err
	}
	defer chunkStmt.Close()
	chunks := 0
	for range n {
		var d document
		select {
		case d = <-docs:
		case <-ctx.Done():
			return ctx.Err()
		}
		if _, err := docStmt.ExecContext(ctx, d.ID, d.Path, d.Hash, d.Title, d.Project, d.Ingested, d.Updated); err != nil {
			return fmt.Errorf("insert document %s: %w", d.ID, err)
		}
		for _, ch := range d.Chunks {
			if _, err := chunkStmt.ExecContext(ctx, ch.ID, d.ID, ch.Index, ch.Content, ch.Heading,
				len(ch.Content), ch.Embedding); err != nil {
				return fmt.Errorf("insert chunk %s: %w", ch.ID, err)
			}
		}
		chunks += len(d.Chunks)
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	counts.Documents += n
	counts.Chunks += chunks
	return nil
}
