package main

import (
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/atocore/atocore-backup/internal/ledger"
)

// The writer is a process of its own: this program (or its test binary)
// run again with writerEnv set, so that the replicator under test, the
// writer and the bench are three processes as in production.
//
//	ledger DB LOG EVERY MAX  commit one numbered row every EVERY, and after
//	                         each commit append "n before after" (Unix ns
//	                         around COMMIT) to LOG, synced: the log is the
//	                         truth of what was committed when. Runs until
//	                         killed, or MAX at the latest.
//	flat DB - 0 DUR          commit rows back to back, no sleep and no log,
//	                         for DUR, then print "count elapsed_ns p50_ns
//	                         p99_ns max_ns" (commit latencies) and exit.
const writerEnv = "ATOCORE_BENCH_REPLICATE_WRITER"

// ledgerTable is the table both writers insert into.
const ledgerTable = "bench_ledger"

// writerMain is the writer process; it never returns.
func writerMain() {
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "bench writer:", err)
		os.Exit(1)
	}
	args := strings.Fields(os.Getenv(writerEnv))
	if len(args) != 5 {
		fmt.Fprintln(os.Stderr, "bench writer: want MODE DB LOG EVERY DURATION")
		os.Exit(2)
	}
	mode, dbPath, logPath := args[0], args[1], args[2]
	every, err := time.ParseDuration(args[3])
	if err != nil {
		fail(err)
	}
	limit, err := time.ParseDuration(args[4])
	if err != nil {
		fail(err)
	}
	w, err := ledger.Open(dbPath, ledgerTable)
	if err != nil {
		fail(err)
	}

	switch mode {
	case "ledger":
		if err := w.Run(logPath, every, time.Now().Add(limit)); err != nil {
			fail(err)
		}
		os.Exit(0)
	case "flat":
		lat := make([]time.Duration, 0, 1<<16)
		start := time.Now()
		end := start.Add(limit)
		for time.Now().Before(end) {
			t0 := time.Now()
			if _, _, _, err := w.Commit(); err != nil {
				fail(err)
			}
			lat = append(lat, time.Since(t0))
		}
		elapsed := time.Since(start)
		slices.Sort(lat)
		fmt.Printf("%d %d %d %d %d\n", len(lat), elapsed.Nanoseconds(),
			quantile(lat, 0.50).Nanoseconds(), quantile(lat, 0.99).Nanoseconds(), quantile(lat, 1).Nanoseconds())
		if err := w.Close(); err != nil {
			fail(err)
		}
		os.Exit(0)
	}
	fmt.Fprintf(os.Stderr, "bench writer: unknown mode %q\n", mode)
	os.Exit(2)
}

// writerCmd is the command of a writer process.
func writerCmd(self, mode, db, log string, every, limit time.Duration) *exec.Cmd {
	cmd := exec.Command(self, "-test.run=^$") // the flag is for a test binary; main ignores it
	cmd.Env = append(os.Environ(), writerEnv+"="+strings.Join([]string{mode, db, log, every.String(), limit.String()}, " "))
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return cmd
}
