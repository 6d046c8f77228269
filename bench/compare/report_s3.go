package main

import (
	"fmt"
	"math"
	"slices"
	"strings"
)

// Issue 18's goals for the S3 push.
const (
	goalS3OverRclone   = 1.25 // ours' full push ÷ rclone copy of the plaintext snapshot, at most
	goalS3OverRestic   = 1.0  // ours' full push ÷ restic backup, at most
	goalS3IncrRequests = 0.05 // incremental push requests ÷ full push requests, under
	goalS3RSSMiB       = 150  // peak RSS of ours' pushes, under
	// goalS3IncrBytes bounds incremental bytes sent ÷ changed files'
	// bytes: the changed files only, plus what cannot be avoided (age's
	// 16 bytes per 64 KiB, request headers, the signed statement and
	// manifest).
	goalS3IncrBytes = 1.05
)

// s3TableHeader are the columns of the S3 table. Requests are medians of
// each kind separately, so they need not add up to the total's median.
const s3TableHeader = "| operation | tool | median wall s | ours ÷ tool | peak RSS MiB | CPU % | server CPU s | sent MiB | received MiB | requests | PUT | COPY | POST | GET | HEAD | DELETE | runs: wall s |\n" +
	"| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n"

// renderS3 is one shape and size's S3 section: the table and the goal
// lines; "" without S3 measurements.
func renderS3(res *results, shape string, size int) string {
	ms := s3Measurements(res.Measurements, shape, size)
	if len(ms) == 0 {
		return ""
	}
	sums := summarize(ms)
	var b strings.Builder
	fmt.Fprintf(&b, "### Off-site push to S3, %s (versitygw on loopback)\n\n", sizeLabel(size))
	b.WriteString(s3TableHeader)
	for _, o := range s3Ops {
		for _, t := range res.Config.Tools {
			if s := sums[key{shape, size, o, t}]; s != nil {
				b.WriteString(renderS3Row(sums, ms, shape, size, o, t, s))
			}
		}
	}
	b.WriteString("\nGoals (issue 18):\n\n")
	for _, g := range s3Goals(ms) {
		b.WriteString("- " + g.String() + "\n")
	}
	b.WriteString("\n")
	return b.String()
}

// s3Measurements are the S3 measurements of one shape and size.
func s3Measurements(all []measurement, shape string, size int) []measurement {
	var ms []measurement
	for _, m := range all {
		if m.Op.s3() && shapeOf(m) == shape && m.SizeMiB == size {
			ms = append(ms, m)
		}
	}
	return ms
}

func renderS3Row(sums map[key]*summary, ms []measurement, shape string, size int, o op, tool string, s *summary) string {
	const none = "—"
	cells := []string{o.title(), tool}
	if s.runs == 0 {
		for range 14 {
			cells = append(cells, "failed")
		}
	} else {
		r := none
		if tool == toolOurs {
			r = "1"
		} else if a, _, ok := wallRatios(sums, shape, size, o, tool); ok {
			r = fmt.Sprintf("%.2f", a)
		}
		q := medianRequests(ms, o, tool)
		cells = append(cells, fmt.Sprintf("%.2f", s.wall), r,
			fmt.Sprintf("%.1f", float64(s.peakRSSKiB)/1024), fmt.Sprintf("%.0f", s.cpuPercent),
			fmt.Sprintf("%.2f", s.serverCPU), fmt.Sprintf("%.1f", mib(s.sent)), fmt.Sprintf("%.1f", mib(s.received)))
		for _, v := range []float64{q.Total, q.Put, q.Copy, q.Post, q.Get, q.Head, q.Delete} {
			cells = append(cells, fmt.Sprintf("%.0f", v))
		}
	}
	walls := make([]string, len(s.walls))
	for i, w := range s.walls {
		if math.IsNaN(w) {
			walls[i] = "failed"
		} else {
			walls[i] = fmt.Sprintf("%.2f", w)
		}
	}
	cells = append(cells, strings.Join(walls, ", "))
	return "| " + strings.Join(cells, " | ") + " |\n"
}

