package sample

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

// textSchema is ShapeText's database: AtoCore's four tables and their
// columns, with integer keys (rowid tables, no index b-tree per key),
// the documents' full text in source_documents.content, and five
// secondary indexes.
const textSchema = `
CREATE TABLE projects (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    description TEXT,
    created_at TEXT
);
CREATE TABLE memories (
    id INTEGER PRIMARY KEY,
    memory_type TEXT NOT NULL CHECK(memory_type IN ('identity','preference','project','episodic','knowledge','adaptation')),
    content TEXT NOT NULL,
    project TEXT,
    confidence REAL NOT NULL DEFAULT 1.0,
    status TEXT NOT NULL DEFAULT 'active',
    created_at TEXT,
    updated_at TEXT
);
CREATE INDEX idx_memories_project ON memories(project);
CREATE INDEX idx_memories_type_status ON memories(memory_type, status);
CREATE TABLE source_documents (
    id INTEGER PRIMARY KEY,
    file_path TEXT NOT NULL,
    file_hash TEXT,
    title TEXT,
    project TEXT,
    ingested_at TEXT,
    updated_at TEXT,
    content TEXT
);
CREATE INDEX idx_source_documents_project ON source_documents(project);
CREATE INDEX idx_source_documents_path ON source_documents(file_path);
CREATE TABLE source_chunks (
    id INTEGER PRIMARY KEY,
    document_id INTEGER NOT NULL REFERENCES source_documents(id),
    chunk_index INTEGER,
    content TEXT,
    heading_path TEXT,
    char_count INTEGER,
    embedding BLOB
);
CREATE INDEX idx_source_chunks_document ON source_chunks(document_id, chunk_index);
`

// ShapeText row sizes: chunks of 350-1,100 characters, 1 to 31 chunks a
// document (16 on average), and 100,000 memories per GiB of database.
const (
	textChunkMin      = 350
	textChunkMax      = 1100
	textMaxChunks     = 31
	textMemoriesPerGi = 100000
)

// populateTextDB is populateDB for ShapeText: it creates textSchema in the
// empty file at path, adds the projects, the memories and then documents
// until the file is about target bytes, runs ANALYZE and leaves the
// database in WAL mode, checkpointed and closed.
func populateTextDB(ctx context.Context, path string, target int64, nProjects int, seed int64) (Counts, error) {
	return load(ctx, path, target, nProjects, seed, loadSpec{
		schema: textSchema, memories: int(max(40, target*textMemoriesPerGi/(1<<30))), key: intKey,
		next: (*corpus).nextTextDocument, insert: insertTextBatch, analyze: true,
	})
}

// nextTextDocument returns the next ShapeText document: its chunks are
// its full text, cut at paragraph boundaries. The ids are left to the
// insert (integer keys in order).
func (c *corpus) nextTextDocument() document {
	r := c.r
	p := c.projects[r.IntN(len(c.projects))]
	title := titleWords(r, 2+r.IntN(4))
	file := strings.Join([]string{sourceRoot, "vault", p.ID, vaultFolders[r.IntN(len(vaultFolders))],
		slug(r, 2+r.IntN(3)) + extensions[r.IntN(len(extensions))]}, "/")
	ingested := timestamp(r, 400)
	d := document{
		Path:     file,
		Title:    title,
		Project:  p.ID,
		Ingested: ingested.Format(timeLayout),
		Updated:  later(ingested, r, 30).Format(timeLayout),
		Chunks:   make([]chunk, 1+r.IntN(textMaxChunks)),
	}
	var full strings.Builder
	section := sections[r.IntN(len(sections))]
	for i := range d.Chunks {
		if r.IntN(3) == 0 {
			section = sections[r.IntN(len(sections))]
		}
		text := appendText(nil, r, textChunkMin+r.IntN(textChunkMax-textChunkMin-20))
		if len(text) > textChunkMax {
			text = append(text[:textChunkMax-1], '.')
		}
		if i > 0 {
			full.WriteString("\n\n")
		}
		full.Write(text)
		d.Chunks[i] = chunk{
			Index:     i,
			Content:   string(text),
			Heading:   title + " > " + section,
			Embedding: appendEmbedding(make([]byte, 0, 4*embeddingDim), r),
		}
	}
	d.Text = full.String()
	d.Hash = sha256Hex(d.Text)
	return d
}

// insertTextBatch inserts n documents from docs in one transaction, with
// the next integer keys.
func insertTextBatch(ctx context.Context, db *sql.DB, docs <-chan document, n int, counts *Counts) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	docStmt, err := tx.PrepareContext(ctx, `INSERT INTO source_documents
		(id, file_path, file_hash, title, project, ingested_at, updated_at, content)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`)
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
	docID, chunkID := int64(counts.Documents), int64(counts.Chunks)
	for range n {
		var d document
		select {
		case d = <-docs:
		case <-ctx.Done():
			return ctx.Err()
		}
		docID++
		if _, err := docStmt.ExecContext(ctx, docID, d.Path, d.Hash, d.Title, d.Project, d.Ingested, d.Updated, d.Text); err != nil {
			return fmt.Errorf("insert document %d: %w", docID, err)
		}
		for _, ch := range d.Chunks {
			chunkID++
			if _, err := chunkStmt.ExecContext(ctx, chunkID, docID, ch.Index, ch.Content, ch.Heading,
				len(ch.Content), ch.Embedding); err != nil {
				return fmt.Errorf("insert chunk %d: %w", chunkID, err)
			}
		}
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	counts.Documents = int(docID)
	counts.Chunks = int(chunkID)
	return nil
}
