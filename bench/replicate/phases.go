package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/atocore/atocore-backup/internal/ledger"
	"github.com/atocore/atocore-backup/internal/sample"
)

// walEvery is how often the -wal's size is sampled.
const walEvery = 20 * time.Millisecond

// setup builds our CLI, finds Litestream, generates the root and gives
// each tool (and the writer-alone runs) its own copy.
func (b *bench) setup(ctx context.Context) error {
	bin := filepath.Join(b.cfg.Work, "bin")
	if err := os.MkdirAll(bin, 0o700); err != nil {
		return err
	}
	ourBin := b.cfg.AtocoreBin
	if ourBin == "" && slices.Contains(b.cfg.Tools, "ours") {
		ourBin = filepath.Join(bin, "atocore-backup")
		start := time.Now()
		cmd := exec.CommandContext(ctx, "go", "build", "-o", ourBin, "./examples/atocore-backup")
		cmd.Dir = b.cfg.ModuleRoot
		cmd.Env = append(os.Environ(), "GOFLAGS=-buildvcs=false")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go build ./examples/atocore-backup: %v\n%s", err, out)
		}
		b.logf("built atocore-backup in %s", time.Since(start).Round(time.Millisecond))
	}
	lsBin := b.cfg.Litestream
	if lsBin == "" && slices.Contains(b.cfg.Tools, "litestream") {
		var err error
		if lsBin, err = findLitestream(ctx); err != nil {
			return err
		}
	}
	b.res.oursVersion = gitDescribe(ctx, b.cfg.ModuleRoot)
	if lsBin != "" {
		out, err := runBounded(ctx, 30*time.Second, lsBin, []string{"version"}, os.Environ())
		if err != nil {
			return err
		}
		b.res.litestreamVersion = strings.TrimSpace(out)
		b.res.litestreamBin = lsBin
	}

	start := time.Now()
	src, err := sample.Generate(ctx, filepath.Join(b.cfg.Work, "src"), sample.Options{DBBytes: b.cfg.DBMiB << 20, ChromaBytes: -1, Seed: 1})
	if err != nil {
		return err
	}
	w, err := ledger.Open(src.DBPath, ledgerTable) // the ledger table, in every copy
	if err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	if fi, err := os.Stat(src.DBPath); err == nil {
		b.res.dbBytes = fi.Size()
	}
	b.logf("generated a %.1f MiB database in %s", float64(b.res.dbBytes)/(1<<20), time.Since(start).Round(time.Millisecond))

	copyRoot := func(name string) (*sample.Root, error) {
		r, err := sample.Paths(filepath.Join(b.cfg.Work, name))
		if err != nil {
			return nil, err
		}
		for _, p := range [][2]string{{src.DBPath, r.DBPath}, {src.RegistryPath, r.RegistryPath}} {
			if err := os.MkdirAll(filepath.Dir(p[1]), 0o700); err != nil {
				return nil, err
			}
			if err := copyFile(p[0], p[1]); err != nil {
				return nil, err
			}
		}
		return r, nil
	}
	none, err := copyRoot("none")
	if err != nil {
		return err
	}
	b.none = none.DBPath
	logs := filepath.Join(b.cfg.Work, "logs")
	if err := os.MkdirAll(logs, 0o700); err != nil {
		return err
	}
	for _, name := range b.cfg.Tools {
		r, err := copyRoot(name)
		if err != nil {
			return err
		}
		switch name {
		case "ours":
			home := filepath.Join(b.cfg.Work, "home")
			if err := os.MkdirAll(home, 0o700); err != nil {
				return err
			}
			t := &ours{bin: ourBin, root: r, interval: b.cfg.Interval, logDir: logs, env: cleanEnv(home)}
			start := time.Now()
			if err := t.prepare(ctx); err != nil {
				return fmt.Errorf("ours: create the base snapshot: %w", err)
			}
			b.res.createTime = time.Since(start)
			b.logf("ours: base snapshot created in %s", b.res.createTime.Round(time.Millisecond))
			b.tools = append(b.tools, t)
		case "litestream":
			t := &litestream{bin: lsBin, root: r, interval: b.cfg.Interval, logDir: logs,
				replicaDir: filepath.Join(b.cfg.Work, name, "replica"), config: filepath.Join(b.cfg.Work, name, "litestream.yml")}
			if err := t.prepare(ctx); err != nil {
				return err
			}
			b.res.litestreamConfig, _ = os.ReadFile(t.config)
			b.tools = append(b.tools, t)
		}
	}
	return os.MkdirAll(filepath.Join(b.cfg.Work, "scratch"), 0o700)
}

