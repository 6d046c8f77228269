package sample

import (
	"crypto/md5"
	"encoding/hex"
	"fmt"
)

// chromaSchema is the final schema of a Chroma 1.x chroma.sqlite3 (sysdb
// migration 10, metadb 6, embeddings_queue 2), written in its end state
// rather than replayed migration by migration.
const chromaSchema = `
CREATE TABLE migrations (
    dir TEXT NOT NULL,
    version INTEGER NOT NULL,
    filename TEXT NOT NULL,
    sql TEXT NOT NULL,
    hash TEXT NOT NULL,
    PRIMARY KEY (dir, version)
);
CREATE TABLE acquire_write (
    id INTEGER PRIMARY KEY,
    lock_status INTEGER NOT NULL
);
CREATE TABLE tenants (
    id TEXT PRIMARY KEY,
    resource_name TEXT,
    UNIQUE (id)
);
CREATE TABLE databases (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    UNIQUE (tenant_id, name)
);
CREATE TABLE collections (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    dimension INTEGER,
    database_id TEXT NOT NULL REFERENCES databases(id) ON DELETE CASCADE,
    config_json_str TEXT,
    schema_str TEXT,
    UNIQUE (name, database_id)
);
CREATE TABLE collection_metadata (
    collection_id TEXT REFERENCES collections(id) ON DELETE CASCADE,
    key TEXT NOT NULL,
    str_value TEXT,
    int_value INTEGER,
    float_value REAL,
    bool_value INTEGER,
    PRIMARY KEY (collection_id, key)
);
CREATE TABLE segments (
    id TEXT PRIMARY KEY,
    type TEXT NOT NULL,
    scope TEXT NOT NULL,
    collection TEXT REFERENCES collections(id) NOT NULL
);
CREATE TABLE segment_metadata (
    segment_id TEXT REFERENCES segments(id) ON DELETE CASCADE,
    key TEXT NOT NULL,
    str_value TEXT,
    int_value INTEGER,
    float_value REAL,
    bool_value INTEGER,
    PRIMARY KEY (segment_id, key)
);
CREATE TABLE maintenance_log (
    id INT PRIMARY KEY,
    timestamp INT NOT NULL,
    operation TEXT NOT NULL
);
CREATE TABLE embeddings (
    id INTEGER PRIMARY KEY,
    segment_id TEXT NOT NULL,
    embedding_id TEXT NOT NULL,
    seq_id INTEGER NOT NULL,
    created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    UNIQUE (segment_id, embedding_id)
);
CREATE TABLE embedding_metadata (
    id INTEGER REFERENCES embeddings(id),
    key TEXT NOT NULL,
    string_value TEXT,
    int_value INTEGER,
    float_value REAL,
    bool_value INTEGER,
    PRIMARY KEY (id, key)
);
CREATE INDEX embedding_metadata_int_value ON embedding_metadata (key, int_value) WHERE int_value IS NOT NULL;
CREATE INDEX embedding_metadata_float_value ON embedding_metadata (key, float_value) WHERE float_value IS NOT NULL;
CREATE INDEX embedding_metadata_string_value ON embedding_metadata (key, string_value) WHERE string_value IS NOT NULL;
CREATE INDEX embedding_metadata_bool_value ON embedding_metadata (key, bool_value) WHERE bool_value IS NOT NULL;
CREATE TABLE embedding_metadata_array (
    id INTEGER NOT NULL REFERENCES embeddings(id),
    key TEXT NOT NULL,
    string_value TEXT,
    int_value INTEGER,
    float_value REAL,
    bool_value INTEGER
);
CREATE INDEX embedding_metadata_array_id_key ON embedding_metadata_array (id, key);
CREATE INDEX embedding_metadata_array_key_string ON embedding_metadata_array (key, string_value) WHERE string_value IS NOT NULL;
CREATE INDEX embedding_metadata_array_key_int ON embedding_metadata_array (key, int_value) WHERE int_value IS NOT NULL;
CREATE INDEX embedding_metadata_array_key_float ON embedding_metadata_array (key, float_value) WHERE float_value IS NOT NULL;
CREATE VIRTUAL TABLE embedding_fulltext_search USING fts5(string_value, tokenize='trigram');
CREATE TABLE max_seq_id (
    segment_id TEXT PRIMARY KEY,
    seq_id INTEGER NOT NULL
);
CREATE TABLE embeddings_queue (
    seq_id INTEGER PRIMARY KEY,
    created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    operation INTEGER NOT NULL,
    topic TEXT NOT NULL,
    id TEXT NOT NULL,
    vector BLOB,
    encoding TEXT,
    metadata TEXT
);
CREATE TABLE embeddings_queue_config (
    id INTEGER PRIMARY KEY,
    config_json_str TEXT
);
`

// migration is one row of chroma.sqlite3's migrations table.
type migration struct {
	Dir      string
	Version  int
	Filename string
	SQL      string
	Hash     string // md5 of SQL, as Chroma records it
}

// chromaMigrations lists the migrations a Chroma 1.5 database has applied.
// The SQL text is a stand-in; only the bookkeeping matters to a backup.
func chromaMigrations() []migration {
	files := []struct {
		dir   string
		names []string
	}{
		{"embeddings_queue", []string{"embeddings", "embeddings-queue-config"}},
		{"sysdb", []string{"collections", "segments", "collection-dimension", "tenants-databases",
			"remove-topic", "collection-segment-metadata", "collection-config", "maintenance-log",
			"segment-collection-not-null", "collection-schema"}},
		{"metadb", []string{"embedding-metadata", "embedding-metadata-cascade", "full-text-tokenize",
			"metadata-indices", "max-seq-id-int", "metadata-array-support"}},
	}
	var ms []migration
	for _, f := range files {
		for i, name := range f.names {
			filename := fmt.Sprintf("%05d-%s.sqlite.sql", i+1, name)
			sql := "-- " + f.dir + "/" + filename + " (synthetic)\n"
			sum := md5.Sum([]byte(sql))
			ms = append(ms, migration{f.dir, i + 1, filename, sql, hex.EncodeToString(sum[:])})
		}
	}
	return ms
}
