package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/atocore/atocore-backup/internal/cmdline"
)

// jsonOut reports whether the result goes to stdout as JSON: with --json,
// or whenever stdout is not a terminal (a pipe, a file, cron's mail).
func (a *app) jsonOut() bool {
	return a.f.json || !cmdline.IsTerminal(a.stdout)
}

// result prints a command's result: as JSON on stdout, with its one-line
// summary on stderr for the log; or, on a terminal, the summary on stdout.
func (a *app) result(v any, summary string) {
	if a.jsonOut() {
		a.printJSON(v)
		if summary != "" {
			a.say("%s", summary)
		}
		return
	}
	fmt.Fprintln(a.stdout, summary)
}

// resultTable is result for a list: on a terminal, a table with a header
// (columns separated by tabs in header and rows) and a last line.
func (a *app) resultTable(v any, header string, rows []string, last string) {
	if a.jsonOut() {
		a.printJSON(v)
		return
	}
	writeTable(a.stdout, header, rows)
	if last != "" {
		fmt.Fprintln(a.stdout, last)
	}
}

// writeTable writes header and rows (tab-separated cells) aligned.
func writeTable(w io.Writer, header string, rows []string) {
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, header)
	for _, r := range rows {
		fmt.Fprintln(tw, r)
	}
	_ = tw.Flush()
}

// cells joins table cells.
func cells(c ...string) string { return strings.Join(c, "\t") }

// bytesText writes a size in binary units (KiB, MiB, GiB), the one unit
// system of every human output.
func bytesText(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
