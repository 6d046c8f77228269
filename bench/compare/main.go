// Command compare is the single reproducible command of the performance
// report: it times atocore-backup ("ours") against sqlite3+cp, rsync,
// restic and borg doing the same work on generated AtoCore roots — full
// backup, incremental, check, restore, and push full and incremental to a
// throwaway OpenSSH sshd on loopback — and writes the report:
//
//	go run ./bench/compare                               # 1 GiB db + 1 GiB Chroma, 3 runs
//	go run ./bench/compare -sizes 256,1024,4096          # the report's three sizes
//	go run ./bench/compare -sizes 16 -runs 1 -out /tmp/cmp
//	go run ./bench/compare -sizes 256,1024 -shapes random,text,many
//	go run ./bench/compare -plot-only                    # redraw from results.json
//	go run ./bench/compare -ops push-s3-full,push-s3-incremental -tools restic,rclone
//
// The S3 operations (issue 18) push to a versitygw it starts on loopback
// behind a proxy that counts bytes and HTTP requests by method (s3server.go,
// httpcount.go); "all" includes them when versitygw is installed, and
// -ours BINARY measures a given atocore-backup instead of building one.
//
// Outputs, in -out (bench/out/compare by default): results.json (every
// measurement, the machine, the tool versions), results.md (medians and
// ratios per size) and compare.svg (median wall time against size, one
// panel per operation).
//
// It installs nothing: it builds ours, bench/gen and bench/change with the
// go in PATH, and skips the peer tools it cannot find (saying which Debian
// package has them). How each figure is measured is in the notes of
// results.md (see notes.go).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"
)

// Exit codes.
const (
	exitOK     = 0
	exitFailed = 1 // some timed command failed; the results say which
	exitUsage  = 2 // bad flags, or a required tool is missing
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stderr)
	stop()
	os.Exit(code)
}

// run is the whole program; it returns the exit code.
func run(ctx context.Context, args []string, stderr io.Writer) int {
	cfg, err := parseConfig(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "compare: %v\n", err)
		return exitUsage
	}
	if cfg.plotOnly {
		return plotOnly(cfg, stderr)
	}
	b := &bench{cfg: cfg, log: stderr, dropCaches: os.Geteuid() == 0}
	code, err := b.run(ctx, args)
	if err != nil {
		fmt.Fprintf(stderr, "compare: %v\n", err)
	}
	return code
}

// plotOnly writes results.md and compare.svg again from results.json.
func plotOnly(cfg config, stderr io.Writer) int {
	res, err := readResults(cfg.out)
	if err != nil {
		fmt.Fprintf(stderr, "compare: %v\n", err)
		return exitUsage
	}
	if err := writeReport(cfg.out, res); err != nil {
		fmt.Fprintf(stderr, "compare: %v\n", err)
		return exitFailed
	}
	fmt.Fprintf(stderr, "compare: wrote %s and %s\n", filepath.Join(cfg.out, "results.md"), filepath.Join(cfg.out, "compare.svg"))
	return exitOK
}

// writeReport writes results.md and compare.svg from res.
func writeReport(dir string, res *results) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := writeFileAtomic(filepath.Join(dir, "results.md"), []byte(renderMarkdown(res))); err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(dir, "compare.svg"), renderSVG(res))
}

