package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/atocore/atocore-backup/internal/sample"
)

// Bounds on the flags, so that a typo cannot start a week-long run.
const (
	maxSizeMiB = 65536
	maxRuns    = 50
)

// config is the parsed command line.
type config struct {
	sizes    []int    // MiB of database and of Chroma, each, in increasing order
	shapes   []string // dataset shapes (internal/sample), in the order given
	segments int      // of the random shape; 0 for its default, 20
	runs     []int    // runs per size, in the order of sizes
	work     string   // "" for a new directory under /var/tmp
	keep     bool
	out      string
	tools    []string // chosen tools, ours first
	ops      []op
	opsAll   bool // -ops all: operations whose server is missing are left out, not refused
	timeout  time.Duration
	plotOnly bool
	repo     string // the module root
	ours     string // an atocore-backup binary to measure instead of building one
}

const usageHead = `compare: time atocore-backup against sqlite3+cp, rsync, restic and borg.

Usage: go run ./bench/compare [flags]

Writes OUT/results.json, OUT/results.md and OUT/compare.svg. Installs
nothing: missing peer tools are skipped. Needs free disk in the work
directory of about 16 times the largest size (8 times its data, database
plus Chroma), and checks it first.

Flags:
`

// parseConfig reads the flags. It returns flag.ErrHelp for -h.
func parseConfig(args []string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("compare", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usageHead)
		fs.PrintDefaults()
	}
	sizes := fs.String("sizes", "1024", "comma-separated sizes in MiB; each is the size of the database and of the Chroma directory (so 1024 is 2 GiB of data)")
	fs.IntVar(&c.segments, "segments", 0, "Chroma vector segments of the random shape's roots; 0 for 20 (the text and many shapes choose their own: one per ~42 MiB, 300)")
	shapes := fs.String("shapes", "random", "comma-separated dataset shapes: random (random keys, many indexes), text (text-heavy chunks, integer keys, ~42 MiB segments), many (300 small Chroma collections); each is reported separately")
	runs := fs.String("runs", "3", "runs of every operation per size, or a comma-separated list with one count per size (3,3,1); the report gives medians")
	fs.StringVar(&c.work, "work", "", "work directory (default: a new directory under /var/tmp, removed at exit unless -keep)")
	fs.BoolVar(&c.keep, "keep", false, "keep the work directory (generated roots and command logs) at exit")
	fs.StringVar(&c.out, "out", "", "output directory (default: bench/out/compare in the module)")
	tools := fs.String("tools", "all", "comma-separated tools: "+strings.Join(toolNames(), ",")+" (ours is always measured)")
	ops := fs.String("ops", "all", "comma-separated operations: "+joinOps(allOps))
	fs.DurationVar(&c.timeout, "timeout", 30*time.Minute, "limit for each timed command")
	fs.BoolVar(&c.plotOnly, "plot-only", false, "only write results.md and compare.svg again from OUT/results.json")
	fs.StringVar(&c.repo, "repo", "", "the atocore-backup module's directory (default: found from the current directory)")
	fs.StringVar(&c.ours, "ours", os.Getenv("ATOCORE_COMPARE_OURS"), "the atocore-backup binary to measure (env ATOCORE_COMPARE_OURS; default: built from the module); bench/gen and bench/change are built from the module either way")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected argument %q; every option is a flag (run with -h)", fs.Arg(0))
	}
	var err error
	if c.sizes, err = parseSizes(*sizes); err != nil {
		return c, err
	}
	if c.tools, err = parseTools(*tools); err != nil {
		return c, err
	}
	if c.ops, c.opsAll, err = parseOps(*ops); err != nil {
		return c, err
	}
	if c.segments == 0 {
		c.segments = defaultSegments
	}
	if c.segments < 1 || c.segments > 10000 {
		return c, fmt.Errorf("-segments %d: want 1 to 10000", c.segments)
	}
	if c.shapes, err = parseShapes(*shapes); err != nil {
		return c, err
	}
	if c.runs, err = parseRuns(*runs, len(c.sizes)); err != nil {
		return c, err
	}
	if c.timeout < time.Second {
		return c, fmt.Errorf("-timeout %s: want at least 1s", c.timeout)
	}
	if c.repo == "" {
		if c.repo, err = findModule(); err != nil {
			return c, err
		}
	}
	if c.ours != "" {
		if c.ours, err = filepath.Abs(c.ours); err != nil {
			return c, err
		}
		if fi, err := os.Stat(c.ours); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
			return c, fmt.Errorf("-ours %s: not an executable file", c.ours)
		}
	}
	if c.out == "" {
		c.out = filepath.Join(c.repo, "bench", "out", "compare")
	}
	if c.out, err = filepath.Abs(c.out); err != nil {
		return c, err
	}
	if c.work != "" {
		if c.work, err = filepath.Abs(c.work); err != nil {
			return c, err
		}
		if strings.ContainsAny(c.work, " \t\n'\"\\$`") {
			return c, fmt.Errorf("-work %q: the path goes into ssh command lines; pick one without spaces, quotes or shell characters", c.work)
		}
	}
	return c, nil
}

// defaultSegments is the random shape's segment count when -segments is 0.
const defaultSegments = 20

// parseShapes reads -shapes: shape names without duplicates, in the order
// given.
func parseShapes(s string) ([]string, error) {
	var shapes []string
	for _, f := range strings.Split(s, ",") {
		sh, err := sample.ParseShape(f)
		if err != nil || strings.TrimSpace(f) == "" {
			return nil, fmt.Errorf("-shapes: %q is not a shape; use a comma-separated subset of random,text,many", f)
		}
		if !slices.Contains(shapes, string(sh)) {
			shapes = append(shapes, string(sh))
		}
	}
	return shapes, nil
}

// parseSizes reads -sizes: positive MiB counts, returned sorted and
// without duplicates.
func parseSizes(s string) ([]int, error) {
	seen := map[int]bool{}
	var sizes []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > maxSizeMiB {
			return nil, fmt.Errorf("-sizes: %q is not a size; give whole MiB from 1 to %d, comma-separated (e.g. 256,1024,4096)", f, maxSizeMiB)
		}
		if !seen[n] {
			seen[n] = true
			sizes = append(sizes, n)
		}
	}
	sortInts(sizes)
	return sizes, nil
}

func sortInts(a []int) {
	for i := 1; i < len(a); i++ {
		for j := i; j > 0 && a[j] < a[j-1]; j-- {
			a[j], a[j-1] = a[j-1], a[j]
		}
	}
}

// findModule walks up from the current directory to the go.mod of
// github.com/atocore/atocore-backup.
func findModule() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for range 64 { // bounded: a path has far fewer components
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.Contains(string(b), "module github.com/atocore/atocore-backup\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			break
		}
		dir = parent
	}
	return "", errors.New("cannot find the atocore-backup module above the current directory; run from inside the repository or pass -repo DIR")
}

// parseRuns reads -runs: one count for every size, or one per size.
func parseRuns(s string, sizes int) ([]int, error) {
	parts := strings.Split(s, ",")
	if len(parts) != 1 && len(parts) != sizes {
		return nil, fmt.Errorf("-runs %q: give one count, or one per size (%d)", s, sizes)
	}
	var runs []int
	for _, p := range parts {
		n, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil || n < 1 || n > maxRuns {
			return nil, fmt.Errorf("-runs %q: want whole numbers from 1 to %d", s, maxRuns)
		}
		runs = append(runs, n)
	}
	for len(runs) < sizes {
		runs = append(runs, runs[0])
	}
	return runs, nil
}
