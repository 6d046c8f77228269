package main

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"math"
	"slices"
	"testing"
)

// panels decodes an SVG and returns, per panel (by data-op), the tools of
// its polylines; it fails the test on XML that does not parse.
func panels(t *testing.T, svg []byte) map[string][]string {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(svg))
	got := map[string][]string{}
	var stack []string // data-op of each open <g>, "" for others
	sawSVG := false
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("compare.svg is not well-formed XML: %v", err)
		}
		switch el := tok.(type) {
		case xml.StartElement:
			attr := func(name string) string {
				for _, a := range el.Attr {
					if a.Name.Local == name {
						return a.Value
					}
				}
				return ""
			}
			switch el.Name.Local {
			case "svg":
				sawSVG = true
			case "g":
				opName := ""
				if attr("class") == "panel" {
					opName = attr("data-op")
					got[opName] = []string{}
				}
				stack = append(stack, opName)
			case "polyline":
				if len(stack) == 0 || stack[len(stack)-1] == "" {
					t.Errorf("a polyline (%s) outside any panel", attr("data-tool"))
					continue
				}
				p := stack[len(stack)-1]
				got[p] = append(got[p], attr("data-tool"))
			}
		case xml.EndElement:
			if el.Name.Local == "g" {
				stack = stack[:len(stack)-1]
			}
		}
	}
	if !sawSVG {
		t.Fatal("no <svg> element")
	}
	return got
}

func TestSVGHasOnePolylinePerToolPerPanel(t *testing.T) {
	res := fixtureResults()
	got := panels(t, renderSVG(res))
	if len(got) != len(allOps) {
		t.Fatalf("%d panels; want one per operation, %d", len(got), len(allOps))
	}
	for _, o := range allOps {
		var want []string
		for _, tool := range res.Config.Tools {
			if spec, _ := specFor(tool); spec.supports(o) {
				want = append(want, tool)
			}
		}
		if !slices.Equal(got[string(o)], want) {
			t.Errorf("panel %s has polylines for %v; want one each for %v", o, got[string(o)], want)
		}
	}
}

func TestSVGWithoutData(t *testing.T) {
	res := fixtureResults()
	res.Measurements = nil
	svg := renderSVG(res)
	for op, tools := range panels(t, svg) {
		if len(tools) != 0 {
			t.Errorf("panel %s without data has polylines for %v", op, tools)
		}
	}
	if !bytes.Contains(svg, []byte("no data")) {
		t.Error("an empty panel does not say no data")
	}
}

func TestSVGOneSize(t *testing.T) {
	res := fixtureResults()
	res.Config.SizesMiB = []int{1024}
	got := panels(t, renderSVG(res))
	if len(got[string(opFull)]) != 4 {
		t.Errorf("full backup panel with one size: %v; want 4 tools", got[string(opFull)])
	}
}

func TestLogTicks(t *testing.T) {
	for _, c := range [][2]float64{{0.01, 0.02}, {0.05, 300}, {1, 10}, {0.9, 1.1}, {3, 40000}} {
		lo, hi := logRange(c[0], c[1])
		ticks := logTicks(math.Pow(10, lo), math.Pow(10, hi))
		if len(ticks) < 2 || len(ticks) > 10 {
			t.Errorf("ticks for %v: %v; want 2 to 10", c, ticks)
		}
		for _, v := range ticks {
			if v < math.Pow(10, lo) || v > math.Pow(10, hi) {
				t.Errorf("tick %v outside the axis for %v", v, c)
			}
		}
		if !slices.IsSorted(ticks) {
			t.Errorf("ticks for %v not increasing: %v", c, ticks)
		}
	}
	if got := tickLabel(0.3); got != "0.3" {
		t.Errorf("tickLabel(0.3) = %q", got)
	}
}

func TestSVGOnePanelSetPerShape(t *testing.T) {
	res := fixtureResults()
	svg := renderSVG(res)
	for _, shape := range res.Config.Shapes {
		if n := bytes.Count(svg, []byte(`data-shape="`+shape+`"`)); n != len(allOps) {
			t.Errorf("shape %s has %d panels; want one per operation, %d", shape, n, len(allOps))
		}
	}
	if !bytes.Contains(svg, []byte("full backup — text")) {
		t.Error("no panel is titled with its shape")
	}
	res.Config.Shapes = []string{"random"}
	if svg := renderSVG(res); bytes.Contains(svg, []byte(" — random")) {
		t.Error("with one shape the panels still name it")
	}
}
