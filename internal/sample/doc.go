// Package sample generates realistic AtoCore roots for the demo command, for
// the tests of the other packages and for benchmarks.
//
// A root has the layout of a production AtoCore installation:
//
//	<dir>/data/db/atocore.db              SQLite, WAL mode: projects, memories,
//	                                      source_documents, source_chunks (with
//	                                      384-dimension float32 embeddings)
//	<dir>/config/project-registry.json    {"version":1,"projects":[...]}
//	<dir>/data/chroma/chroma.sqlite3      Chroma 1.x system and metadata DB
//	                                      (DELETE journal mode)
//	<dir>/data/chroma/<segment-uuid>/     one HNSW vector segment per collection:
//	                                      header.bin, data_level0.bin, length.bin,
//	                                      link_lists.bin, index_metadata.pickle
//	<dir>/backups/                        not created
//
// Options.Shape picks the kind of root (see Shape): ShapeRandom (the
// default: UUID keys, small chroma.sqlite3, equal segments), ShapeText
// (integer keys, documents with full text, 350-1,100-character chunks, five
// indexes, ANALYZE; chroma.sqlite3 a tenth of Chroma, ~42 MiB segments) and
// ShapeMany (300 small collections beside the database).
//
// Everything is derived from Options.Seed, so two roots generated with the same
// Options have the same rows (equal Fingerprint) and the same Chroma files.
// The zero Options make a root of a few MiB in a fraction of a second; sizes of
// several GiB are for benchmarks:
//
//	root, err := sample.Generate(ctx, t.TempDir(), sample.Options{})
//	...
//	before, _ := sample.Fingerprint(ctx, root.DBPath)
//	id, _ := sample.InsertMemory(ctx, root.DBPath, sample.Memory{Content: "DRILL-MARKER", Project: "drill"})
//
// The helpers that modify a root (InsertMemory, ChangeRows, ChangeChroma) work
// on a live root, as the AtoCore server and Chroma would, so that tests can
// write while a backup runs and benchmarks can measure incremental copies.
// Database helpers open the file with a busy timeout and never create it.
package sample
