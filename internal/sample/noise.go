package sample

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
)

// noiseBlock is the size of the random block a noise source draws once and
// then varies; 1 MiB keeps the ChaCha8 cost per file negligible.
const noiseBlock = 1 << 20

// noise produces an endless stream of pseudo-random bytes at memory speed.
//
// Drawing every byte from ChaCha8 tops out near 1.5 GB/s on one core, which
// would make a 4 GiB benchmark fixture the slowest part of a benchmark. Instead
// one 1 MiB block is drawn from ChaCha8 and every later block is that block
// rotated by a random offset and XORed with a fresh 64-bit key. The output has
// no repeated runs a compressor or a content-defined chunker could exploit,
// which is all the fixture needs.
type noise struct {
	base []byte
	out  []byte
	rng  *rand.ChaCha8
}

// newNoise returns a noise source determined by seed and stream.
func newNoise(seed int64, stream uint64) *noise {
	var key [32]byte
	binary.LittleEndian.PutUint64(key[0:], uint64(seed))
	binary.LittleEndian.PutUint64(key[8:], stream)
	copy(key[16:], "atocore-sample-n")
	n := &noise{
		base: make([]byte, noiseBlock),
		out:  make([]byte, noiseBlock),
		rng:  rand.NewChaCha8(key),
	}
	_, _ = n.rng.Read(n.base) // ChaCha8.Read never fails
	return n
}

// next returns the next block of noise. The slice is reused by the following
// call.
func (n *noise) next() []byte {
	k := n.rng.Uint64()
	shift := int(n.rng.Uint64()%(noiseBlock/8)) * 8
	src := n.base
	dst := n.out
	// Rotate by shift bytes, XORing 8 bytes at a time.
	j := shift
	for i := 0; i < noiseBlock; i += 8 {
		v := binary.LittleEndian.Uint64(src[j:])
		binary.LittleEndian.PutUint64(dst[i:], v^k)
		j += 8
		if j == noiseBlock {
			j = 0
		}
	}
	return dst
}

// writeNoise writes size bytes of noise to w at offset off, checking ctx
// between blocks.
func writeNoise(ctx context.Context, w io.WriterAt, off, size int64, n *noise) error {
	for size > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		b := n.next()
		if int64(len(b)) > size {
			b = b[:size]
		}
		if _, err := w.WriteAt(b, off); err != nil {
			return fmt.Errorf("write noise at %d: %w", off, err)
		}
		off += int64(len(b))
		size -= int64(len(b))
	}
	return nil
}
