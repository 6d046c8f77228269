package sample

import (
	"context"
	"io"
	"path/filepath"
	"testing"
)

// discardAt is an io.WriterAt that drops what it is given.
type discardAt struct{}

func (discardAt) WriteAt(p []byte, _ int64) (int, error) { return len(p), nil }

var _ io.WriterAt = discardAt{}

// BenchmarkNoise measures the segment filler; it must stay well above 1 GB/s
// so that multi-GiB fixtures are cheap.
func BenchmarkNoise(b *testing.B) {
	nz := newNoise(1, 1)
	b.SetBytes(noiseBlock)
	for b.Loop() {
		if err := writeNoise(context.Background(), discardAt{}, 0, noiseBlock, nz); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGenerate measures the zero-Options root the other packages' tests
// generate.
func BenchmarkGenerate(b *testing.B) {
	for i := 0; b.Loop(); i++ {
		dir := filepath.Join(b.TempDir(), "root")
		if _, err := Generate(context.Background(), dir, Options{Seed: int64(i)}); err != nil {
			b.Fatal(err)
		}
	}
}
