package offsite

import (
	"fmt"
	"testing"

	"github.com/atocore/atocore-backup/internal/testutil"
)

// --delta-chain 10: ten deltas may follow a whole copy. The chain check
// walks the push state, which keeps 8 entries (keepEntries).
func TestLongDeltaChain(t *testing.T) {
	fx := newDeltaFixture(t)
	fx.push.DeltaChain = 10
	fx.next(t, 0)
	var depths []int
	for range 10 {
		_, p := fx.next(t, 0.005)
		depth := 0
		if len(p.PageDeltas) == 1 {
			depth = p.PageDeltas[0].Depth
		}
		depths = append(depths, depth)
	}
	if got := fmt.Sprint(depths); got != "[1 2 3 4 5 6 7 8 9 10]" {
		t.Fatalf("delta depths of ten pushes with a chain of 10: %s", got)
	}
}

// An unchanged database over more pushes than the push state keeps
// entries: its copy stays the same delta, and the next change is a delta
// on it (the chain is recorded with each copy, not found through the
// entries of its bases).
func TestDeltaChainOverManyUnchangedPushes(t *testing.T) {
	fx := newDeltaFixture(t)
	fx.next(t, 0)
	if _, p := fx.next(t, 0.005); len(p.PageDeltas) != 1 {
		t.Fatalf("second push: %+v", p)
	}
	for range keepEntries + 1 {
		if _, p := fx.next(t, 0); len(p.PageDeltas) != 0 {
			t.Fatalf("a push of an unchanged database sent %+v", p.PageDeltas)
		}
	}
	m, p := fx.next(t, 0.005)
	if len(p.PageDeltas) != 1 || p.PageDeltas[0].Depth != 2 {
		t.Fatalf("the change after %d unchanged pushes: %+v", keepEntries+1, p)
	}
	fp := testutil.Fingerprint(t, fx.r.DBPath)
	if got := fx.pullAndRestore(t, freshConfig(t), m.Stamp); got != fp {
		t.Fatal("the snapshot restores another database")
	}
}
