// Command gen writes a sample AtoCore root of a chosen size for the
// benchmarks in bench/ (see bench/snapshot.sh):
//
//	go run ./bench/gen -dir /var/tmp/root -db-mib 1024 -chroma-mib 1024 -segments 20
//	go run ./bench/gen -dir /var/tmp/text -shape text -db-mib 1024 -chroma-mib 1024
//
// -shape picks the kind of root (internal/sample's Shape): random (the
// default: random keys, many indexes), text (text-heavy chunks with
// embeddings, integer keys, few indexes, ~42 MiB segments) or many (300
// small Chroma collections beside the database). -segments 0 lets the
// shape choose: 20 for random, one per ~42 MiB for text, 300 for many.
//
// It prints the sizes it wrote, one "name bytes" pair a line, so that a
// script can read them back.
package main

import (
	"context"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/atocore/atocore-backup/internal/sample"
)

func main() {
	dir := flag.String("dir", "", "directory to write the AtoCore root into (required; its database, registry and Chroma directory must not exist)")
	dbMiB := flag.Int64("db-mib", 1024, "approximate size of atocore.db in MiB")
	chromaMiB := flag.Int64("chroma-mib", 1024, "approximate size of the Chroma directory in MiB; negative for none")
	segments := flag.Int("segments", 0, "number of Chroma vector segments; 0 for the shape's own (20 for random, one per ~42 MiB for text, 300 for many)")
	seed := flag.Int64("seed", 1, "seed: the same flags give the same bytes")
	shapeName := flag.String("shape", "random", "kind of root: random, text or many")
	flag.Parse()
	if *dir == "" || flag.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "usage: gen -dir DIR [-shape random|text|many] [-db-mib N] [-chroma-mib M] [-segments S] [-seed N]")
		os.Exit(2)
	}
	shape, err := sample.ParseShape(*shapeName)
	if err != nil {
		fmt.Fprintf(os.Stderr, "gen: -shape: %v\n", err)
		os.Exit(2)
	}
	if *segments < 0 {
		fmt.Fprintf(os.Stderr, "gen: -segments %d: want 0 (the shape's own) or more\n", *segments)
		os.Exit(2)
	}
	if *segments == 0 && shape == sample.ShapeRandom {
		*segments = randomSegments
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	chroma := *chromaMiB << 20
	if *chromaMiB < 0 {
		chroma = -1
	}
	start := time.Now()
	root, err := sample.Generate(ctx, *dir, sample.Options{DBBytes: *dbMiB << 20, ChromaBytes: chroma, Segments: *segments, Seed: *seed, Shape: shape})
	if err != nil {
		fmt.Fprintf(os.Stderr, "gen: %v\n", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "gen: wrote %s in %s\n", root.Dir, time.Since(start).Round(time.Millisecond))

	dbBytes, _ := treeSize(root.DBPath)
	regBytes, _ := treeSize(root.RegistryPath)
	chromaBytes, chromaFiles := treeSize(root.ChromaPath)
	fmt.Printf("root %s\n", root.Dir)
	fmt.Printf("db_bytes %d\n", dbBytes)
	fmt.Printf("registry_bytes %d\n", regBytes)
	fmt.Printf("chroma_bytes %d\n", chromaBytes)
	fmt.Printf("chroma_files %d\n", chromaFiles)
	fmt.Printf("segments %d\n", segmentCount(root.ChromaPath))
	fmt.Printf("memories %d\nchunks %d\n", root.Counts.Memories, root.Counts.Chunks)
	fmt.Printf("documents %d\n", root.Counts.Documents)
}

// randomSegments is the random shape's segment count when -segments is 0,
// as before the shapes existed (the library's own default is 2).
const randomSegments = 20

// segmentCount counts the segment directories of a Chroma directory.
func segmentCount(chroma string) int {
	entries, _ := os.ReadDir(chroma)
	n := 0
	for _, e := range entries {
		if e.IsDir() {
			n++
		}
	}
	return n
}

// treeSize returns the bytes and regular files under p (a file or a
// directory); a missing p is 0, 0.
func treeSize(p string) (bytes int64, files int) {
	_ = filepath.WalkDir(p, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return nil
		}
		if fi, err := d.Info(); err == nil {
			bytes += fi.Size()
			files++
		}
		return nil
	})
	return bytes, files
}
