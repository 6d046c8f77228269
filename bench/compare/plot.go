package main

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Geometry of compare.svg, in SVG user units: a header with the title and
// the legend, then panels of panelW × panelH, plotCols to a row.
const (
	plotCols = 3
	panelW   = 330
	panelH   = 250
	headerH  = 70
	footerH  = 24
	// Inside a panel: room for the title above, tick labels and the axis
	// label below and left.
	padL, padR, padT, padB = 58, 14, 26, 44
)

// toolStyle is how a tool's line looks: colour, width, dashes.
var toolStyle = map[string]struct{ color, width, dash string }{
	toolOurs:     {"#d62728", "2.5", ""},
	"sqlite3+cp": {"#1f77b4", "1.5", "5 3"},
	"rsync":      {"#2ca02c", "1.5", "2 2"},
	"restic":     {"#9467bd", "1.5", ""},
	"borg":       {"#ff7f0e", "1.5", "8 3"},
}

func styleFor(tool string) (color, width, dash string) {
	s, ok := toolStyle[tool]
	if !ok {
		return "#555555", "1.5", ""
	}
	return s.color, s.width, s.dash
}

// renderSVG draws the median wall time of every tool against the data
// size, one panel per operation: x is the size on a log2 scale, y the
// seconds on a log10 scale (so equal ratios look equal everywhere). Each
// tool with data in a panel is one polyline (class "series", data-tool)
// with a marker per size.
func renderSVG(res *results) []byte {
	sums := summarize(res.Measurements)
	ops, tools, shapes := res.Config.Ops, res.Config.Tools, res.Config.Shapes
	if len(shapes) == 0 {
		shapes = []string{"random"}
	}
	perShape := (len(ops) + plotCols - 1) / plotCols // rows of one shape's panels
	rows := perShape * len(shapes)
	w, h := plotCols*panelW, headerH+rows*panelH+footerH
	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="DejaVu Sans, Arial, sans-serif" font-size="11">`+"\n", w, h, w, h)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", w, h)
	fmt.Fprintf(&b, `<text x="%d" y="22" text-anchor="middle" font-size="15" font-weight="bold">%s</text>`+"\n",
		w/2, esc("atocore-backup (ours) vs peers: median wall time against data size"))
	writeLegend(&b, tools)
	for si, shape := range shapes {
		for i, o := range ops {
			x := float64((i % plotCols) * panelW)
			y := float64(headerH + (si*perShape+i/plotCols)*panelH)
			title := o.title()
			if len(shapes) > 1 {
				title += " — " + shape
			}
			writePanel(&b, x, y, shape, title, o, res.Config.SizesMiB, tools, sums)
		}
	}
	fmt.Fprintf(&b, `<text x="8" y="%d" fill="#555">%s</text>`+"\n", h-8,
		esc(fmt.Sprintf("medians of %s run(s) per size; commit %.12s; %s; method: results.md", runsText(res.Config), res.Machine.GitCommit, res.FinishedUTC)))
	b.WriteString("</svg>\n")
	return b.Bytes()
}

func writeLegend(b *bytes.Buffer, tools []string) {
	b.WriteString(`<g class="legend">` + "\n")
	x := 20.0
	for _, t := range tools {
		color, width, dash := styleFor(t)
		fmt.Fprintf(b, `<line x1="%g" y1="46" x2="%g" y2="46" stroke="%s" stroke-width="%s" stroke-dasharray="%s"/>`, x, x+28, color, width, dash)
		fmt.Fprintf(b, `<circle cx="%g" cy="46" r="3" fill="%s"/>`, x+14, color)
		label := t
		if t == toolOurs {
			label = "ours (atocore-backup)"
		}
		fmt.Fprintf(b, `<text x="%g" y="50">%s</text>`+"\n", x+34, esc(label))
		x += 46 + 7*float64(len(label))
	}
	b.WriteString("</g>\n")
}

// point is one marker: a size and a median wall time.
type point struct {
	size int
	wall float64
}

// writePanel draws one shape and operation's panel with its top-left
// corner at x0, y0.
func writePanel(b *bytes.Buffer, x0, y0 float64, shape, title string, o op, sizes []int, tools []string, sums map[key]*summary) {
	fmt.Fprintf(b, `<g class="panel" data-op="%s" data-shape="%s" transform="translate(%g,%g)">`+"\n", esc(string(o)), esc(shape), x0, y0)
	defer b.WriteString("</g>\n")
	left, right, top, bottom := float64(padL), float64(panelW-padR), float64(padT), float64(panelH-padB)
	fmt.Fprintf(b, `<text x="%g" y="16" text-anchor="middle" font-size="13" font-weight="bold">%s</text>`+"\n", (left+right)/2, esc(title))
	fmt.Fprintf(b, `<rect x="%g" y="%g" width="%g" height="%g" fill="none" stroke="#999"/>`+"\n", left, top, right-left, bottom-top)

	series := map[string][]point{}
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, t := range tools {
		for _, size := range sizes {
			if s := sums[key{shape, size, o, t}]; s != nil && s.runs > 0 {
				v := math.Max(s.wall, 0.001) // a log scale has no 0
				series[t] = append(series[t], point{size, v})
				lo, hi = math.Min(lo, v), math.Max(hi, v)
			}
		}
	}
	if len(series) == 0 {
		fmt.Fprintf(b, `<text x="%g" y="%g" text-anchor="middle" fill="#999">no data</text>`+"\n", (left+right)/2, (top+bottom)/2)
		return
	}
	ylo, yhi := logRange(lo, hi)
	ypos := func(v float64) float64 {
		return bottom - (math.Log10(v)-ylo)/(yhi-ylo)*(bottom-top)
	}
	xpos := xScale(sizes, left, right)

	for _, v := range logTicks(math.Pow(10, ylo), math.Pow(10, yhi)) {
		y := ypos(v)
		fmt.Fprintf(b, `<line x1="%g" y1="%.1f" x2="%g" y2="%.1f" stroke="#e5e5e5"/>`, left, y, right, y)
		fmt.Fprintf(b, `<text x="%g" y="%.1f" text-anchor="end">%s</text>`+"\n", left-4, y+4, tickLabel(v))
	}
	for _, size := range sizes {
		x := xpos(size)
		fmt.Fprintf(b, `<line x1="%.1f" y1="%g" x2="%.1f" y2="%g" stroke="#999"/>`, x, bottom, x, bottom+4)
		fmt.Fprintf(b, `<text x="%.1f" y="%g" text-anchor="middle">%s</text>`+"\n", x, bottom+16, esc(sizeLabel(size)))
	}
	fmt.Fprintf(b, `<text x="%g" y="%g" text-anchor="middle" fill="#333">%s</text>`+"\n", (left+right)/2, bottom+34, esc("db size = Chroma size (log2 axis)"))
	fmt.Fprintf(b, `<text transform="translate(14,%g) rotate(-90)" text-anchor="middle" fill="#333">%s</text>`+"\n", (top+bottom)/2, esc("median wall time, s (log axis)"))

	for _, t := range tools {
		pts := series[t]
		if len(pts) == 0 {
			continue
		}
		color, width, dash := styleFor(t)
		coords := make([]string, len(pts))
		for i, p := range pts {
			coords[i] = fmt.Sprintf("%.1f,%.1f", xpos(p.size), ypos(p.wall))
		}
		fmt.Fprintf(b, `<polyline class="series" data-tool="%s" points="%s" fill="none" stroke="%s" stroke-width="%s" stroke-dasharray="%s"/>`+"\n",
			esc(t), strings.Join(coords, " "), color, width, dash)
		for _, p := range pts {
			fmt.Fprintf(b, `<circle cx="%.1f" cy="%.1f" r="3" fill="%s"><title>%s</title></circle>`+"\n", xpos(p.size), ypos(p.wall), color,
				esc(fmt.Sprintf("%s, %s, %s, %s: %.2f s", t, o.title(), shape, sizeLabel(p.size), p.wall)))
		}
	}
}

// xScale places sizes on a log2 axis between left and right, with a
// margin; a single size sits in the middle.
func xScale(sizes []int, left, right float64) func(int) float64 {
	margin := 0.1 * (right - left)
	if len(sizes) < 2 {
		return func(int) float64 { return (left + right) / 2 }
	}
	a, z := math.Log2(float64(sizes[0])), math.Log2(float64(sizes[len(sizes)-1]))
	return func(size int) float64 {
		return left + margin + (math.Log2(float64(size))-a)/(z-a)*(right-left-2*margin)
	}
}

// logRange returns the log10 bounds of an axis showing lo to hi, with
// some room around them and at least a factor of 2 overall.
func logRange(lo, hi float64) (float64, float64) {
	a, z := math.Log10(lo), math.Log10(hi)
	if z-a < math.Log10(2) {
		mid := (a + z) / 2
		a, z = mid-math.Log10(2)/2, mid+math.Log10(2)/2
	}
	pad := 0.08 * (z - a)
	return a - pad, z + pad
}

// logTicks returns the values 1, 2 and 5 × 10^k between lo and hi (only
// the powers of ten when that is too many), and more in-between values
// when too few.
func logTicks(lo, hi float64) []float64 {
	collect := func(mantissas []float64) []float64 {
		var t []float64
		for k := math.Floor(math.Log10(lo)); k <= math.Ceil(math.Log10(hi)); k++ {
			for _, m := range mantissas {
				v := m * math.Pow(10, k)
				if k < 0 {
					v = m / math.Pow(10, -k) // 3/10 is 0.3; 3*0.1 is not
				}
				if v >= lo && v <= hi {
					t = append(t, v)
				}
			}
		}
		return t
	}
	t := collect([]float64{1, 2, 5})
	if len(t) > 7 {
		t = collect([]float64{1})
	}
	if len(t) < 3 {
		t = collect([]float64{1, 1.5, 2, 3, 4, 5, 6, 7, 8, 9})
	}
	if len(t) > 7 {
		t = collect([]float64{1, 2, 3, 5, 7})
	}
	return t
}

// tickLabel writes a tick value with no more digits than it has.
func tickLabel(v float64) string {
	return strconv.FormatFloat(v, 'f', -1, 64)
}

// esc escapes text for SVG content and attribute values.
func esc(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}
