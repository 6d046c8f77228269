package main

import (
	"math"
	"slices"
	"testing"
)

func TestMedian(t *testing.T) {
	cases := []struct {
		in   []float64
		want float64
		ok   bool
	}{
		{nil, 0, false},
		{[]float64{3}, 3, true},
		{[]float64{3, 1, 2}, 2, true},
		{[]float64{4, 1, 3, 2}, 2.5, true},
		{[]float64{1.5, 1.5}, 1.5, true},
	}
	for _, c := range cases {
		in := slices.Clone(c.in)
		got, ok := median(in)
		if got != c.want || ok != c.ok {
			t.Errorf("median(%v) = %v, %v; want %v, %v", c.in, got, ok, c.want, c.ok)
		}
		if !slices.Equal(in, c.in) {
			t.Errorf("median(%v) reordered its input to %v", c.in, in)
		}
	}
}

func TestRatio(t *testing.T) {
	if r, ok := ratio(1, 4); !ok || r != 0.25 {
		t.Errorf("ratio(1, 4) = %v, %v; want 0.25, true", r, ok)
	}
	for _, c := range [][2]float64{{1, 0}, {1, -1}, {math.NaN(), 1}, {1, math.NaN()}} {
		if _, ok := ratio(c[0], c[1]); ok {
			t.Errorf("ratio(%v, %v) is ok; want not ok", c[0], c[1])
		}
	}
}

func TestRunOrderAlternates(t *testing.T) {
	tools := []string{"a", "b", "c", "d"}
	if got := runOrder(tools, 0); !slices.Equal(got, tools) {
		t.Errorf("run 0: %v; want %v", got, tools)
	}
	if got, want := runOrder(tools, 1), []string{"d", "c", "b", "a"}; !slices.Equal(got, want) {
		t.Errorf("run 1: %v; want the reverse, %v", got, want)
	}
	first, last := map[string]bool{}, map[string]bool{}
	for r := range 2 * len(tools) {
		o := runOrder(tools, r)
		if len(o) != len(tools) {
			t.Fatalf("run %d: %v lost tools", r, o)
		}
		sorted := slices.Sorted(slices.Values(o))
		if !slices.Equal(sorted, tools) {
			t.Fatalf("run %d: %v is not a permutation", r, o)
		}
		first[o[0]], last[o[len(o)-1]] = true, true
	}
	if len(first) != len(tools) || len(last) != len(tools) {
		t.Errorf("over %d runs the first tools were %v and the last %v; want every tool in both", 2*len(tools), first, last)
	}
}

func TestSummarize(t *testing.T) {
	ms := []measurement{
		{SizeMiB: 16, Run: 2, Tool: "restic", Op: opFull, WallSeconds: 3, UserSeconds: 1, MaxRSSKiB: 100, DiskGrowthBytes: 10},
		{SizeMiB: 16, Run: 1, Tool: "restic", Op: opFull, WallSeconds: 1, UserSeconds: 2, SysSeconds: 1, MaxRSSKiB: 300, DiskGrowthBytes: 30},
		{SizeMiB: 16, Run: 3, Tool: "restic", Op: opFull, Error: "boom"},
		{SizeMiB: 16, Run: 1, Tool: toolOurs, Op: opFull, WallSeconds: 1},
	}
	sums := summarize(ms)
	s := sums[key{"random", 16, opFull, "restic"}]
	if s == nil {
		t.Fatal("no summary for restic full at 16 MiB")
	}
	if s.runs != 2 || s.failed != 1 {
		t.Errorf("runs %d, failed %d; want 2, 1", s.runs, s.failed)
	}
	if s.wall != 2 || s.cpu != 2 || s.diskGrowth != 20 || s.peakRSSKiB != 300 {
		t.Errorf("wall %v cpu %v disk %v rss %v; want 2 2 20 300", s.wall, s.cpu, s.diskGrowth, s.peakRSSKiB)
	}
	// CPU % is the median of each run's own ratio: 1 s of 3 and 3 s of 1.
	if want := (100.0/3 + 300) / 2; math.Abs(s.cpuPercent-want) > 1e-9 {
		t.Errorf("cpu %% %v; want %v, the median of 33.3 and 300", s.cpuPercent, want)
	}
	if len(s.walls) != 3 || s.walls[0] != 1 || s.walls[1] != 3 || !math.IsNaN(s.walls[2]) {
		t.Errorf("walls %v; want [1 3 NaN] in run order", s.walls)
	}
	a, b, ok := wallRatios(sums, "random", 16, opFull, "restic")
	if !ok || a != 0.5 || b != 2 {
		t.Errorf("wallRatios = %v, %v, %v; want 0.5 (ours/restic), 2 (restic/ours), true", a, b, ok)
	}
	if _, _, ok := wallRatios(sums, "random", 16, opCheck, "restic"); ok {
		t.Error("wallRatios of an operation without measurements is ok")
	}
}
