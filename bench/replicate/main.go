// Command replicate compares `atocore-backup replicate` with Litestream
// (run as its own binary, unencrypted, file replica) on the same writer
// and writes the figures (issue 19):
//
//	go run ./bench/replicate                       # the default run, ~5 minutes
//	go run ./bench/replicate -trials 50 -cpu 60s -out docs/perf/issue19-replication-results.md
//
// Each tool gets a fresh copy of one generated AtoCore root (-db-mib of
// database). A writer process commits numbered rows, and the bench
// measures, for each tool in the same run:
//
//  1. the loss window: the writer commits -rate transactions a second and
//     logs each commit durably; the replicator is SIGKILLed at a random
//     moment, its replica restored, and the loss is the kill time less
//     the commit time of the first logged transaction the replica lacks
//     (0 when none); the replicator is then started again (-trials times);
//  2. the replicator's CPU at that steady rate (utime+stime from
//     /proc/PID/stat over -cpu of wall time, % of one core);
//  3. the writer's throughput going flat out for -tput, alone and beside
//     each replicator;
//  4. the peak size of the -wal during 2 and 3 (sampled every 20 ms).
//
// Only processes the bench started are signalled, by PID; every loop is
// bounded in count and time; nothing leaves the machine.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

type config struct {
	Trials       int
	DBMiB        int64
	Rate         int
	Interval     time.Duration
	CPU          time.Duration
	Warmup       time.Duration
	Baseline     time.Duration
	Tput         time.Duration
	LifeMin      time.Duration
	LifeMax      time.Duration
	Seed         uint64
	Tools        []string
	Work         string
	Keep         bool
	Out          string
	AtocoreBin   string
	Litestream   string
	Timeout      time.Duration
	CommandLine  string
	ModuleRoot   string // found from the working directory when empty
	WriterBinary string // this program; os.Executable when empty
}

func main() {
	if os.Getenv(writerEnv) != "" {
		writerMain() // never returns
	}
	var cfg config
	var tools string
	flag.IntVar(&cfg.Trials, "trials", 20, "SIGKILL trials per tool")
	flag.Int64Var(&cfg.DBMiB, "db-mib", 64, "size of the generated database in MiB")
	flag.IntVar(&cfg.Rate, "rate", 100, "transactions a second of the steady writer (loss and CPU phases)")
	flag.DurationVar(&cfg.Interval, "interval", time.Second, "replication interval of both tools (ours --interval; Litestream monitor-interval and sync-interval)")
	flag.DurationVar(&cfg.CPU, "cpu", 30*time.Second, "wall time over which the replicator's CPU and the peak -wal are measured at the steady rate")
	flag.DurationVar(&cfg.Warmup, "warmup", 5*time.Second, "time a replicator runs before a CPU or throughput measurement starts")
	flag.DurationVar(&cfg.Baseline, "baseline", 10*time.Second, "steady-rate run of the writer alone (the -wal and commit latency without a replicator)")
	flag.DurationVar(&cfg.Tput, "tput", 10*time.Second, "duration of each flat-out writer run")
	flag.DurationVar(&cfg.LifeMin, "life-min", time.Second, "shortest life of a replicator before its SIGKILL")
	flag.DurationVar(&cfg.LifeMax, "life-max", 3*time.Second, "longest life of a replicator before its SIGKILL")
	flag.Uint64Var(&cfg.Seed, "seed", 0, "random seed of the kill moments (0: from the clock)")
	flag.StringVar(&tools, "tools", "ours,litestream", "tools to run, comma-separated")
	flag.StringVar(&cfg.Work, "work", "", "scratch directory (default: a new one under /var/tmp, removed at the end)")
	flag.BoolVar(&cfg.Keep, "keep", false, "keep the scratch directory")
	flag.StringVar(&cfg.Out, "out", "", "write the results as Markdown to this file (e.g. docs/perf/issue19-replication-results.md)")
	flag.StringVar(&cfg.AtocoreBin, "atocore-backup", "", "atocore-backup binary (default: built from this module with go build)")
	flag.StringVar(&cfg.Litestream, "litestream", "", "litestream binary (default: litestream on PATH, then $(go env GOPATH)/bin/litestream)")
	flag.DurationVar(&cfg.Timeout, "timeout", 20*time.Minute, "give up after this long")
	flag.Parse()
	if flag.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "usage: replicate [flags]; see -h")
		os.Exit(2)
	}
	cfg.Tools = splitList(tools)
	cfg.CommandLine = "go run ./bench/replicate " + strings.Join(os.Args[1:], " ")
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := run(ctx, cfg)
	if res != nil {
		fmt.Print(res.table())
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench/replicate:", err)
		os.Exit(1)
	}
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func (c *config) check() error {
	switch {
	case c.Trials < 1 || c.Trials > 1000:
		return fmt.Errorf("-trials %d: want 1..1000", c.Trials)
	case c.DBMiB < 1 || c.DBMiB > 16<<10:
		return fmt.Errorf("-db-mib %d: want 1..16384", c.DBMiB)
	case c.Rate < 1 || c.Rate > 10000:
		return fmt.Errorf("-rate %d: want 1..10000", c.Rate)
	case c.Interval < 10*time.Millisecond:
		return fmt.Errorf("-interval %s: want at least 10ms", c.Interval)
	case c.LifeMin <= 0 || c.LifeMax < c.LifeMin || c.LifeMax > 10*time.Minute:
		return fmt.Errorf("-life-min %s -life-max %s: want 0 < min <= max <= 10m", c.LifeMin, c.LifeMax)
	case c.CPU <= 0 || c.Tput <= 0 || c.Baseline <= 0 || c.Warmup < 0:
		return errors.New("-cpu, -tput and -baseline must be positive, -warmup not negative")
	case c.CPU > time.Hour || c.Tput > time.Hour || c.Baseline > time.Hour || c.Warmup > time.Hour:
		return errors.New("-cpu, -tput, -baseline and -warmup must be at most 1h")
	}
	for _, t := range c.Tools {
		if t != "ours" && t != "litestream" {
			return fmt.Errorf("-tools: unknown tool %q (want ours, litestream)", t)
		}
	}
	if len(c.Tools) == 0 {
		return errors.New("-tools: none")
	}
	return nil
}

