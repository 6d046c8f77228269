package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestMain(m *testing.M) {
	if os.Getenv(writerEnv) != "" {
		writerMain() // the writer process of the bench; never returns
	}
	os.Exit(m.Run())
}

// TestBrief runs the whole bench briefly, on a small database, so that it
// cannot rot: ours always, Litestream when its binary is found.
func TestBrief(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the CLI and runs replicators for about half a minute")
	}
	tools := []string{"ours"}
	if _, err := findLitestream(context.Background()); err == nil {
		tools = append(tools, "litestream")
	} else if os.Getenv("ATOCORE_REQUIRE_TOOLS") == "1" {
		t.Fatal(err)
	} else {
		t.Log("litestream not installed: running ours only")
	}
	if _, err := exec.LookPath("go"); err != nil {
		t.Fatal("no go tool to build the CLI with: the brief run builds it")
	}
	out := filepath.Join(t.TempDir(), "results.md")
	cfg := config{
		Trials: 2, DBMiB: 2, Rate: 100, Interval: 500 * time.Millisecond,
		CPU: time.Second, Warmup: time.Second, Baseline: time.Second, Tput: time.Second,
		LifeMin: 1100 * time.Millisecond, LifeMax: 1500 * time.Millisecond, Seed: 19,
		Tools: tools, Work: t.TempDir(), Out: out, Timeout: 3 * time.Minute,
		CommandLine: "go test ./bench/replicate",
	}
	res, err := run(context.Background(), cfg)
	if res != nil {
		t.Log("\n" + res.table())
	}
	if err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| loss window p50 (first missing) |", "| replicator CPU at 100 tx/s |", "| writer flat out, with/without (the runs alone either side) |", "| peak -wal at 100 tx/s |"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("the results lack the row %q", want)
		}
	}
	if len(res.loss) != len(tools) || len(res.tput) != 2*len(tools)+1 || len(res.steady) != len(tools)+1 {
		t.Fatalf("%d loss, %d throughput, %d steady results for %d tools", len(res.loss), len(res.tput), len(res.steady), len(tools))
	}
	for _, l := range res.loss {
		if len(l.trials) != cfg.Trials {
			t.Errorf("%s: %d trials, want %d", l.tool, len(l.trials), cfg.Trials)
		}
		if l.tool != "ours" {
			continue
		}
		for i, tr := range l.trials {
			if tr.err != "" {
				t.Errorf("ours, trial %d: %s", i, tr.err)
			}
		}
	}
	for _, r := range res.tput {
		if r.commits == 0 {
			t.Errorf("%s: the flat-out writer committed nothing", r.tool)
		}
	}
}
