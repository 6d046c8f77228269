package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestEndToEnd runs the whole comparison at 4 MiB, one run, every tool
// installed, on every shape: a few minutes. It only runs with ATOCORE_BENCH_COMPARE=1,
// so that go test ./bench/... stays fast.
func TestEndToEnd(t *testing.T) {
	if os.Getenv("ATOCORE_BENCH_COMPARE") != "1" {
		t.Skip("set ATOCORE_BENCH_COMPARE=1 to run the whole comparison at 4 MiB (about a minute)")
	}
	out := t.TempDir()
	var stderr bytes.Buffer
	code := run(context.Background(), []string{"-sizes", "4", "-runs", "1", "-shapes", "random,text,many", "-out", out}, &stderr)
	t.Logf("stderr:\n%s", stderr.String())
	if code != exitOK {
		t.Fatalf("exit code %d; want 0", code)
	}
	res, err := readResults(out)
	if err != nil {
		t.Fatal(err)
	}
	if os.Getenv("ATOCORE_REQUIRE_TOOLS") == "1" && !slices.ContainsFunc(res.Config.Ops, op.s3) {
		t.Error("the S3 operations did not run (ATOCORE_REQUIRE_TOOLS=1: versitygw must be installed)")
	}
	for _, o := range res.Config.Ops {
		found := map[string]bool{}
		for _, m := range res.Measurements {
			if m.Tool == toolOurs && m.Op == o && m.ok() && m.WallSeconds > 0 && m.CPUPercent > 0 {
				found[m.Shape] = true
			}
			if o.network() && m.Op == o && m.ok() && m.SentBytes <= 0 {
				t.Errorf("%s %s: no bytes sent through the proxy", m.Tool, o)
			}
		}
		for _, shape := range []string{"random", "text", "many"} {
			if !found[shape] {
				t.Errorf("no successful measurement (with CPU %%) of ours' %s on the %s shape", o, shape)
			}
		}
	}
	for _, tool := range res.Config.Tools {
		n := 0
		for _, m := range res.Measurements {
			if m.Tool == tool {
				n++
			}
		}
		spec, _ := specFor(tool)
		want := 0
		for _, o := range spec.ops {
			if slices.Contains(res.Config.Ops, o) {
				want += 3
			}
		}
		if n != want {
			t.Errorf("%s: %d measurements; want one per operation and shape, %d", tool, n, want)
		}
	}
	md, err := os.ReadFile(filepath.Join(out, "results.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(md), "| full backup | ours |") {
		t.Errorf("results.md has no row for ours' full backup:\n%s", md)
	}
	svg, err := os.ReadFile(filepath.Join(out, "compare.svg"))
	if err != nil {
		t.Fatal(err)
	}
	if got := panels(t, svg); len(got) != len(res.Config.Ops) {
		t.Errorf("compare.svg has %d panels; want %d", len(got), len(res.Config.Ops))
	}
	if n := bytes.Count(svg, []byte(`data-shape="many"`)); n != len(res.Config.Ops) {
		t.Errorf("compare.svg has %d panels of the many shape; want %d", n, len(res.Config.Ops))
	}

	// -plot-only redraws the same report from results.json.
	if err := os.Remove(filepath.Join(out, "results.md")); err != nil {
		t.Fatal(err)
	}
	if code := run(context.Background(), []string{"-plot-only", "-out", out}, &stderr); code != exitOK {
		t.Fatalf("-plot-only: exit code %d", code)
	}
	again, err := os.ReadFile(filepath.Join(out, "results.md"))
	if err != nil || !bytes.Equal(again, md) {
		t.Errorf("-plot-only wrote a different results.md (%v)", err)
	}
}
