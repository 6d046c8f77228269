package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/atocore/atocore-backup/internal/sample"
)

// bench runs the comparison and collects its results.
type bench struct {
	cfg      config
	log      io.Writer
	work     string
	bins     binaries
	tools    []string  // the tools that run, ours first
	net      *network  // nil without push operations
	s3       *s3Server // nil without S3 operations
	r        *runner
	res      *results
	failures int
	// dropCaches: empty the page cache before each timed command (root
	// only; see warmFor).
	dropCaches bool
}

// binaries are the programs built from the module.
type binaries struct{ ours, gen, change string }

// say prints one progress line on stderr.
func (b *bench) say(format string, args ...any) {
	fmt.Fprintf(b.log, "compare: "+format+"\n", args...)
}

// build compiles ours, bench/gen and bench/change into dir, without cgo.
// A given ours (-ours) is used as it is.
func build(ctx context.Context, repo, dir, ours string) (binaries, error) {
	bins := binaries{
		ours:   filepath.Join(dir, "atocore-backup"),
		gen:    filepath.Join(dir, "gen"),
		change: filepath.Join(dir, "change"),
	}
	pkgs := map[string]string{"./examples/atocore-backup": bins.ours, "./bench/gen": bins.gen, "./bench/change": bins.change}
	if ours != "" {
		bins.ours = ours
		delete(pkgs, "./examples/atocore-backup")
	}
	for pkg, out := range pkgs {
		cmd := exec.CommandContext(ctx, "go", "build", "-o", out, pkg)
		cmd.Dir = repo
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if b, err := cmd.CombinedOutput(); err != nil {
			return bins, fmt.Errorf("go build %s in %s: %v: %s", pkg, repo, err, tailLines(b, 3))
		}
	}
	return bins, nil
}

// diskNeedMiB estimates the peak disk use of one run at size MiB (each of
// database and Chroma), in MiB, from what each phase keeps at once:
//
//	local: root 1 + ours 1.5 (full, and the incremental's new database) +
//	       one copy each for sqlite3+cp, restic and borg + one restored copy
//	push:  root 1 + ours' snapshots 1.5 + one full remote copy per tool +
//	       one incremental (0.5; each tool's remote copy is removed after
//	       its push incremental)
//
// in units of the data size (2 × size), plus a tenth for safety.
func diskNeedMiB(size int, tools []string, p phases) int64 {
	has := func(t string) float64 {
		if slices.Contains(tools, t) {
			return 1
		}
		return 0
	}
	var units float64
	if p.local {
		units = 1 + 1.5 + has("sqlite3+cp") + has("restic") + has("borg") + 1
	}
	if p.push {
		units = max(units, 1+1.5+1+has("rsync")+has("restic")+has("borg")+0.5)
	}
	if p.s3 {
		// ours' full push and a tool's at once; rclone's incremental is a
		// whole copy.
		units = max(units, 1+1.5+1+has("restic")+2*has("rclone")+0.5)
	}
	return int64(units*float64(2*size)*1.1) + 64
}

// checkSpace refuses a run that would fill the work directory's disk, and
// warns when the page cache cannot hold the data.
func (b *bench) checkSpace() error {
	largest := b.cfg.sizes[len(b.cfg.sizes)-1]
	need := diskNeedMiB(largest, b.tools, phasesFor(b.cfg.ops))
	if b.cfg.keep {
		for _, s := range b.cfg.sizes[:len(b.cfg.sizes)-1] {
			need += int64(2 * s) // -keep keeps every root
		}
	}
	free, err := freeMiB(b.work)
	if err != nil {
		return fmt.Errorf("free space in %s: %w", b.work, err)
	}
	if free < need {
		return fmt.Errorf("%s has %d MiB free; this run needs about %d MiB: use -work on a larger disk, fewer -tools or smaller -sizes", b.work, free, need)
	}
	if mem := memAvailableMiB(); mem >= 0 && mem < int64(4*2*largest) {
		b.say("warning: %d MiB of memory available for about %d MiB of files at once: the page cache may not stay warm", mem, 4*2*largest)
	}
	return nil
}

// measureSize generates the root of one shape and size and runs every run
// on it.
func (b *bench) measureSize(ctx context.Context, shape string, size, runs int) error {
	root, err := b.makeRoot(ctx, shape, size)
	if err != nil {
		return err
	}
	p := phasesFor(b.cfg.ops)
	for run := 0; run < runs && ctx.Err() == nil; run++ {
		order := runOrder(b.tools, run)
		b.say("%s %d MiB run %d/%d, tools in the order %s", shape, size, run+1, runs, strings.Join(order, ", "))
		if p.local {
			b.phase(ctx, size, run, "local", root, order, b.localOps)
		}
		if p.push && ctx.Err() == nil {
			b.phase(ctx, size, run, "push", root, order, b.pushOps(opPushFull, opPushIncr))
		}
		if p.s3 && ctx.Err() == nil {
			b.phase(ctx, size, run, "s3", root, order, b.pushOps(opPushS3Full, opPushS3Incr))
		}
	}
	if !b.cfg.keep {
		return os.RemoveAll(root.dir)
	}
	return nil
}

// makeRoot generates the root of one shape and size with bench/gen, or
// reuses one that a kept work directory holds with the same parameters.
// The random shape's root keeps its old name, root-SIZE.
func (b *bench) makeRoot(ctx context.Context, shape string, size int) (atocoreRoot, error) {
	name := fmt.Sprintf("root-%d", size)
	if shape != string(sample.ShapeRandom) {
		name = fmt.Sprintf("root-%s-%d", shape, size)
	}
	root := newRoot(filepath.Join(b.work, name), shape, size)
	segments := 0 // the shape's own
	if shape == string(sample.ShapeRandom) {
		segments = b.cfg.segments
	}
	params := fmt.Sprintf("%d %d %d %s", size, size, segments, shape)
	genTxt := filepath.Join(b.work, name+".gen")
	info := rootInfo{Shape: shape, SizeMiB: size, Segments: segments}
	if old, err := os.ReadFile(genTxt); err == nil && strings.HasPrefix(string(old), params+"\n") {
		if _, err := os.Stat(root.db); err == nil {
			b.say("reusing the root in %s", root.dir)
			parseGenOutput(old, &info)
			info.Reused = true
			b.res.Roots = append(b.res.Roots, info)
			return root, nil
		}
	}
	if err := os.RemoveAll(root.dir); err != nil {
		return root, err
	}
	b.say("generating %s: shape %s, %d MiB database, %d MiB Chroma", root.dir, shape, size, size)
	c := command{argv: []string{b.bins.gen, "-dir", root.dir, "-shape", shape, "-db-mib", strconv.Itoa(size),
		"-chroma-mib", strconv.Itoa(size), "-segments", strconv.Itoa(segments)}}
	o := b.r.run(ctx, fmt.Sprintf("%s-gen", root.label()), c)
	if o.err != nil {
		return root, fmt.Errorf("generate the %d MiB root: %w", size, o.err)
	}
	parseGenOutput(o.stdout, &info)
	info.GenSeconds = o.wall.Seconds()
	b.res.Roots = append(b.res.Roots, info)
	if err := os.WriteFile(genTxt, append([]byte(params+"\n"), o.stdout...), 0o644); err != nil {
		return root, err
	}
	// The first snapshot must start after the generated files' mtimes.
	return root, sleep(ctx, racyWait)
}
