package replica

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/atocore/atocore-backup/backup"
	"github.com/atocore/atocore-backup/internal/sample"
	"github.com/atocore/atocore-backup/internal/sqlitedb"
	"github.com/atocore/atocore-backup/internal/testutil"
	"github.com/atocore/atocore-backup/restore"
)

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// BenchmarkRestoreAtDay is issue 19's restore goal: a database of
// ATOCORE_BENCH_DB_MIB (default 64), a day (ATOCORE_BENCH_HOURS, default
// 24) of 10 transactions a second replayed through the follower one tick
// per second (on a clock of its own: the day takes minutes), then the CLI
// restores the database as of the day's end (restore --at) and, for
// comparison, a plain snapshot of that same database (restore STAMP).
// It reports both times, their ratio (goal ≤ 1.5) and each restore's
// peak RSS (goal under 100 MiB).
//
// ATOCORE_BENCH_DAY_DIR keeps the generated root in that directory and
// reuses it on the next run (a restore leaves the database as it found
// it); ATOCORE_BENCH_INPROCESS=1 restores through the library in this
// process instead of the CLI, so that -cpuprofile sees the restores
// (times only: no RSS); ATOCORE_BENCH_CLI names a CLI to run instead of
// the one built from this module (another commit's, to compare).
//
//	ATOCORE_BENCH_DB_MIB=1024 go test -run '^$' -bench RestoreAtDay -benchtime 1x -timeout 60m ./replica/
//	ATOCORE_BENCH_DAY_DIR=/var/tmp/day ATOCORE_BENCH_INPROCESS=1 go test -run '^$' -bench RestoreAtDay -benchtime 5x -cpuprofile /tmp/at.prof ./replica/
func BenchmarkRestoreAtDay(b *testing.B) {
	d := dayRoot(b)
	r := d.root
	inProcess := os.Getenv("ATOCORE_BENCH_INPROCESS") == "1"
	var cli, gnuTime, rssFile string
	if !inProcess {
		cli = os.Getenv("ATOCORE_BENCH_CLI") // another build's CLI, to compare
		if cli == "" {
			cli = filepath.Join(b.TempDir(), "atocore-backup")
			if out, err := exec.Command("go", "build", "-o", cli, "github.com/atocore/atocore-backup/examples/atocore-backup").CombinedOutput(); err != nil {
				b.Fatalf("build the CLI: %v\n%s", err, out)
			}
		}
		// Peak RSS is GNU time's: the ru_maxrss this process would read
		// from wait4 is never below its own peak (hundreds of MiB after
		// the day), because Linux charges it to a child at exec (Go starts
		// children sharing its memory, CLONE_VM).
		var err error
		if gnuTime, err = exec.LookPath("/usr/bin/time"); err != nil {
			b.Fatalf("GNU time measures the restores' peak RSS: %v (Debian package time)", err)
		}
		rssFile = filepath.Join(b.TempDir(), "rss")
	}
	ctx := context.Background()
	run := func(stamp string, at time.Time) (time.Duration, int64) {
		t := time.Now()
		var rss int64
		if inProcess {
			opts := restore.Options{ConfirmServiceStopped: true, NoPreSnapshot: true}
			if !at.IsZero() {
				p, err := PlanAt(ctx, r.BackupDir, at)
				if err != nil {
					b.Fatal(err)
				}
				stamp, opts.Rebuild = p.Window.Base, p.Rebuild
			}
			if _, err := restore.Run(ctx, testutil.Config(r), stamp, opts); err != nil {
				b.Fatal(err)
			}
		} else {
			args := []string{"restore", stamp}
			if !at.IsZero() {
				args = []string{"restore", "--at", at.Format(time.RFC3339Nano)}
			}
			cmd := exec.Command(gnuTime, append([]string{"-f", "%M", "-o", rssFile, cli}, append(args, "--confirm-service-stopped", "--no-pre-snapshot", "--root", r.Dir, "-v")...)...)
			out, err := cmd.CombinedOutput()
			if err != nil {
				b.Fatalf("%v: %v\n%s", args, err, out)
			}
			if dir := os.Getenv("ATOCORE_BENCH_LOGDIR"); dir != "" {
				_ = os.WriteFile(filepath.Join(dir, fmt.Sprintf("%s-%d.log", args[1][:2], time.Now().UnixNano())), out, 0o644)
			}
			kib, err := os.ReadFile(rssFile)
			if err != nil {
				b.Fatal(err)
			}
			if rss, err = strconv.ParseInt(strings.TrimSpace(string(kib)), 10, 64); err != nil {
				b.Fatalf("GNU time wrote %q: %v", kib, err)
			}
			rss <<= 10
		}
		elapsed := time.Since(t)
		if testutil.Fingerprint(b, r.DBPath) != d.Want {
			b.Fatalf("restore %s (at %v) restored another database", stamp, at)
		}
		return elapsed, rss
	}
	// The metrics are the medians of the iterations (ReportMetric keeps
	// only the last value it is given).
	var plains, pits, ratios, plainRSSs, pitRSSs []float64
	b.ResetTimer()
	for b.Loop() {
		plain, plainRSS := run(d.End, time.Time{})
		pit, pitRSS := run("", d.At)
		plains, pits, ratios = append(plains, plain.Seconds()), append(pits, pit.Seconds()), append(ratios, pit.Seconds()/plain.Seconds())
		plainRSSs, pitRSSs = append(plainRSSs, float64(plainRSS)/(1<<20)), append(pitRSSs, float64(pitRSS)/(1<<20))
		b.ReportMetric(median(plains), "plain-s")
		b.ReportMetric(median(pits), "at-s")
		b.ReportMetric(median(ratios), "ratio")
		if !inProcess {
			b.ReportMetric(slices.Max(pitRSSs), "at-rss-MiB")
			b.ReportMetric(slices.Max(plainRSSs), "plain-rss-MiB")
		}
		b.Logf("base %s; restore %s: %s (%d MiB RSS); restore --at %s: %s (%d MiB RSS); ratio %.2f",
			d.Base, d.End, plain.Round(time.Millisecond), plainRSS>>20, d.At.Format(time.RFC3339Nano), pit.Round(time.Millisecond), pitRSS>>20, pit.Seconds()/plain.Seconds())
	}
}