// requestMedians are the medians, kind by kind, of the requests of the
// successful runs of one operation and tool.
type requestMedians struct{ Total, Put, Copy, Post, Get, Head, Delete float64 }

func medianRequests(ms []measurement, o op, tool string) requestMedians {
	var cols [7][]float64
	for _, m := range ms {
		if m.Op != o || m.Tool != tool || !m.ok() || m.Requests == nil {
			continue
		}
		r := m.Requests
		for i, v := range []int64{r.Total, r.Put, r.Copy, r.Post, r.Get, r.Head, r.Delete} {
			cols[i] = append(cols[i], float64(v))
		}
	}
	var out [7]float64
	for i := range cols {
		out[i], _ = median(cols[i])
	}
	return requestMedians{out[0], out[1], out[2], out[3], out[4], out[5], out[6]}
}

// goalLine is one of issue 18's goals against the measurements: the
// median value, every run's own value, and whether the median meets it.
type goalLine struct {
	name   string
	value  float64
	perRun []float64
	ok     bool // there is a value
	goal   string
	met    bool
	detail string // what the value is made of
}

func (g goalLine) String() string {
	if !g.ok {
		return fmt.Sprintf("%s: no measurement (goal %s)", g.name, g.goal)
	}
	runs := make([]string, len(g.perRun))
	for i, v := range g.perRun {
		runs[i] = fmt.Sprintf("%.3g", v)
	}
	verdict := "**missed**"
	if g.met {
		verdict = "met"
	}
	s := fmt.Sprintf("%s: %.3g (runs: %s), goal %s: %s", g.name, g.value, strings.Join(runs, ", "), g.goal, verdict)
	if g.detail != "" {
		s += " — " + g.detail
	}
	return s
}

