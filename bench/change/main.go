// Command change modifies a generated AtoCore root the way a day of use
// does, for incremental benchmarks: a fraction of the Chroma segment bytes
// (whole segments first) and a fraction of the database rows.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/atocore/atocore-backup/internal/sample"
)

func main() {
	dir := flag.String("dir", "", "AtoCore root made by bench/gen")
	chroma := flag.Float64("chroma", 0.05, "fraction of Chroma segment bytes to rewrite")
	rows := flag.Float64("rows", 0, "fraction of chunk rows to update")
	seed := flag.Int64("seed", 1, "seed (use a new one each round)")
	flag.Parse()
	if *dir == "" {
		fmt.Fprintln(os.Stderr, "change: -dir is required")
		os.Exit(2)
	}
	ctx := context.Background()
	var changed int64
	if *chroma > 0 {
		n, err := sample.ChangeChroma(ctx, filepath.Join(*dir, "data", "chroma"), *chroma, *seed)
		if err != nil {
			fmt.Fprintln(os.Stderr, "change:", err)
			os.Exit(1)
		}
		changed = n
	}
	var nrows int
	if *rows > 0 {
		n, err := sample.ChangeRows(ctx, filepath.Join(*dir, "data", "db", "atocore.db"), *rows, *seed)
		if err != nil {
			fmt.Fprintln(os.Stderr, "change:", err)
			os.Exit(1)
		}
		nrows = n
	}
	fmt.Printf("chroma_bytes_changed=%d rows_changed=%d\n", changed, nrows)
}