// run is the whole bench. It returns what it measured so far even when
// it fails part way.
func run(ctx context.Context, cfg config) (*results, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	if cfg.Seed == 0 {
		cfg.Seed = uint64(time.Now().UnixNano())
	}
	if cfg.WriterBinary == "" {
		self, err := os.Executable()
		if err != nil {
			return nil, err
		}
		cfg.WriterBinary = self
	}
	if cfg.ModuleRoot == "" {
		r, err := moduleRoot()
		if err != nil {
			return nil, err
		}
		cfg.ModuleRoot = r
	}
	if cfg.Work == "" {
		w, err := os.MkdirTemp("/var/tmp", "bench-replicate-")
		if err != nil {
			return nil, err
		}
		cfg.Work = w
		if !cfg.Keep {
			defer os.RemoveAll(w)
		}
	} else if err := os.MkdirAll(cfg.Work, 0o700); err != nil {
		return nil, err
	}
	b := &bench{cfg: cfg, rnd: rand.New(rand.NewPCG(cfg.Seed, 0x19)), res: &results{cfg: cfg, started: time.Now(), procs: map[string][]*proc{}}}
	b.res.machine = describeMachine(cfg.Work)
	err := b.all(ctx)
	b.res.elapsed = time.Since(b.res.started)
	b.res.machine.LoadEnd = loadAverage()
	if err == nil && cfg.Out != "" {
		err = os.WriteFile(cfg.Out, []byte(b.res.markdown()), 0o644)
		if err == nil {
			b.logf("wrote %s", cfg.Out)
		}
	}
	return b.res, err
}

type bench struct {
	cfg   config
	rnd   *rand.Rand
	res   *results
	tools []replicator
	none  string // the database of the writer-alone runs
	t0    time.Time
}

func (b *bench) logf(format string, args ...any) {
	if b.t0.IsZero() {
		b.t0 = time.Now()
	}
	fmt.Fprintf(os.Stderr, "[%6.1fs] %s\n", time.Since(b.t0).Seconds(), fmt.Sprintf(format, args...))
}

func (b *bench) all(ctx context.Context) error {
	b.logf("work directory %s, seed %d", b.cfg.Work, b.cfg.Seed)
	if err := b.setup(ctx); err != nil {
		return err
	}
	// 1: the writer alone at the steady rate, then each tool's steady run
	// (CPU, -wal) and its kill trials on its own copy.
	st, err := b.steady(ctx, nil, b.none, b.cfg.Baseline)
	if err != nil {
		return fmt.Errorf("steady run, writer alone: %w", err)
	}
	b.res.steady = append(b.res.steady, st)
	for _, t := range b.tools {
		st, err := b.steady(ctx, t, t.dbPath(), b.cfg.CPU)
		if err != nil {
			return fmt.Errorf("steady run, %s: %w", t.name(), err)
		}
		b.res.steady = append(b.res.steady, st)
		lr, err := b.loss(ctx, t)
		b.res.loss = append(b.res.loss, lr)
		if err != nil {
			return fmt.Errorf("kill trials, %s: %w", t.name(), err)
		}
	}
	// 2: the flat-out writer alone, then beside each tool with a run
	// alone after it (none, ours, none, litestream, none), back to back:
	// each tool is compared with the runs alone either side of it, so
	// that the machine's drifting noise hits both alike.
	runs := []replicator{nil}
	for _, t := range b.tools {
		runs = append(runs, t, nil)
	}
	for _, t := range runs {
		db := b.none
		if t != nil {
			db = t.dbPath()
		}
		tr, err := b.throughput(ctx, t, db)
		if err != nil {
			return fmt.Errorf("throughput, %s: %w", toolName(t), err)
		}
		b.res.tput = append(b.res.tput, tr)
	}
	b.res.replicaBytes = map[string]int64{}
	for _, t := range b.tools {
		switch t := t.(type) {
		case *ours:
			b.res.replicaBytes["ours"] = treeBytes(filepath.Join(t.root.BackupDir, "replica"))
			b.res.snapshotBytes = treeBytes(filepath.Join(t.root.BackupDir, "snapshots"))
		case *litestream:
			b.res.replicaBytes["litestream"] = treeBytes(t.replicaDir)
		}
	}
	return nil
}

func toolName(t replicator) string {
	if t == nil {
		return "none"
	}
	return t.name()
}

// lifetime is a random life for a replicator before its kill.
func (b *bench) lifetime() time.Duration {
	span := int64(b.cfg.LifeMax - b.cfg.LifeMin)
	if span <= 0 {
		return b.cfg.LifeMin
	}
	return b.cfg.LifeMin + time.Duration(b.rnd.Int64N(span+1))
}

// quantile is the nearest-rank quantile of sorted durations.
func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.999999) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func sortedCopy(d []time.Duration) []time.Duration {
	c := slices.Clone(d)
	slices.Sort(c)
	return c
}