// cleanEnv is the environment for our CLI: no ATOCORE_* of the caller's,
// a HOME of the bench's own.
func cleanEnv(home string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "ATOCORE_") || strings.HasPrefix(kv, "HOME=") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "HOME="+home)
}

func findLitestream(ctx context.Context) (string, error) {
	if p, err := exec.LookPath("litestream"); err == nil {
		return p, nil
	}
	gopath, err := runBounded(ctx, 30*time.Second, "go", []string{"env", "GOPATH"}, os.Environ())
	if err == nil {
		for _, dir := range filepath.SplitList(strings.TrimSpace(gopath)) {
			p := filepath.Join(dir, "bin", "litestream")
			if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
				return p, nil
			}
		}
	}
	return "", errors.New("litestream not found on PATH nor in $(go env GOPATH)/bin: install it with\n" +
		"  GOFLAGS= CGO_ENABLED=1 go install github.com/benbjohnson/litestream/cmd/litestream@v0.5.18\n" +
		"or pass -litestream PATH, or -tools ours")
}

func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for range 64 {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && bytes.Contains(b, []byte("module github.com/atocore/atocore-backup\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			break
		}
		dir = parent
	}
	return "", errors.New("run from inside the atocore-backup module (go run ./bench/replicate)")
}

func gitDescribe(ctx context.Context, dir string) string {
	out, err := runBounded(ctx, 30*time.Second, "git", []string{"-C", dir, "rev-parse", "--short", "HEAD"}, os.Environ())
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(out)
}

