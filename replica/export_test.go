package replica

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/superfly/ltx"
)

// TestChainFilesAfterFindsWhatTheListingFinds lays down a chain's file
// names (ticks of one TXID in L0, ranges in L1 and L2, and in L0 a file
// of a range, as only a chain laid down from elsewhere has) and checks
// that ChainFilesAfter, from every position, returns exactly the files
// of the whole listing past it.
func TestChainFilesAfterFindsWhatTheListingFinds(t *testing.T) {
	dir := t.TempDir()
	for _, l := range levels {
		if err := os.MkdirAll(filepath.Join(dir, l.dir), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	touch := func(level int, lo, hi ltx.TXID) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, levels[level].dir, ltx.FormatFilename(lo, hi)), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for n := ltx.TXID(2); n <= 40; n++ {
		touch(0, n, n)
	}
	touch(0, 41, 45) // not a tick's name: found by the listing only
	for n := ltx.TXID(46); n <= 50; n++ {
		touch(0, n, n)
	}
	touch(1, 2, 20)
	touch(1, 21, 40)
	touch(2, 2, 40)
	// A temporary file and a stranger are ignored either way.
	os.WriteFile(filepath.Join(dir, "L0", ltx.FormatFilename(51, 51)+".tmp-1"), nil, 0o600)
	os.WriteFile(filepath.Join(dir, "L0", "notes.txt"), nil, 0o600)

	check := func(alive uint64) {
		t.Helper()
		if err := writeAlive(dir, alive0(alive)); err != nil {
			t.Fatal(err)
		}
		all, err := ChainFiles(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, after := range [][3]uint64{{}, {1, 1, 1}, {2, 2, 2}, {10, 2, 0}, {30, 21, 2}, {40, 21, 2}, {41, 0, 0}, {45, 21, 2}, {49, 40, 40}, {50, 99, 99}} {
			got, err := ChainFilesAfter(dir, after)
			if err != nil {
				t.Fatal(err)
			}
			var want []ChainFile
			for _, f := range all {
				if f.MinTXID > after[f.Level] {
					want = append(want, f)
				}
			}
			if !slices.Equal(got, want) {
				t.Errorf("alive at %d, after %v: got %v, want %v", alive, after, names(got), names(want))
			}
		}
	}
	check(50)
}

func alive0(txid uint64) alive { return alive{Time: time.Now().UTC(), TXID: txid} }

func names(fs []ChainFile) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.Rel)
	}
	return out
}
