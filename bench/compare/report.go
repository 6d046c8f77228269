package main

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// renderMarkdown writes results.md: a header (command, machine, tool
// versions), one table per size, the failures and the notes.
func renderMarkdown(res *results) string {
	var b strings.Builder
	b.WriteString("# atocore-backup compared with sqlite3+cp, rsync, restic and borg\n\n")
	fmt.Fprintf(&b, "`%s` — %s run(s) per size, %s to %s (UTC)", strings.Join(res.Command, " "), runsText(res.Config), res.StartedUTC, res.FinishedUTC)
	if res.Interrupted {
		b.WriteString(" — **interrupted**")
	}
	b.WriteString("\n\n")
	m := res.Machine
	fmt.Fprintf(&b, "Machine: %s, %d cores, %d MiB RAM, kernel %s (%s), work directory on %s; load average %s at start, %s at end.  \n",
		m.CPU, m.Cores, m.MemoryMiB, m.Kernel, m.OS, m.Filesystem, m.LoadStart, m.LoadEnd)
	fmt.Fprintf(&b, "Code: commit %s, built with %s.  \n", m.GitCommit, m.GoVersion)
	b.WriteString("Tools: " + toolLine(res.Tools) + ".")
	if res.Config.OursBinary != "" {
		fmt.Fprintf(&b, "  \nours: the binary %s (-ours), not built from this commit.", res.Config.OursBinary)
	}
	b.WriteString("\n\n")

	sums := summarize(res.Measurements)
	fmt.Fprintf(&b, "CPU %% is (user + sys) ÷ wall × 100 of the command and its children: 100 is one core busy the whole time; this machine has %d.\n\n", 100*max(m.Cores, 1))
	for _, shape := range res.Config.Shapes {
		for _, size := range res.Config.SizesMiB {
			fmt.Fprintf(&b, "## %s database + %s Chroma, shape %s\n\n", sizeLabel(size), sizeLabel(size), shape)
			if ri, ok := rootFor(res, shape, size); ok {
				fmt.Fprintf(&b, "Generated root (%s): database %.1f MiB, Chroma %.1f MiB in %d files (%d segments), registry %d bytes.\n\n",
					shapeText(shape), mib(float64(ri.DBBytes)), mib(float64(ri.ChromaBytes)), ri.ChromaFiles, ri.Segments, ri.RegistryBytes)
			}
			// The S3 operations have a table of their own, with requests.
			mainOps := slices.DeleteFunc(slices.Clone(res.Config.Ops), op.s3)
			if len(mainOps) > 0 {
				b.WriteString(renderTable(sums, shape, size, mainOps, res.Config.Tools))
				b.WriteString("\n")
			}
			b.WriteString(renderS3(res, shape, size))
			b.WriteString(renderDeltaGoals(res.Measurements, shape, size))
		}
	}
	if f := renderFailures(res.Measurements); f != "" {
		b.WriteString("## Failures\n\n" + f + "\n")
	}
	b.WriteString("## Notes\n\n")
	for _, n := range res.Notes {
		b.WriteString("- " + n + "\n")
	}
	return b.String()
}

// tableHeader are the columns of every size's table.
const tableHeader = "| operation | tool | median wall s | ours ÷ tool | tool ÷ ours | peak RSS MiB | CPU s | CPU % | server CPU s | bytes written MiB | disk writes MiB | bytes sent MiB | runs: wall s |\n" +
	"| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n"

// renderTable is one shape and size's table: a row per operation and tool
// that has measurements, operations in report order, ours first.
func renderTable(sums map[key]*summary, shape string, size int, ops []op, tools []string) string {
	var b strings.Builder
	b.WriteString(tableHeader)
	for _, o := range ops {
		for _, t := range tools {
			s := sums[key{shape, size, o, t}]
			if s == nil {
				continue
			}
			b.WriteString(renderRow(sums, shape, size, o, t, s))
		}
	}
	return b.String()
}

func renderRow(sums map[key]*summary, shape string, size int, o op, tool string, s *summary) string {
	const none = "—"
	cells := []string{o.title(), tool}
	if s.runs == 0 {
		cells = append(cells, "failed", none, none, none, none, none, none, none, none, none)
	} else {
		r1, r2 := none, none
		if a, b, ok := wallRatios(sums, shape, size, o, tool); ok && tool != toolOurs {
			r1, r2 = fmt.Sprintf("%.2f", a), fmt.Sprintf("%.2f", b)
		} else if tool == toolOurs {
			r1, r2 = "1", "1"
		}
		server, sent := none, none
		if o.network() {
			server = fmt.Sprintf("%.2f", s.serverCPU)
			sent = fmt.Sprintf("%.1f", mib(s.sent))
		}
		cells = append(cells,
			fmt.Sprintf("%.2f", s.wall), r1, r2,
			fmt.Sprintf("%.1f", float64(s.peakRSSKiB)/1024),
			fmt.Sprintf("%.2f", s.cpu), fmt.Sprintf("%.0f", s.cpuPercent), server,
			fmt.Sprintf("%.1f", mib(s.diskGrowth)),
			fmt.Sprintf("%.1f", mib(s.ioWrite)), sent)
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

// renderFailures lists every failed measurement, one line each.
func renderFailures(ms []measurement) string {
	var b strings.Builder
	for _, m := range ms {
		if !m.ok() {
			fmt.Fprintf(&b, "- %s %s, run %d, %s, %s: %s\n", shapeOf(m), sizeLabel(m.SizeMiB), m.Run, m.Tool, m.Op.title(), strings.ReplaceAll(m.Error, "|", "\\|"))
		}
	}
	return b.String()
}

// toolLine lists the tools' versions, and the missing ones.
func toolLine(tools []toolInfo) string {
	var parts []string
	for _, t := range tools {
		switch {
		case t.Missing != "":
			parts = append(parts, t.Name+" missing")
		case t.Version != "":
			parts = append(parts, shortVersion(t.Name, t.Version))
		default:
			parts = append(parts, t.Name)
		}
	}
	return strings.Join(parts, "; ")
}

func rootFor(res *results, shape string, size int) (rootInfo, bool) {
	for _, r := range res.Roots {
		if r.SizeMiB == size && (r.Shape == shape || r.Shape == "" && shape == "random") {
			return r, true
		}
	}
	return rootInfo{}, false
}

// shapeText says in a few words what a shape's data is.
func shapeText(shape string) string {
	switch shape {
	case "random":
		return "random keys, many indexes"
	case "text":
		return "text-heavy chunks with embeddings, integer keys, 5 indexes, ~42 MiB segments"
	case "many":
		return "many small Chroma collections beside the database"
	}
	return shape
}

// sizeLabel writes a size in MiB as people say it: 256 MiB, 1 GiB, 4 GiB.
func sizeLabel(mib int) string {
	if mib >= 1024 && mib%1024 == 0 {
		return fmt.Sprintf("%d GiB", mib/1024)
	}
	return fmt.Sprintf("%d MiB", mib)
}

// runsText says how many runs each size had: "3" when all had as many.
func runsText(c resultsConfig) string {
	var parts []string
	same := true
	for i, n := range c.Runs {
		parts = append(parts, strconv.Itoa(n))
		if n != c.Runs[0] {
			same = false
		}
		if i < len(c.SizesMiB) {
			parts[i] = fmt.Sprintf("%d (%d MiB)", n, c.SizesMiB[i])
		}
	}
	if same && len(c.Runs) > 0 {
		return strconv.Itoa(c.Runs[0])
	}
	return strings.Join(parts, ", ")
}
