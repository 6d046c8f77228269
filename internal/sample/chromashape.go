package sample

import (
	"math/rand/v2"
)

// Planning of the Chroma directories of ShapeText and ShapeMany. Like
// planCollections they only decide the collections and their embeddings;
// buildChroma then sizes the segments from the measured chroma.sqlite3.
const (
	// estTextPerEmbedding is what one ShapeText embedding adds to
	// chroma.sqlite3, measured on generated roots (rows, metadata,
	// indexes, trigram full-text index, and the queued vectors of the
	// unpersisted tail).
	estTextPerEmbedding = 1600
	// manyLargeEvery makes every tenth ShapeMany collection a large one;
	// the others are small.
	manyLargeEvery = 10
	// manySmallMax is the largest small ShapeMany segment: under 1 MiB.
	manySmallMax = 900 << 10
	// manyLargeWeight is how many times more embeddings a large ShapeMany
	// collection holds than a small one.
	manyLargeWeight = 20
	// manyBytesPerEmbedding bounds ShapeMany's embeddings by the budget:
	// one per 16 KiB of Chroma (and maxChromaEmbeddings in all).
	manyBytesPerEmbedding = 16 << 10
)

// planTextCollections gives ShapeText's n collections enough embeddings
// for chroma.sqlite3 to take textChromaDBShare of target, spread evenly
// with some variation.
func planTextCollections(r *rand.Rand, target int64, n int) []collection {
	total := textChromaDBShare * float64(max(target-estChromaFixed, 0)) / estTextPerEmbedding
	persisted := make([]int, n)
	for i := range persisted {
		// Up to 1,000 of a collection's embeddings wait in the queue, not
		// persisted; they cost chroma.sqlite3 as much as the others.
		persisted[i] = int(total / float64(n) * (0.8 + 0.4*r.Float64()))
	}
	return makeCollections(r, persisted)
}

// manyLarge reports whether ShapeMany's collection i is a large one.
func manyLarge(i int) bool { return i%manyLargeEvery == 0 }

// planManyCollections gives ShapeMany's n collections a few embeddings
// each (manyLargeWeight times more for the large ones), at most
// maxChromaEmbeddings and one per manyBytesPerEmbedding of target in all.
func planManyCollections(r *rand.Rand, target int64, n int) []collection {
	total := float64(min(maxChromaEmbeddings, max(target/manyBytesPerEmbedding, int64(n))))
	var weights float64
	for i := range n {
		if manyLarge(i) {
			weights += manyLargeWeight
		} else {
			weights++
		}
	}
	persisted := make([]int, n)
	for i := range persisted {
		w := 1.0
		if manyLarge(i) {
			w = manyLargeWeight
		}
		persisted[i] = int(total * w / weights * (0.5 + r.Float64()))
	}
	return makeCollections(r, persisted)
}

// manyBudgets shares left bytes among ShapeMany's n segments: each small
// one gets between the smallest segment and manySmallMax (all of them at
// most half of left; when even the smallest do not fit, they overshoot),
// and the large ones share the rest equally.
func manyBudgets(r *rand.Rand, left int64, n int) []int64 {
	minSeg := int64(hnswHeaderSize + hnswMinCapacity*hnswBytesPerSlot)
	budgets := make([]int64, n)
	var extra []int64 // each small segment's bytes above minSeg
	var small, large int64
	for i := range budgets {
		if manyLarge(i) {
			large++
			continue
		}
		small++
		extra = append(extra, r.Int64N(manySmallMax-minSeg))
	}
	var extraSum int64
	for _, e := range extra {
		extraSum += e
	}
	room := max(left/2-small*minSeg, 0) // for the small segments' extra bytes
	scale := 1.0
	if extraSum > room {
		scale = float64(room) / float64(extraSum)
	}
	var smallSum int64
	j := 0
	for i := range budgets {
		if manyLarge(i) {
			continue
		}
		budgets[i] = minSeg + int64(float64(extra[j])*scale)
		smallSum += budgets[i]
		j++
	}
	share := max(left-smallSum, 0) / max(large, 1)
	for i := range budgets {
		if manyLarge(i) {
			budgets[i] = max(share, minSeg)
		}
	}
	return budgets
}
