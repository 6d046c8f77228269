package sample

import (
	"fmt"
	"math"
	"strings"
)

// Shape is the kind of AtoCore root Generate writes. Each shape stresses
// a backup differently, so benchmarks run all of them: a tool tuned on one
// layout of bytes must not lose on another.
type Shape string

const (
	// ShapeRandom is the default: random UUID keys (so every table has an
	// index b-tree filled in random order), chunks of 200-1,000
	// characters, and a small chroma.sqlite3 beside segments of equal
	// size. The bytes for a seed are those of every earlier version.
	ShapeRandom Shape = "random"
	// ShapeText is text-heavy: integer keys, documents that keep their
	// full text, chunks of 350-1,100 characters each with a 1,536-byte
	// float32 embedding, five secondary indexes and ANALYZE statistics;
	// chroma.sqlite3 takes about a tenth of the Chroma budget and the
	// rest goes to segments of about 42 MiB (their number grows with the
	// budget). At 1 GiB of database: about 13,300 documents, 213,000
	// chunks and 100,000 memories.
	ShapeText Shape = "text"
	// ShapeMany is many small Chroma collections: at least
	// ManySegments segment directories, nine in ten of them under 1 MiB,
	// the rest sharing what is left of the budget, beside a database of
	// the random shape.
	ShapeMany Shape = "many"
)

// Shapes lists every shape, the default first.
var Shapes = []Shape{ShapeRandom, ShapeText, ShapeMany}

// Shape tuning.
const (
	// ManySegments is the number of collections of ShapeMany when
	// Options.Segments is 0.
	ManySegments = 300
	// textSegmentBytes is the size of one ShapeText segment: its
	// data_level0.bin is about 42 MiB, as in a collection of 25,000
	// chunks.
	textSegmentBytes = 42 << 20
	// textChromaDBShare is the part of the Chroma budget ShapeText gives
	// chroma.sqlite3.
	textChromaDBShare = 0.10
)

// ParseShape reads a shape's name ("random", "text", "many"); "" is the
// default, ShapeRandom.
func ParseShape(s string) (Shape, error) {
	switch sh := Shape(strings.TrimSpace(s)); sh {
	case "":
		return ShapeRandom, nil
	case ShapeRandom, ShapeText, ShapeMany:
		return sh, nil
	}
	return "", fmt.Errorf("sample: %q is not a shape; use one of %s", s, shapeList())
}

func shapeList() string {
	names := make([]string, len(Shapes))
	for i, s := range Shapes {
		names[i] = string(s)
	}
	return strings.Join(names, ", ")
}

// or returns s, or ShapeRandom for the zero Shape.
func (s Shape) or() Shape {
	if s == "" {
		return ShapeRandom
	}
	return s
}

// DefaultSegments returns the number of Chroma collections the shape makes
// of a Chroma directory of chromaBytes when Options.Segments is 0:
// DefaultSegments for ShapeRandom, one per ~42 MiB of segments for
// ShapeText (at least one), ManySegments for ShapeMany.
func (s Shape) DefaultSegments(chromaBytes int64) int {
	switch s.or() {
	case ShapeText:
		segBytes := float64(chromaBytes) * (1 - textChromaDBShare)
		return max(1, int(math.Round(segBytes/textSegmentBytes)))
	case ShapeMany:
		return ManySegments
	}
	return DefaultSegments
}
