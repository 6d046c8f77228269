package validate_test

import (
	"encoding/binary"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/atocore/atocore-backup/validate"
)

// craftedHeader packs a header.bin whose fields are consistent modulo 2^64:
// M near 2^62 makes 4M+4 wrap to 0 and 8M+4 wrap to a small offset.
func craftedHeader(m uint64, dim uint64) []byte {
	offsetData := 8*m + 4
	b := binary.LittleEndian.AppendUint32(nil, 1)
	for _, v := range []uint64{0, 1, 1, offsetData + 4*dim + 8, offsetData + 4*dim, offsetData} {
		b = binary.LittleEndian.AppendUint64(b, v)
	}
	b = binary.LittleEndian.AppendUint32(b, 0) // maxlevel
	b = binary.LittleEndian.AppendUint32(b, 0) // enterpoint
	for _, v := range []uint64{m, 2 * m, m, math.Float64bits(0.36), 100} {
		b = binary.LittleEndian.AppendUint64(b, v)
	}
	return b
}

// A header crafted so that its arithmetic overflows is a finding naming the
// segment, not a panic that kills validate (and pull, and the admin handler).
func TestCraftedHeaderOverflowIsAFinding(t *testing.T) {
	for _, m := range []uint64{1<<62 - 1, 1 << 61, 1<<63 + 1<<62 - 1, math.MaxUint64} {
		f := newFixture(t)
		seg := f.persistedSegment(t)
		writeFile(t, filepath.Join(seg, "header.bin"), string(craftedHeader(m, 384)))
		for _, name := range []string{"data_level0.bin", "length.bin", "link_lists.bin"} {
			writeFile(t, filepath.Join(seg, name), "\x10\x00\x00\x00\x00\x00\x00\x00")
		}
		// data_level0.bin holds one element of the wrapped size when that
		// size is small, so the checks get as far as link_lists.bin.
		if spe := 8*m + 4 + 4*384 + 8; spe < 1<<20 {
			writeFile(t, filepath.Join(seg, "data_level0.bin"), strings.Repeat("\x00", int(spe)))
		}
		res := f.validate(t)
		if res.Valid || !res.Has(validate.CodeChromaSegmentCorrupt) {
			t.Fatalf("M %d: errors %q lack %s", m, res.Errors, validate.CodeChromaSegmentCorrupt)
		}
		if !strings.Contains(strings.Join(res.Errors, "\n"), filepath.Base(seg)) {
			t.Fatalf("M %d: errors %q do not name the segment", m, res.Errors)
		}
	}
}
