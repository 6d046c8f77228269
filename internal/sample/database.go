package sample

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// atocoreSchema is the part of the AtoCore server's schema the backup tool
// cares about: the four tables that hold its knowledge.
const atocoreSchema = `
CREATE TABLE projects (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    description TEXT,
    created_at TEXT
);
CREATE TABLE memories (
    id TEXT PRIMARY KEY,
    memory_type TEXT NOT NULL CHECK(memory_type IN ('identity','preference','project','episodic','knowledge','adaptation')),
    content TEXT NOT NULL,
    project TEXT,
    confidence REAL NOT NULL DEFAULT 1.0,
    status TEXT NOT NULL DEFAULT 'active',
    created_at TEXT,
    updated_at TEXT
);
CREATE INDEX idx_memories_project ON memories(project);
CREATE TABLE source_documents (
    id TEXT PRIMARY KEY,
    file_path TEXT NOT NULL,
    file_hash TEXT,
    title TEXT,
    project TEXT,
    ingested_at TEXT,
    updated_at TEXT
);
CREATE TABLE source_chunks (
    id TEXT PRIMARY KEY,
    document_id TEXT NOT NULL REFERENCES source_documents(id),
    chunk_index INTEGER,
    content TEXT,
    heading_path TEXT,
    char_count INTEGER,
    embedding BLOB
);
CREATE INDEX idx_source_chunks_document ON source_chunks(document_id);
`

// dsn builds a modernc.org/sqlite data source name for path. SQLite's own URI
// parameters (mode=rw, ...) need the "file:" form; characters that would end
// the path early are percent-encoded.
func dsn(path string, params ...string) string {
	abs, err := filepath.Abs(path)
	if err != nil {
		abs = path
	}
	r := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23")
	s := "file:" + r.Replace(filepath.ToSlash(abs))
	if len(params) > 0 {
		s += "?" + strings.Join(params, "&")
	}
	return s
}

// openLive opens an existing database the way a second client beside a live
// AtoCore server would: read-write but never creating it, waiting up to five
// seconds for locks. Writers begin IMMEDIATE transactions so that they queue
// on the busy timeout instead of failing to upgrade a read lock. The pool
// holds one connection.
func openLive(ctx context.Context, path string, write bool) (*sql.DB, error) {
	params := []string{"mode=rw", "_pragma=busy_timeout(5000)"}
	if write {
		params = append(params, "_txlock=immediate")
	}
	db, err := sql.Open("sqlite", dsn(path, params...))
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return db, nil
}