// run checks the tools, prepares the work directory, the binaries and the
// loopback server, measures every size, and writes the outputs (also when
// interrupted, with what was measured).
func (b *bench) run(ctx context.Context, args []string) (int, error) {
	avail, err := checkTools(b.cfg.tools, b.cfg.ops, b.cfg.opsAll)
	if avail != nil {
		for _, l := range avail.describe() {
			b.say("%s", l)
		}
	}
	if err != nil {
		return exitUsage, err
	}
	b.tools = avail.tools
	b.cfg.ops = avail.ops

	cleanup, err := b.makeWork()
	if err != nil {
		return exitUsage, err
	}
	defer cleanup()
	if err := b.checkSpace(); err != nil {
		return exitUsage, err
	}
	if b.cfg.ours != "" {
		b.say("building bench/gen and bench/change; ours is %s", b.cfg.ours)
	} else {
		b.say("building atocore-backup, bench/gen and bench/change")
	}
	if b.bins, err = build(ctx, b.cfg.repo, filepath.Join(b.work, "bin"), b.cfg.ours); err != nil {
		return exitUsage, err
	}
	b.r = &runner{logDir: filepath.Join(b.work, "logs"), timeout: b.cfg.timeout}
	if err := os.MkdirAll(b.r.logDir, 0o700); err != nil {
		return exitUsage, err
	}
	if phasesFor(b.cfg.ops).push {
		if b.net, err = startNetwork(avail.found["sshd"], filepath.Join(b.work, "ssh")); err != nil {
			return exitUsage, fmt.Errorf("loopback sshd: %w", err)
		}
		defer b.net.close()
		b.say("loopback sshd behind the counting proxy on %s (rsync copies plaintext; ours' push is age-encrypted)", b.net.proxy.addr())
	}
	if phasesFor(b.cfg.ops).s3 {
		if b.s3, err = startS3Server(ctx, avail.found["versitygw"], filepath.Join(b.work, "s3")); err != nil {
			return exitUsage, fmt.Errorf("loopback S3 server: %w", err)
		}
		defer b.s3.close()
		b.say("versitygw (pid %d) behind the counting HTTP proxy on %s (rclone copies plaintext; ours' push is age-encrypted)", b.s3.pid(), b.s3.endpoint())
	}

	b.res = &results{
		Format: resultsFormat, Command: append([]string{"go run ./bench/compare"}, args...),
		StartedUTC: time.Now().UTC().Format(time.RFC3339),
		Config: resultsConfig{SizesMiB: b.cfg.sizes, Shapes: b.cfg.shapes, Segments: b.cfg.segments, Runs: b.cfg.runs,
			Tools: b.tools, Ops: b.cfg.ops, TimeoutSeconds: b.cfg.timeout.Seconds(), WorkDir: b.work, OursBinary: b.cfg.ours},
		Machine: describeMachine(ctx, b.cfg.repo, b.work),
		Tools:   toolVersions(ctx, avail),
	}
	for _, shape := range b.cfg.shapes {
		for i, size := range b.cfg.sizes {
			if ctx.Err() != nil {
				break
			}
			if err := b.measureSize(ctx, shape, size, b.cfg.runs[i]); err != nil {
				b.say("FAILED %s %d MiB: %v", shape, size, err)
				b.failures++
			}
		}
	}
	return b.finish(ctx)
}

// makeWork creates (or adopts) the work directory and returns what
// removes it at exit.
func (b *bench) makeWork() (func(), error) {
	if b.cfg.work != "" {
		b.work = b.cfg.work
		if err := os.MkdirAll(b.work, 0o700); err != nil {
			return nil, err
		}
		return func() {
			if b.cfg.keep {
				b.say("kept %s", b.work)
			}
		}, nil
	}
	dir, err := os.MkdirTemp("/var/tmp", "atocore-compare.")
	if err != nil {
		return nil, fmt.Errorf("work directory under /var/tmp: %w; pass -work DIR", err)
	}
	b.work = dir
	return func() {
		if b.cfg.keep {
			b.say("kept %s", dir)
			return
		}
		_ = os.RemoveAll(dir)
	}, nil
}

// finish writes results.json, results.md and compare.svg.
func (b *bench) finish(ctx context.Context) (int, error) {
	b.res.FinishedUTC = time.Now().UTC().Format(time.RFC3339)
	b.res.Interrupted = ctx.Err() != nil
	b.res.Machine.LoadEnd = loadAverage()
	b.res.Notes = notes(b.res)
	if err := writeResults(b.cfg.out, b.res); err != nil {
		return exitFailed, err
	}
	if err := writeReport(b.cfg.out, b.res); err != nil {
		return exitFailed, err
	}
	b.say("wrote %s/results.json, results.md and compare.svg", b.cfg.out)
	switch {
	case b.res.Interrupted:
		return exitFailed, errors.New("interrupted: the results hold what was measured")
	case b.failures > 0:
		hint := ""
		if b.cfg.work == "" && !b.cfg.keep {
			hint = " (the logs go with the work directory: run with -keep to keep them)"
		}
		return exitFailed, fmt.Errorf("%d command(s) failed: see FAILED above and the errors in results.json%s", b.failures, hint)
	}
	return exitOK, nil
}
