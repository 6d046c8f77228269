// Command gen writes a sample AtoCore root of a chosen size for the
// benchmarks in bench/ (see bench/snapshot.sh):
//
//	go run ./bench/gen -dir /var/tmp/root -db-mib 1024 -chroma-mib 1024 -segments 20
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
	segments := flag.Int("segments", 20, "number of Chroma vector segments")
	seed := flag.Int64("seed", 1, "seed: the same flags give the same bytes")
	flag.Parse()
	if *dir == "" || flag.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "usage: gen -dir DIR [-db-mib N] [-chroma-mib M] [-segments S] [-seed N]")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	chroma := *chromaMiB << 20
	if *chromaMiB < 0 {
		chroma = -1
	}
	start := time.Now()
	root, err := sample.Generate(ctx, *dir, sample.Options{DBBytes: *dbMiB << 20, ChromaBytes: chroma, Segments: *segments, Seed: *seed})
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
	fmt.Printf("memories %d\nchunks %d\n", root.Counts.Memories, root.Counts.Chunks)
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
