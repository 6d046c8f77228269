// Package chromaindex checks the files of a persisted Chroma vector segment
// (chroma-hnswlib's header.bin, data_level0.bin, length.bin, link_lists.bin
// and Chroma's index_metadata.pickle) against each other and against the
// collection's dimension, as Chroma 0.4-1.x write them. It reads hostile
// bytes without panicking and with bounded memory; validate calls it:
//
//	err := chromaindex.CheckIndex(ctx, open, dim, sizes, quick)
//
// It links no SQLite, so its fuzz target runs at full speed.
package chromaindex
