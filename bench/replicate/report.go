package main

import (
	"bufio"
	"fmt"
	"math"
	"os"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/atocore/atocore-backup/internal/ledger"
)

type steadyResult struct {
	tool                   string
	dur, wall, cpu         time.Duration
	cpuPct                 float64
	walPeak                int64
	walSamples             int
	commits                int
	latP50, latP99, latMax time.Duration
}

type trial struct {
	life, loss, lag        time.Duration
	restoreTime            time.Duration
	kill                   time.Time
	logged, missing, holes int
	holeFirst, holeLast    int         // ledger numbers of the first and last hole
	holeAt                 time.Time   // the first hole's commit time
	holeTimes              []time.Time // the commit times of all holes
	unshipped              bool        // ours: killed before its chain's first segment
	note, err              string
}

type lossResult struct {
	tool    string
	trials  []trial
	elapsed time.Duration
}

// losses are the trials' figures (loss or lag), sorted; failed trials
// have none.
func (lr lossResult) losses(f func(trial) time.Duration) []time.Duration {
	var d []time.Duration
	for _, t := range lr.trials {
		if t.err == "" {
			d = append(d, f(t))
		}
	}
	return sortedCopy(d)
}

func lossOfTrial(t trial) time.Duration { return t.loss }
func lagOfTrial(t trial) time.Duration  { return t.lag }

func (lr lossResult) count(f func(trial) bool) int {
	n := 0
	for _, t := range lr.trials {
		if f(t) {
			n++
		}
	}
	return n
}

type finalResult struct {
	tool          string
	live, missing int
	err           string
}

type tputResult struct {
	tool                   string
	commits                int
	elapsed                time.Duration
	rate                   float64
	latP50, latP99, latMax time.Duration
	walPeak                int64
	cpuPct                 float64
}

type machine struct {
	CPU, Kernel, OS, Go, Filesystem string
	Cores                           int
	MemMiB                          int64
	LoadStart, LoadEnd              string
}

type results struct {
	cfg               config
	started           time.Time
	elapsed           time.Duration
	machine           machine
	oursVersion       string
	litestreamVersion string
	litestreamBin     string
	litestreamConfig  []byte
	dbBytes           int64
	createTime        time.Duration
	snapshotBytes     int64
	replicaBytes      map[string]int64
	steady            []steadyResult
	loss              []lossResult
	tput              []tputResult
	final             []finalResult
	procs             map[string][]*proc // each tool's replicator processes, in order
	oursFull          oursStatus         // ours' own counters in the flat-out run
	oursSteady        oursStatus         // and in the steady run
}

// oursStatus is what `atocore-backup replicate` prints when it stops.
type oursStatus struct {
	Ticks           uint64 `json:"ticks"`
	Segments        uint64 `json:"segments"`
	FullComparisons uint64 `json:"full_comparisons"`
	LastFullReason  string `json:"last_full_reason"`
	Errors          uint64 `json:"errors"`
}

// upAt says whether one of the tool's replicators ran at t, and for how
// long it had.
func (r *results) upAt(tool string, t time.Time) (bool, time.Duration) {
	for _, p := range r.procs[tool] {
		end := p.end
		if end.IsZero() {
			end = time.Now()
		}
		if !t.Before(p.start) && t.Before(end) {
			return true, t.Sub(p.start)
		}
	}
	return false, 0
}

func describeMachine(work string) machine {
	m := machine{
		CPU:       procField("/proc/cpuinfo", "model name"),
		Cores:     runtime.NumCPU(),
		Kernel:    strings.TrimSpace(readString("/proc/sys/kernel/osrelease")),
		OS:        strings.Trim(procField("/etc/os-release", "PRETTY_NAME"), `"`),
		Go:        runtime.Version(),
		LoadStart: loadAverage(),
	}
	var kib int64
	fmt.Sscan(procField("/proc/meminfo", "MemTotal"), &kib)
	m.MemMiB = kib / 1024
	var st syscall.Statfs_t
	if syscall.Statfs(work, &st) == nil {
		switch st.Type {
		case 0xef53:
			m.Filesystem = "ext4"
		case 0x01021994:
			m.Filesystem = "tmpfs"
		case 0x9123683e:
			m.Filesystem = "btrfs"
		case 0x58465342:
			m.Filesystem = "xfs"
		case 0x794c7630:
			m.Filesystem = "overlayfs"
		default:
			m.Filesystem = fmt.Sprintf("type 0x%x", st.Type)
		}
	}
	return m
}