// day is the root BenchmarkRestoreAtDay restores: its base snapshot, the
// snapshot of its end state, the time of the day's end and the
// fingerprint of the database then.
type day struct {
	root *sample.Root
	Base string    `json:"base"`
	End  string    `json:"end"`
	At   time.Time `json:"at"`
	Want string    `json:"want"`
}

// dayRoot generates the day's root, or reuses the one that
// ATOCORE_BENCH_DAY_DIR holds.
func dayRoot(b *testing.B) *day {
	mib, hours, tps := envInt("ATOCORE_BENCH_DB_MIB", 64), envInt("ATOCORE_BENCH_HOURS", 24), 10
	keep := os.Getenv("ATOCORE_BENCH_DAY_DIR")
	dir := filepath.Join(b.TempDir(), "root")
	if keep != "" {
		dir = filepath.Join(keep, fmt.Sprintf("root-%dmib-%dh", mib, hours))
		var d day
		if js, err := os.ReadFile(dir + ".json"); err == nil && json.Unmarshal(js, &d) == nil {
			d.root = &sample.Root{Dir: dir, DBPath: filepath.Join(dir, "data", "db", "atocore.db"),
				RegistryPath: filepath.Join(dir, "config", "project-registry.json"), BackupDir: filepath.Join(dir, "backups")}
			b.Logf("reusing the day in %s", dir)
			return &d
		}
		if err := os.RemoveAll(dir); err != nil {
			b.Fatal(err)
		}
	}
	ctx := context.Background()
	r, err := sample.Generate(ctx, dir, sample.Options{DBBytes: int64(mib) << 20, ChromaBytes: -1, Seed: 3})
	if err != nil {
		b.Fatal(err)
	}
	db, err := sql.Open("sqlite", "file:"+r.DBPath+"?_pragma=busy_timeout(10000)&_pragma=synchronous(off)")
	if err != nil {
		b.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	if _, err := db.Exec("CREATE TABLE ledger (n INTEGER PRIMARY KEY, t TEXT, payload BLOB)"); err != nil {
		b.Fatal(err)
	}
	base := testutil.Create(b, r, backup.CreateOptions{})
	cfg := testutil.Config(r)
	rep, err := New(cfg, Options{Interval: time.Second})
	if err != nil {
		b.Fatal(err)
	}
	ch, tbl, err := rep.startChain(ctx)
	if err != nil {
		b.Fatal(err)
	}
	f, err := openFollower(ctx, r.DBPath, tbl)
	if err != nil {
		b.Fatal(err)
	}
	syncSegments = false // the day is generated fast; the restore is what is measured
	defer func() { syncSegments = true }()
	start := time.Now().Truncate(time.Second)
	var now time.Time
	f.clock = func() time.Time { return now }
	t0 := time.Now()
	n := 0
	for sec := range hours * 3600 {
		for range tps {
			n++
			if _, err := db.Exec("INSERT INTO ledger (n, t, payload) VALUES (?, ?, randomblob(200))", n, fmt.Sprint(sec)); err != nil {
				b.Fatal(err)
			}
		}
		now = start.Add(time.Duration(sec) * time.Second)
		if err := rep.tick(ctx, f, ch); err != nil {
			b.Fatal(err)
		}
	}
	ch.comp.wait()
	f.close()
	db.Close()
	st := rep.Status()
	b.Logf("a day: %d transactions, %d segments (%d MiB), %d full comparisons, generated in %s", n, st.Segments, st.SegmentBytes>>20, st.FullComparisons, time.Since(t0).Round(time.Second))
	ws, err := Windows(ctx, r.BackupDir)
	if err != nil || len(ws) != 1 {
		b.Fatalf("windows %v: %v", ws, err)
	}
	b.Logf("files per level: %v", ws[0].Files)
	end := testutil.Create(b, r, backup.CreateOptions{}) // the same database, as a plain snapshot
	d := &day{root: r, Base: base.Stamp, End: end.Stamp, At: ws[0].To, Want: testutil.Fingerprint(b, r.DBPath)}
	sqlitedb.CloseLiveFile(r.DBPath) // this process must not hold the database the CLI restores
	if keep != "" {
		js, err := json.Marshal(d)
		if err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(dir+".json", js, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	return d
}

// median is the middle value of v (the mean of the middle two).
func median(v []float64) float64 {
	s := slices.Sorted(slices.Values(v))
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
