package progress

import (
	"context"
	"sync"
	"testing"
)

func TestMeter(t *testing.T) {
	Add(context.Background(), 5) // no meter: nothing happens
	var mu sync.Mutex
	var last [2]int64
	ctx := With(context.Background(), func(done, total int64) {
		mu.Lock()
		last = [2]int64{done, total}
		mu.Unlock()
	})
	Plan(ctx, 100)
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() { Add(ctx, 7) })
	}
	wg.Wait()
	if last != [2]int64{70, 100} {
		t.Fatalf("last report %v, want 70 of 100", last)
	}
	Add(ctx, 50) // more than planned: done stays at the total
	if last != [2]int64{100, 100} {
		t.Fatalf("last report %v, want 100 of 100", last)
	}
	Plan(ctx, 100)
	if last != [2]int64{120, 200} {
		t.Fatalf("last report %v, want 120 of 200", last)
	}
}
