package replica

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/atocore/atocore-backup/backup"
	"github.com/atocore/atocore-backup/internal/sample"
	"github.com/atocore/atocore-backup/internal/sqlitedb"
	"github.com/atocore/atocore-backup/internal/testutil"
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
//	ATOCORE_BENCH_DB_MIB=1024 go test -run '^$' -bench RestoreAtDay -benchtime 1x -timeout 60m ./replica/
func BenchmarkRestoreAtDay(b *testing.B) {
	mib, hours, tps := envInt("ATOCORE_BENCH_DB_MIB", 64), envInt("ATOCORE_BENCH_HOURS", 24), 10
	ctx := context.Background()
	r, err := sample.Generate(ctx, filepath.Join(b.TempDir(), "root"), sample.Options{DBBytes: int64(mib) << 20, ChromaBytes: -1, Seed: 3})
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
	want := testutil.Fingerprint(b, r.DBPath)

	sqlitedb.CloseLiveFile(r.DBPath) // this process must not hold the database the CLI restores
	cli := filepath.Join(b.TempDir(), "atocore-backup")
	if out, err := exec.Command("go", "build", "-o", cli, "github.com/atocore/atocore-backup/examples/atocore-backup").CombinedOutput(); err != nil {
		b.Fatalf("build the CLI: %v\n%s", err, out)
	}
	run := func(args ...string) (time.Duration, int64) {
		cmd := exec.Command(cli, append(args, "--confirm-service-stopped", "--no-pre-snapshot", "--root", r.Dir, "-v")...)
		t := time.Now()
		out, err := cmd.CombinedOutput()
		if err != nil {
			b.Fatalf("%v: %v\n%s", args, err, out)
		}
		if dir := os.Getenv("ATOCORE_BENCH_LOGDIR"); dir != "" {
			_ = os.WriteFile(filepath.Join(dir, fmt.Sprintf("%s-%d.log", args[1][:2], time.Now().UnixNano())), out, 0o644)
		}
		d := time.Since(t)
		if testutil.Fingerprint(b, r.DBPath) != want {
			b.Fatalf("%v restored another database", args)
		}
		return d, cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss << 10
	}
	at := ws[0].To.Format(time.RFC3339Nano)
	b.ResetTimer()
	for b.Loop() {
		plain, plainRSS := run("restore", end.Stamp)
		pit, pitRSS := run("restore", "--at", at)
		b.ReportMetric(plain.Seconds(), "plain-s")
		b.ReportMetric(pit.Seconds(), "at-s")
		b.ReportMetric(pit.Seconds()/plain.Seconds(), "ratio")
		b.ReportMetric(float64(pitRSS)/(1<<20), "at-rss-MiB")
		b.ReportMetric(float64(plainRSS)/(1<<20), "plain-rss-MiB")
		b.Logf("base %s; restore %s: %s (%d MiB RSS); restore --at %s: %s (%d MiB RSS); ratio %.2f",
			base.Stamp, end.Stamp, plain.Round(time.Millisecond), plainRSS>>20, at, pit.Round(time.Millisecond), pitRSS>>20, pit.Seconds()/plain.Seconds())
	}
}