func readString(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}

func procField(path, name string) string {
	sc := bufio.NewScanner(strings.NewReader(readString(path)))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			k, v, ok = strings.Cut(sc.Text(), "=")
		}
		if ok && strings.TrimSpace(k) == name {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

func loadAverage() string {
	f := strings.Fields(readString("/proc/loadavg"))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// row is one line of the table: a figure per column (NaN: not measured).
type row struct {
	label string
	unit  string
	none  float64
	vals  map[string]float64
	prec  int
}

func nan() float64 { return math.NaN() }

func (r *results) steadyOf(tool string) (steadyResult, bool) {
	for _, s := range r.steady {
		if s.tool == tool {
			return s, true
		}
	}
	return steadyResult{}, false
}

func (r *results) lossOf(tool string) (lossResult, bool) {
	for _, l := range r.loss {
		if l.tool == tool {
			return l, true
		}
	}
	return lossResult{}, false
}

func (r *results) tputOf(tool string) []tputResult {
	var out []tputResult
	for _, t := range r.tput {
		if t.tool == tool {
			out = append(out, t)
		}
	}
	return out
}

// neighbours is the mean flat-out rate of the writer-alone runs just
// before and just after the tool's run.
func (r *results) neighbours(tool string) float64 {
	for i, t := range r.tput {
		if t.tool != tool {
			continue
		}
		s, n := 0.0, 0
		for _, j := range []int{i - 1, i + 1} {
			if j >= 0 && j < len(r.tput) && r.tput[j].tool == "none" {
				s += r.tput[j].rate
				n++
			}
		}
		if n == 0 {
			return nan()
		}
		return s / float64(n)
	}
	return nan()
}

// noneRate is the mean flat-out rate of the writer alone.
func (r *results) noneRate() float64 {
	ts := r.tputOf("none")
	if len(ts) == 0 {
		return nan()
	}
	s := 0.0
	for _, t := range ts {
		s += t.rate
	}
	return s / float64(len(ts))
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
func mib(b int64) float64        { return float64(b) / (1 << 20) }

func (r *results) rows() []row {
	var rows []row
	add := func(label, unit string, prec int, none float64, f func(tool string) float64) {
		rw := row{label: label, unit: unit, none: none, vals: map[string]float64{}, prec: prec}
		for _, t := range r.cfg.Tools {
			rw.vals[t] = f(t)
		}
		rows = append(rows, rw)
	}
	lossQ := func(f func(trial) time.Duration, q float64) func(string) float64 {
		return func(t string) float64 {
			l, ok := r.lossOf(t)
			if !ok || len(l.losses(f)) == 0 {
				return nan()
			}
			return ms(quantile(l.losses(f), q))
		}
	}
	add("loss window p50 (first missing)", "ms", 0, nan(), lossQ(lossOfTrial, 0.5))
	add("loss window p99 (first missing)", "ms", 0, nan(), lossQ(lossOfTrial, 0.99))
	add("loss window max (first missing)", "ms", 0, nan(), lossQ(lossOfTrial, 1))
	add("lag p50 (after newest present)", "ms", 0, nan(), lossQ(lagOfTrial, 0.5))
	add("lag p99 (after newest present)", "ms", 0, nan(), lossQ(lagOfTrial, 0.99))
	add("lag max (after newest present)", "ms", 0, nan(), lossQ(lagOfTrial, 1))
	trials := func(f func(trial) bool) func(string) float64 {
		return func(t string) float64 {
			l, ok := r.lossOf(t)
			if !ok {
				return nan()
			}
			return float64(l.count(f))
		}
	}
	add("trials with a loss", "of "+fmt.Sprint(r.cfg.Trials), 0, nan(), trials(func(x trial) bool { return x.err == "" && x.loss > 0 }))
	add("trials with holes (rows missing before present ones)", "of "+fmt.Sprint(r.cfg.Trials), 0, nan(), trials(func(x trial) bool { return x.err == "" && x.holes > 0 }))
	add("transactions in holes, last trial", "tx", 0, nan(), func(t string) float64 {
		l, ok := r.lossOf(t)
		if !ok || len(l.trials) == 0 {
			return nan()
		}
		return float64(l.trials[len(l.trials)-1].holes)
	})
	add("trials that failed (restore error)", "of "+fmt.Sprint(r.cfg.Trials), 0, nan(), trials(func(x trial) bool { return x.err != "" }))
	add("restore time per trial (mean)", "ms", 0, nan(), func(t string) float64 {
		l, ok := r.lossOf(t)
		if !ok || len(l.trials) == 0 {
			return nan()
		}
		var s time.Duration
		for _, x := range l.trials {
			s += x.restoreTime
		}
		return ms(s / time.Duration(len(l.trials)))
	})
	st := func(f func(steadyResult) float64) func(string) float64 {
		return func(t string) float64 {
			s, ok := r.steadyOf(t)
			if !ok {
				return nan()
			}
			return f(s)
		}
	}
	rate := fmt.Sprintf("%d tx/s", r.cfg.Rate)
	add("replicator CPU at "+rate, "% core", 2, nan(), st(func(s steadyResult) float64 { return s.cpuPct }))
	add("peak -wal at "+rate, "MiB", 2, st(func(s steadyResult) float64 { return mib(s.walPeak) })("none"), st(func(s steadyResult) float64 { return mib(s.walPeak) }))
	add("writer commit p50 at "+rate, "ms", 2, st(func(s steadyResult) float64 { return ms(s.latP50) })("none"), st(func(s steadyResult) float64 { return ms(s.latP50) }))
	add("writer commit p99 at "+rate, "ms", 2, st(func(s steadyResult) float64 { return ms(s.latP99) })("none"), st(func(s steadyResult) float64 { return ms(s.latP99) }))
	tp := func(f func(tputResult) float64) func(string) float64 {
		return func(t string) float64 {
			ts := r.tputOf(t)
			if len(ts) == 0 {
				return nan()
			}
			s := 0.0
			for _, x := range ts {
				s += f(x)
			}
			return s / float64(len(ts))
		}
	}
	none := r.noneRate()
	add("writer flat out", "tx/s", 0, none, tp(func(x tputResult) float64 { return x.rate }))
	add("writer flat out, with/without (the runs alone either side)", "ratio", 3, nan(), func(t string) float64 { return tp(func(x tputResult) float64 { return x.rate })(t) / r.neighbours(t) })
	add("writer flat-out commit p99", "ms", 2, tp(func(x tputResult) float64 { return ms(x.latP99) })("none"), tp(func(x tputResult) float64 { return ms(x.latP99) }))
	add("replicator CPU, writer flat out", "% core", 1, nan(), tp(func(x tputResult) float64 { return x.cpuPct }))
	add("peak -wal, writer flat out", "MiB", 2, tp(func(x tputResult) float64 { return mib(x.walPeak) })("none"), tp(func(x tputResult) float64 { return mib(x.walPeak) }))
	add("live rows missing from the replica after a graceful stop", "rows", 0, nan(), func(t string) float64 {
		for _, f := range r.final {
			if f.tool == t && f.err == "" {
				return float64(f.missing)
			}
		}
		return nan()
	})
	add("replica on disk at the end (ours: without its base snapshot)", "MiB", 1, nan(), func(t string) float64 {
		b, ok := r.replicaBytes[t]
		if !ok {
			return nan()
		}
		return mib(b)
	})
	return rows
}

func fmtVal(v float64, prec int) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "–"
	}
	return fmt.Sprintf("%.*f", prec, v)
}

func (r *results) hasBoth() bool {
	return len(r.cfg.Tools) == 2
}

func ratio(rw row) string {
	o, l := rw.vals["ours"], rw.vals["litestream"]
	switch {
	case math.IsNaN(o) || math.IsNaN(l):
		return "–"
	case l == 0 && o == 0:
		return "1 (both 0)"
	case l == 0:
		return "∞"
	}
	return fmt.Sprintf("%.2f", o/l)
}

// table is the plain-text table printed at the end.
func (r *results) table() string {
	var sb strings.Builder
	tw := tabwriter.NewWriter(&sb, 2, 4, 2, ' ', 0)
	hdr := "metric\tunit\tnone"
	for _, t := range r.cfg.Tools {
		hdr += "\t" + t
	}
	if r.hasBoth() {
		hdr += "\tours/litestream"
	}
	fmt.Fprintln(tw, hdr)
	for _, rw := range r.rows() {
		line := rw.label + "\t" + rw.unit + "\t" + fmtVal(rw.none, rw.prec)
		for _, t := range r.cfg.Tools {
			line += "\t" + fmtVal(rw.vals[t], rw.prec)
		}
		if r.hasBoth() {
			line += "\t" + ratio(rw)
		}
		fmt.Fprintln(tw, line)
	}
	tw.Flush()
	return sb.String()
}

// markdown is the results file.
func (r *results) markdown() string {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	m := r.machine
	p("# Issue 19: `atocore-backup replicate` against Litestream\n\n")
	p("Written by `bench/replicate` on %s (the whole run took %s).\n\n", r.started.UTC().Format("2006-01-02 15:04 MST"), r.elapsed.Round(time.Second))
	p("```\nGOFLAGS=-buildvcs=false %s\n```\n\n", strings.TrimSpace(r.cfg.CommandLine))
	p("Machine: %s, %d cores, %d MiB of memory, %s, Linux %s, scratch on %s; load average %s at the start and %s at the end. "+
		"The machine is shared and noisy: figures move by tens of per cent from run to run, the ratios of one run less so.\n\n",
		m.CPU, m.Cores, m.MemMiB, m.OS, m.Kernel, m.Filesystem, m.LoadStart, m.LoadEnd)
	p("Tools: ours at commit %s, built with %s; %s (`%s`).\n\n", r.oursVersion, m.Go, orDash(r.litestreamVersion), orDash(r.litestreamBin))
	p("## Results\n\n")
	p("| metric | unit | writer alone |")
	for _, t := range r.cfg.Tools {
		p(" %s |", t)
	}
	if r.hasBoth() {
		p(" ours/litestream |")
	}
	p("\n|---|---|---:|")
	for range r.cfg.Tools {
		p("---:|")
	}
	if r.hasBoth() {
		p("---:|")
	}
	p("\n")
	for _, rw := range r.rows() {
		p("| %s | %s | %s |", rw.label, rw.unit, fmtVal(rw.none, rw.prec))
		for _, t := range r.cfg.Tools {
			p(" %s |", fmtVal(rw.vals[t], rw.prec))
		}
		if r.hasBoth() {
			p(" %s |", ratio(rw))
		}
		p("\n")
	}
	p("\n")
	for _, t := range r.cfg.Tools {
		ts := r.tputOf(t)
		if len(ts) == 0 {
			continue
		}
		q := ts[0].rate / r.neighbours(t)
		verdict := "meets"
		if q < 0.9 {
			verdict = "misses"
		}
		p("- Writer throughput beside %s: %.3f of the writer alone, which %s the goal of ≥ 0.9.\n", t, q, verdict)
	}
	if ns := r.tputOf("none"); len(ns) > 1 {
		p("- The writer alone ran %d times, before, between and after the tools, at", len(ns))
		for i, x := range ns {
			if i > 0 {
				p(" and")
			}
			p(" %.0f", x.rate)
		}
		p(" tx/s: their spread is the noise floor of the throughput ratios.\n")
	}
	if r.cfg.Trials < 100 {
		p("- Quantiles are nearest-rank over %d trials per tool: below 100 trials p99 is the largest figure.\n", r.cfg.Trials)
	}
	for _, l := range r.loss {
		for i, t := range l.trials {
			if t.holes == 0 {
				continue
			}
			when := ""
			for j, k := range l.trials {
				if k.kill.After(t.holeAt) {
					when = fmt.Sprintf(", the first committed %d ms before the kill of trial %d", k.kill.Sub(t.holeAt).Milliseconds(), j)
					break
				}
			}
			last := l.trials[len(l.trials)-1]
			p("- **%s left holes**: from trial %d on, its restored replica lacks %d transaction(s) (ledger n %d–%d%s) while it holds later ones — "+
				"a state the database was never in. In the last trial its replica still had %d transaction(s) in holes. "+
				"Its loss window (first missing) then grows with every trial; its lag (after the newest present row) is the like-for-like figure of how far behind it was.",
				l.tool, i, t.holes, t.holeFirst, t.holeLast, when, last.holes)
			down := 0
			var since []time.Duration
			for _, h := range last.holeTimes {
				if up, d := r.upAt(l.tool, h); up {
					since = append(since, d)
				} else {
					down++
				}
			}
			p(" Of those %d, %d were committed while no %s process ran (between a stop or kill and the next start)", last.holes, down, l.tool)
			if len(since) > 0 {
				since = sortedCopy(since)
				p(" and %d while one ran, %d–%d ms after its start", len(since), since[0].Milliseconds(), since[len(since)-1].Milliseconds())
			}
			p(".\n")
			break
		}
	}
	for _, l := range r.loss {
		if n := l.count(func(x trial) bool { return x.unshipped }); n > 0 {
			p("- %s was killed before its new chain's first segment in %d trial(s): the restore then replays the previous chain, "+
				"and the loss runs back over the previous trial's restore and this start.\n", l.tool, n)
		}
	}
	for _, f := range r.final {
		switch {
		case f.err != "":
			p("- After a graceful stop (SIGTERM), the replica of %s could not be restored: %s.\n", f.tool, f.err)
		case f.missing > 0:
			p("- After a graceful stop (SIGTERM), the replica of %s lacks %d of the live database's %d ledger rows.\n", f.tool, f.missing, f.live)
		default:
			p("- After a graceful stop (SIGTERM), the replica of %s holds all %d ledger rows of the live database.\n", f.tool, f.live)
		}
	}
	if f := r.oursSteady; f.Ticks > 0 {
		p("- Ours, in the steady run (warm-up included): %d ticks, %d segments, %d full comparison(s) of the database (last reason: %q), %d error(s).\n",
			f.Ticks, f.Segments, f.FullComparisons, f.LastFullReason, f.Errors)
	}
	if f := r.oursFull; f.Ticks > 0 {
		p("- Ours, in the flat-out run (warm-up and settling included): %d ticks, %d segments, %d full comparison(s) of the database (last reason: %q), %d error(s). "+
			"A full comparison reads the whole database instead of the -wal's new frames; ours falls back to it when it cannot follow the -wal, "+
			"e.g. when the writer's own checkpoints restarted it more than once since the last tick, which a flat-out writer does many times a second.\n",
			f.Ticks, f.Segments, f.FullComparisons, f.LastFullReason, f.Errors)
	}
	p("- Lower is better in every row but the writer's throughput; the last column divides ours by Litestream's figure.\n")
	p("\n## What was measured\n\n")
	p("The database is a generated AtoCore database of %.1f MiB (`internal/sample`, seed 1), plus the bench's ledger table; "+
		"each tool and the writer-alone runs get their own fresh copy. The writer is a separate process (this program run again) using modernc.org/sqlite "+
		"in WAL mode with SQLite's defaults otherwise (synchronous FULL, wal_autocheckpoint 1000 pages, busy_timeout 10 s): "+
		"each transaction inserts one numbered row with a %d-byte blob.\n\n", mib(r.dbBytes), ledger.PayloadBytes)
	p("1. **Loss window.** The writer commits %d transactions a second and, after each commit, appends `n before after` (Unix ns around COMMIT) to a log it fsyncs. "+
		"The replicator is started, SIGKILLed after a random life of %s to %s (seed %d), and its replica restored: "+
		"ours with the library (`replica.Windows`, then `replica.PlanAt` at the newest chain's To and `Plan.Rebuild` over a copy of the base snapshot's database, as `restore --at` does), "+
		"Litestream with `litestream restore -config FILE -o OUT DB`. "+
		"The *loss* is the kill time less the commit-return time of the first logged transaction (committed before the kill) the restored database lacks; 0 when none is missing. "+
		"The *lag* is the kill time less the commit time of the first transaction after the newest one the replica holds; the two are equal unless the replica has *holes* "+
		"(transactions missing before present ones). "+
		"The replicator is then started again (ours starts a new chain on the same base snapshot at each start; Litestream resumes its replica), while the writer goes on. "+
		"The restore runs before the restart, so the commits of the restore's own time must be shipped by the next life: a kill before that shows as a longer loss, as it would in production. "+
		"At the very end, after the throughput run beside it, each replicator is stopped with SIGTERM and its replica restored once more and compared with every ledger row of the live database.\n",
		r.cfg.Rate, r.cfg.LifeMin, r.cfg.LifeMax, r.cfg.Seed)
	p("2. **CPU.** At the same steady rate, after a %s warm-up, utime+stime+cutime+cstime of the replicator's process from `/proc/PID/stat` over %s of wall time, as %% of one core.\n", r.cfg.Warmup, r.cfg.CPU)
	p("3. **Throughput.** The writer commits back to back (no sleep, no log) for %s, alone and beside each replicator in turn (alone, ours, alone, Litestream, alone), back to back; each replicator had run %s before. "+
		"Each tool's ratio is against the mean of the two writer-alone runs either side of it; the writer-alone column is the mean of all of them.\n", r.cfg.Tput, r.cfg.Warmup)
	p("4. **Peak -wal.** `os.Stat` of `DB-wal` every %s during 2 (the writer-alone column: a %s run at the same rate) and during 3.\n\n", walEvery, r.cfg.Baseline)
	p("Settings: interval %s for both tools.", r.cfg.Interval)
	if slices.Contains(r.cfg.Tools, "ours") {
		p(" Ours: `atocore-backup replicate --root ROOT --interval %s` after `atocore-backup create --root ROOT` "+
			"(the base snapshot took %s, %.1f MiB on disk); it never writes the live database and holds a read transaction only for the moment of a tick.",
			r.cfg.Interval, r.createTime.Round(time.Millisecond), mib(r.snapshotBytes))
	}
	if len(r.litestreamConfig) > 0 {
		p(" Litestream's whole configuration:\n\n```yaml\n%s```\n\n", string(r.litestreamConfig))
		p("Litestream v0.5 defaults, left as they are: `monitor-interval` 1s (WAL to its local LTX files beside the database), replica `sync-interval` 1s " +
			"(local LTX files to the replica), so a commit waits up to two intervals; it holds a long-running read transaction on the database and checkpoints itself " +
			"(PASSIVE at `min-checkpoint-page-count` 1000 pages and every `checkpoint-interval` 1m, TRUNCATE at `truncate-page-n` 121359); " +
			"compaction levels at 30s, 5m and 1h, a snapshot every 24h, L0 retention 5m; " +
			"and it adds the `_litestream_seq` and `_litestream_lock` tables to the source database.")
	}
	p("\n\n")
	p("## Kill trials\n\n")
	for _, l := range r.loss {
		p("%s (%d trials in %s):\n\n| # | life ms | loss ms | lag ms | missing of logged | in holes | restore ms | note |\n|---:|---:|---:|---:|---|---:|---:|---|\n", l.tool, len(l.trials), l.elapsed.Round(time.Second))
		for i, t := range l.trials {
			note := t.note
			if t.err != "" {
				note = "**" + t.err + "**"
			}
			holes := "0"
			if t.holes > 0 {
				holes = fmt.Sprintf("%d (n %d–%d)", t.holes, t.holeFirst, t.holeLast)
			}
			p("| %d | %.0f | %.0f | %.0f | %d of %d | %s | %.0f | %s |\n", i, ms(t.life), ms(t.loss), ms(t.lag), t.missing, t.logged, holes, ms(t.restoreTime), strings.ReplaceAll(note, "|", "/"))
		}
		p("\n")
	}
	return b.String()
}

func orDash(s string) string {
	if s == "" {
		return "–"
	}
	return s
}