// s3Goals computes the goal lines of one shape and size's S3
// measurements. Ratios are taken run by run (both sides of a run measured
// minutes apart, in alternating order) and the median of the runs' ratios
// is the value.
func s3Goals(ms []measurement) []goalLine {
	byRun := map[int]map[op]map[string]measurement{}
	var runs []int
	for _, m := range ms {
		if !m.ok() {
			continue
		}
		if byRun[m.Run] == nil {
			byRun[m.Run] = map[op]map[string]measurement{}
			runs = append(runs, m.Run)
		}
		if byRun[m.Run][m.Op] == nil {
			byRun[m.Run][m.Op] = map[string]measurement{}
		}
		byRun[m.Run][m.Op][m.Tool] = m
	}
	slices.Sort(runs)
	// perRun collects f of every run where it has a value.
	perRun := func(f func(map[op]map[string]measurement) (float64, bool)) []float64 {
		var vs []float64
		for _, r := range runs {
			if v, ok := f(byRun[r]); ok {
				vs = append(vs, v)
			}
		}
		return vs
	}
	line := func(name, goal string, vs []float64, meets func(float64) bool) goalLine {
		g := goalLine{name: name, goal: goal, perRun: vs}
		g.value, g.ok = median(vs)
		g.met = g.ok && meets(g.value)
		return g
	}
	wallRatio := func(tool string) func(map[op]map[string]measurement) (float64, bool) {
		return func(r map[op]map[string]measurement) (float64, bool) {
			a, okA := r[opPushS3Full][toolOurs]
			b, okB := r[opPushS3Full][tool]
			if !okA || !okB {
				return 0, false
			}
			return ratio(a.WallSeconds, b.WallSeconds)
		}
	}
	var goals []goalLine
	goals = append(goals,
		line("ours ÷ restic, full push (wall)", fmt.Sprintf("≤ %.2f", goalS3OverRestic), perRun(wallRatio("restic")),
			func(v float64) bool { return v <= goalS3OverRestic }),
		line("ours ÷ rclone, full push (wall)", fmt.Sprintf("≤ %.2f", goalS3OverRclone), perRun(wallRatio("rclone")),
			func(v float64) bool { return v <= goalS3OverRclone }))

	bytesLine := line("ours' incremental bytes sent ÷ changed files' bytes", fmt.Sprintf("≤ %.2f", goalS3IncrBytes),
		perRun(func(r map[op]map[string]measurement) (float64, bool) {
			m, ok := r[opPushS3Incr][toolOurs]
			if !ok || m.Changed == nil {
				return 0, false
			}
			return ratio(float64(m.SentBytes), float64(m.Changed.ChangedBytes))
		}), func(v float64) bool { return v <= goalS3IncrBytes })
	if m, ok := lastOf(ms, opPushS3Incr, toolOurs); ok && m.Changed != nil && m.Requests != nil {
		c := m.Changed
		bytesLine.detail = fmt.Sprintf("run %d: %.1f MiB sent for %d changed file(s) of %.1f MiB; %d unchanged file(s) of %.1f MiB, %d COPY request(s)",
			m.Run, mib(float64(m.SentBytes)), c.ChangedFiles, mib(float64(c.ChangedBytes)), c.UnchangedFiles, mib(float64(c.UnchangedBytes)), m.Requests.Copy)
	}
	goals = append(goals, bytesLine)

	reqLine := line("ours' incremental requests ÷ full push requests", fmt.Sprintf("< %.0f%%", 100*goalS3IncrRequests),
		perRun(func(r map[op]map[string]measurement) (float64, bool) {
			f, okF := r[opPushS3Full][toolOurs]
			i, okI := r[opPushS3Incr][toolOurs]
			if !okF || !okI || f.Requests == nil || i.Requests == nil {
				return 0, false
			}
			return ratio(float64(i.Requests.Total), float64(f.Requests.Total))
		}), func(v float64) bool { return v < goalS3IncrRequests })
	reqLine.detail = "as a fraction: " + requestsDetail(ms)
	goals = append(goals, reqLine)

	rss := line("ours' peak RSS, MiB (largest of both pushes)", fmt.Sprintf("< %d", goalS3RSSMiB),
		perRun(func(r map[op]map[string]measurement) (float64, bool) {
			var peak int64
			found := false
			for _, o := range s3Ops {
				if m, ok := r[o][toolOurs]; ok {
					peak, found = max(peak, m.MaxRSSKiB), true
				}
			}
			return float64(peak) / 1024, found
		}), func(v float64) bool { return v < goalS3RSSMiB })
	// The goal is on the peak, not the median: the largest run decides.
	if rss.ok {
		rss.value = slices.Max(rss.perRun)
		rss.met = rss.value < goalS3RSSMiB
		rss.detail = "the largest run counts"
	}
	goals = append(goals, rss)
	return goals
}

// lastOf is the last successful measurement of o by tool.
func lastOf(ms []measurement, o op, tool string) (measurement, bool) {
	for i := len(ms) - 1; i >= 0; i-- {
		if m := ms[i]; m.Op == o && m.Tool == tool && m.ok() {
			return m, true
		}
	}
	return measurement{}, false
}

// requestsDetail names ours' median request counts of both pushes.
func requestsDetail(ms []measurement) string {
	f, i := medianRequests(ms, opPushS3Full, toolOurs), medianRequests(ms, opPushS3Incr, toolOurs)
	return fmt.Sprintf("full %.0f (PUT %.0f, COPY %.0f, POST %.0f, GET %.0f, HEAD %.0f, DELETE %.0f), incremental %.0f (PUT %.0f, COPY %.0f, POST %.0f, GET %.0f, HEAD %.0f, DELETE %.0f)",
		f.Total, f.Put, f.Copy, f.Post, f.Get, f.Head, f.Delete, i.Total, i.Put, i.Copy, i.Post, i.Get, i.Head, i.Delete)
}
