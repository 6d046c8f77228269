package main

import (
	"math"
	"slices"
)

// median returns the median of xs (the mean of the middle two for an even
// count), and false for none.
func median(xs []float64) (float64, bool) {
	if len(xs) == 0 {
		return 0, false
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2], true
	}
	return (s[n/2-1] + s[n/2]) / 2, true
}

// ratio returns a/b, and false when b is not positive (nothing to
// compare against) or either is not a number.
func ratio(a, b float64) (float64, bool) {
	if b <= 0 || math.IsNaN(a) || math.IsNaN(b) {
		return 0, false
	}
	return a / b, true
}

// key identifies one cell of the report: a shape, a size, an operation,
// a tool.
type key struct {
	shape string
	size  int
	op    op
	tool  string
}

// summary condenses the runs of one key.
type summary struct {
	runs   int // successful runs
	failed int
	// Medians over the successful runs.
	wall, cpu, serverCPU float64
	cpuPercent           float64 // of one core: 200 is two cores busy
	diskGrowth, ioWrite  float64
	sent, received       float64
	reportedSent         float64
	peakRSSKiB           int64     // the largest of the runs
	walls                []float64 // every run in run order; NaN for a failure
}

// summarize groups measurements by key.
func summarize(ms []measurement) map[key]*summary {
	type acc struct {
		wall, cpu, cpuPct, server, disk, io, sent, received, reported []float64
	}
	sums := map[key]*summary{}
	accs := map[key]*acc{}
	order := slices.Clone(ms)
	slices.SortStableFunc(order, func(a, b measurement) int { return a.Run - b.Run })
	for _, m := range order {
		k := key{shapeOf(m), m.SizeMiB, m.Op, m.Tool}
		s, a := sums[k], accs[k]
		if s == nil {
			s, a = &summary{}, &acc{}
			sums[k], accs[k] = s, a
		}
		if !m.ok() {
			s.failed++
			s.walls = append(s.walls, math.NaN())
			continue
		}
		s.runs++
		s.walls = append(s.walls, m.WallSeconds)
		s.peakRSSKiB = max(s.peakRSSKiB, m.MaxRSSKiB)
		a.wall = append(a.wall, m.WallSeconds)
		a.cpu = append(a.cpu, m.cpuSeconds())
		a.cpuPct = append(a.cpuPct, cpuPercent(m.cpuSeconds(), m.WallSeconds))
		a.server = append(a.server, m.ServerCPUSeconds)
		a.disk = append(a.disk, float64(m.DiskGrowthBytes))
		a.io = append(a.io, float64(m.IOWriteBytes))
		a.sent = append(a.sent, float64(m.SentBytes))
		a.received = append(a.received, float64(m.ReceivedBytes))
		a.reported = append(a.reported, float64(m.ReportedSentBytes))
	}
	for k, s := range sums {
		a := accs[k]
		s.wall, _ = median(a.wall)
		s.cpu, _ = median(a.cpu)
		s.cpuPercent, _ = median(a.cpuPct)
		s.serverCPU, _ = median(a.server)
		s.diskGrowth, _ = median(a.disk)
		s.ioWrite, _ = median(a.io)
		s.sent, _ = median(a.sent)
		s.received, _ = median(a.received)
		s.reportedSent, _ = median(a.reported)
	}
	return sums
}

// shapeOf is a measurement's shape; "" (format 1) is the random shape.
func shapeOf(m measurement) string {
	if m.Shape == "" {
		return "random"
	}
	return m.Shape
}

// wallRatios returns ours' median wall time over the tool's (below 1:
// ours is faster) and the inverse, for one shape, size and operation.
func wallRatios(sums map[key]*summary, shape string, size int, o op, tool string) (oursOverTool, toolOverOurs float64, ok bool) {
	ours, t := sums[key{shape, size, o, toolOurs}], sums[key{shape, size, o, tool}]
	if ours == nil || t == nil || ours.runs == 0 || t.runs == 0 {
		return 0, 0, false
	}
	a, ok1 := ratio(ours.wall, t.wall)
	b, ok2 := ratio(t.wall, ours.wall)
	return a, b, ok1 && ok2
}

// runOrder returns the order of the tools in run r (0-based): rotated by
// r/2 and reversed on odd runs, so that over the runs each tool goes first
// and last, and drift on the machine hits all of them.
func runOrder(tools []string, r int) []string {
	n := len(tools)
	out := make([]string, n)
	for i := range n {
		out[i] = tools[(i+r/2)%n]
	}
	if r%2 == 1 {
		slices.Reverse(out)
	}
	return out
}