func treeBytes(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

// startLedger starts a ledger writer at the steady rate on db, logging to
// a new file; it stops by itself after limit.
func (b *bench) startLedger(db, name string, limit time.Duration) (*proc, string, error) {
	log := filepath.Join(b.cfg.Work, "logs", name+".ledger")
	os.Remove(log)
	cmd := writerCmd(b.cfg.WriterBinary, "ledger", db, log, time.Second/time.Duration(b.cfg.Rate), limit)
	p, err := startProc("ledger writer", cmd, filepath.Join(b.cfg.Work, "logs", name+".writer.log"))
	return p, log, err
}

// steady is a run at the steady rate: the writer, the replicator (none
// when t is nil) started beside it, then over `dur` after the warm-up the
// replicator's CPU, the -wal's peak and the writer's commit latency.
func (b *bench) steady(ctx context.Context, t replicator, db string, dur time.Duration) (steadyResult, error) {
	name := toolName(t)
	r := steadyResult{tool: name, dur: dur}
	w, log, err := b.startLedger(db, "steady-"+name, b.cfg.Warmup+dur+2*time.Minute)
	if err != nil {
		return r, err
	}
	defer w.kill()
	var p *proc
	if t != nil {
		if p, err = b.startTool(ctx, t); err != nil {
			return r, err
		}
		defer p.stop(30 * time.Second)
	}
	warm := b.cfg.Warmup
	if t == nil {
		warm = min(warm, time.Second)
	}
	b.logf("%s: steady %d tx/s, warm-up %s, then measuring %s", name, b.cfg.Rate, warm, dur)
	if err := sleepCtx(ctx, warm); err != nil {
		return r, err
	}
	var cpu0 time.Duration
	if p != nil {
		if cpu0, err = p.cpuTime(); err != nil {
			return r, fmt.Errorf("%s exited during the warm-up: %v\n%s", p.name, err, p.logTail())
		}
	}
	s := sampleWAL(db+"-wal", walEvery)
	t0 := time.Now()
	err = sleepCtx(ctx, dur)
	t1 := time.Now()
	r.walPeak = s.end()
	r.walSamples = s.samples
	if err != nil {
		return r, err
	}
	if p != nil {
		cpu1, err := p.cpuTime()
		if err != nil || p.exited() {
			return r, fmt.Errorf("%s exited during the measurement: %v\n%s", p.name, err, p.logTail())
		}
		r.cpu = cpu1 - cpu0
		r.wall = t1.Sub(t0)
		r.cpuPct = 100 * r.cpu.Seconds() / r.wall.Seconds()
		p.stop(30 * time.Second)
		if _, ok := t.(*ours); ok {
			b.res.oursSteady = lastOursStatus(p.logTailBytes(64 << 10))
		}
	}
	if w.exited() {
		return r, fmt.Errorf("the writer exited: %v\n%s", w.err, w.logTail())
	}
	w.kill()
	entries, err := ledger.ReadLog(log)
	if err != nil {
		return r, err
	}
	var lat []time.Duration
	for _, e := range entries {
		if !e.Before.Before(t0) && !e.After.After(t1) {
			lat = append(lat, e.After.Sub(e.Before))
		}
	}
	lat = sortedCopy(lat)
	r.commits = len(lat)
	r.latP50, r.latP99, r.latMax = quantile(lat, 0.5), quantile(lat, 0.99), quantile(lat, 1)
	b.logf("%s: cpu %.2f%% of a core, peak -wal %.2f MiB, %d commits (%.1f/s), commit p99 %s",
		name, r.cpuPct, float64(r.walPeak)/(1<<20), r.commits, float64(r.commits)/t1.Sub(t0).Seconds(), r.latP99.Round(10*time.Microsecond))
	return r, nil
}

// startTool starts t's replicator and records its life, to tell later
// whether a transaction was committed while it ran.
func (b *bench) startTool(ctx context.Context, t replicator) (*proc, error) {
	p, err := t.start(ctx)
	if err == nil {
		b.res.procs[t.name()] = append(b.res.procs[t.name()], p)
	}
	return p, err
}

// loss runs the kill trials of one tool: the steady writer throughout, the
// replicator started, SIGKILLed after a random life, its replica restored
// and compared with the writer's log, then started again.
func (b *bench) loss(ctx context.Context, t replicator) (lossResult, error) {
	lr := lossResult{tool: t.name()}
	limit := time.Duration(b.cfg.Trials)*(b.cfg.LifeMax+2*time.Minute) + time.Minute
	w, log, err := b.startLedger(t.dbPath(), "loss-"+t.name(), limit)
	if err != nil {
		return lr, err
	}
	defer w.kill()
	if err := sleepCtx(ctx, 500*time.Millisecond); err != nil {
		return lr, err
	}
	scratch := filepath.Join(b.cfg.Work, "scratch")
	b.logf("%s: %d kill trials, lives %s..%s", t.name(), b.cfg.Trials, b.cfg.LifeMin, b.cfg.LifeMax)
	start := time.Now()
	for i := range b.cfg.Trials {
		if w.exited() {
			return lr, fmt.Errorf("the writer exited: %v\n%s", w.err, w.logTail())
		}
		p, err := b.startTool(ctx, t)
		if err != nil {
			return lr, err
		}
		life := b.lifetime()
		if err := sleepCtx(ctx, life); err != nil {
			p.kill()
			return lr, err
		}
		earlyExit := p.exited()
		kill := time.Now()
		p.kill()
		tr := trial{life: life, kill: kill}
		if earlyExit {
			tr.err = "the replicator had exited before its kill: " + lastLine(p.logTail())
		}
		chainsBefore := 0
		if o, ok := t.(*ours); ok {
			chainsBefore = o.chains
		}
		rs := time.Now()
		path, note, err := t.restore(ctx, scratch)
		tr.restoreTime = time.Since(rs)
		tr.note = note
		if o, ok := t.(*ours); ok && err == nil && o.chains == chainsBefore {
			tr.unshipped = true
			tr.note += " (no new chain: killed before its first segment)"
		}
		if err != nil {
			tr.err = strings.TrimSpace(tr.err + " restore: " + lastLine(err.Error()))
			lr.trials = append(lr.trials, tr)
			b.logf("%s: trial %d: %s", t.name(), i, tr.err)
			continue
		}
		rows, err := ledger.Rows(path, ledgerTable)
		if err != nil {
			return lr, fmt.Errorf("read the restored database: %w", err)
		}
		entries, err := ledger.ReadLog(log)
		if err != nil {
			return lr, err
		}
		measureLoss(&tr, entries, rows, kill)
		lr.trials = append(lr.trials, tr)
		b.logf("%s: trial %d: life %s, loss %s, lag %s (%d of %d logged transactions missing, %d in holes), restore %s; %s",
			t.name(), i, life.Round(time.Millisecond), tr.loss.Round(time.Millisecond), tr.lag.Round(time.Millisecond), tr.missing, tr.logged,
			tr.holes, tr.restoreTime.Round(time.Millisecond), note)
	}
	lr.elapsed = time.Since(start)
	return lr, nil
}

// measureLoss compares the restored rows with the writer's log up to the
// kill. loss is the brief's figure: the kill time less the commit time of
// the first logged transaction the replica lacks. A replica is a state
// the database was in when its missing transactions are all after its
// present ones; those missing before a present one are holes, and lag
// (the kill less the commit time of the first transaction after the
// newest present one) is then how far behind its newest state was.
func measureLoss(tr *trial, entries []ledger.Entry, rows map[int]bool, kill time.Time) {
	first, last := -1, -1
	n := 0
	for j, e := range entries {
		if !e.After.Before(kill) {
			break
		}
		n++
		if rows[e.N] {
			last = j
		} else {
			tr.missing++
			if first < 0 {
				first = j
			}
		}
	}
	tr.logged = n
	if first >= 0 {
		tr.loss = kill.Sub(entries[first].After)
	}
	if last+1 < n {
		tr.lag = kill.Sub(entries[last+1].After)
	}
	for j := range max(last, 0) {
		if !rows[entries[j].N] {
			if tr.holes == 0 {
				tr.holeFirst, tr.holeAt = entries[j].N, entries[j].After
			}
			tr.holeTimes = append(tr.holeTimes, entries[j].After)
			tr.holes++
			tr.holeLast = entries[j].N
		}
	}
}

// finalCheck restores the tool's replica after a graceful stop and counts
// the rows of the live database it lacks.
func (b *bench) finalCheck(ctx context.Context, t replicator) (finalResult, error) {
	fr := finalResult{tool: t.name()}
	path, _, err := t.restore(ctx, filepath.Join(b.cfg.Work, "scratch"))
	if err != nil {
		fr.err = lastLine(err.Error())
		return fr, nil
	}
	got, err := ledger.Rows(path, ledgerTable)
	if err != nil {
		return fr, err
	}
	live, err := ledger.Rows(t.dbPath(), ledgerTable)
	if err != nil {
		return fr, err
	}
	fr.live = len(live)
	for n := range live {
		if !got[n] {
			fr.missing++
		}
	}
	b.logf("%s: after a graceful stop its replica lacks %d of the live database's %d ledger rows", t.name(), fr.missing, fr.live)
	return fr, nil
}

// throughput runs the flat-out writer for -tput, beside the replicator
// (none when t is nil) after its warm-up.
func (b *bench) throughput(ctx context.Context, t replicator, db string) (tputResult, error) {
	name := toolName(t)
	r := tputResult{tool: name}
	var p *proc
	var err error
	if t != nil {
		if p, err = b.startTool(ctx, t); err != nil {
			return r, err
		}
		defer p.stop(30 * time.Second)
		if err := sleepCtx(ctx, b.cfg.Warmup); err != nil {
			return r, err
		}
	}
	b.logf("%s: flat-out writer for %s", name, b.cfg.Tput)
	var cpu0 time.Duration
	if p != nil {
		if cpu0, err = p.cpuTime(); err != nil {
			return r, fmt.Errorf("%s exited during the warm-up: %v\n%s", p.name, err, p.logTail())
		}
	}
	var out bytes.Buffer
	cmd := writerCmd(b.cfg.WriterBinary, "flat", db, "-", 0, b.cfg.Tput)
	cmd.Stdout = &out
	s := sampleWAL(db+"-wal", walEvery)
	t0 := time.Now()
	w, err := startProc("flat writer", cmd, filepath.Join(b.cfg.Work, "logs", "flat-"+name+".writer.log"))
	if err != nil {
		s.end()
		return r, err
	}
	werr := w.wait(b.cfg.Tput + 2*time.Minute)
	wall := time.Since(t0)
	r.walPeak = s.end()
	if werr != nil {
		return r, fmt.Errorf("flat writer: %v\n%s", werr, w.logTail())
	}
	var ns, p50, p99, mx int64
	if _, err := fmt.Sscanf(out.String(), "%d %d %d %d %d", &r.commits, &ns, &p50, &p99, &mx); err != nil {
		return r, fmt.Errorf("flat writer printed %q: %v", out.String(), err)
	}
	r.elapsed = time.Duration(ns)
	r.rate = float64(r.commits) / r.elapsed.Seconds()
	r.latP50, r.latP99, r.latMax = time.Duration(p50), time.Duration(p99), time.Duration(mx)
	if p != nil {
		cpu1, err := p.cpuTime()
		if err != nil || p.exited() {
			return r, fmt.Errorf("%s exited during the measurement: %v\n%s", p.name, err, p.logTail())
		}
		r.cpuPct = 100 * (cpu1 - cpu0).Seconds() / wall.Seconds()
		// Let it ship the last commits, stop it as an operator would,
		// and check that its replica holds every row of the live database.
		if err := sleepCtx(ctx, 2*b.cfg.Interval+time.Second); err != nil {
			return r, err
		}
		p.stop(30 * time.Second)
		if _, ok := t.(*ours); ok {
			b.res.oursFull = lastOursStatus(p.logTailBytes(64 << 10))
		}
		fr, err := b.finalCheck(ctx, t)
		if err != nil {
			return r, err
		}
		b.res.final = append(b.res.final, fr)
	}
	b.logf("%s: %.0f tx/s, commit p99 %s, peak -wal %.2f MiB", name, r.rate, r.latP99.Round(10*time.Microsecond), float64(r.walPeak)/(1<<20))
	return r, nil
}
