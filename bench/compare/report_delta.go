package main

import (
	"fmt"
	"slices"
	"strings"
)

// goalDeltaBytes bounds an incremental push's bytes sent ÷ the bytes that
// changed, with the database counted by its changed pages (issue 19): a
// push sends the changed pages, not the database.
const goalDeltaBytes = 2.0

// renderDeltaGoals is the goal of issue 19 for one shape and size: the
// incremental pushes (SFTP and S3) of ours against what changed; "" when
// neither ran.
func renderDeltaGoals(ms []measurement, shape string, size int) string {
	var lines []string
	for _, o := range []op{opPushIncr, opPushS3Incr} {
		var vs []float64
		var last *measurement
		for _, m := range ms {
			if m.Op != o || m.Tool != toolOurs || shapeOf(m) != shape || m.SizeMiB != size || !m.ok() || m.Changed == nil {
				continue
			}
			if v, ok := ratio(float64(m.SentBytes), float64(m.Changed.pageChangedBytes())); ok {
				vs = append(vs, v)
				last = &m
			}
		}
		if last == nil {
			continue
		}
		g := goalLine{name: "ours' " + o.title() + " bytes sent ÷ changed bytes (the database's changed pages, the other changed files whole)",
			goal: fmt.Sprintf("≤ %.2g", goalDeltaBytes), perRun: vs}
		g.value, g.ok = median(vs)
		g.met = g.ok && g.value <= goalDeltaBytes
		c := last.Changed
		g.detail = fmt.Sprintf("run %d: %.1f MiB sent; the database's changed pages %.1f MiB of %.1f MiB, other changed files %.1f MiB",
			last.Run, mib(float64(last.SentBytes)), mib(float64(c.DBPageBytes)), mib(float64(c.DBBytes)), mib(float64(c.ChangedBytes-c.DBBytes)))
		lines = append(lines, "- "+g.String())
	}
	if len(lines) == 0 {
		return ""
	}
	slices.Sort(lines)
	return "Goals (issue 19, page deltas):\n\n" + strings.Join(lines, "\n") + "\n\n"
}
