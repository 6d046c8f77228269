package metrics_test

import (
	"context"
	"testing"
	"time"

	"github.com/atocore/atocore-backup/backup"
	"github.com/atocore/atocore-backup/internal/metrics"
	"github.com/atocore/atocore-backup/internal/sample"
	"github.com/atocore/atocore-backup/internal/testutil"
	"github.com/atocore/atocore-backup/replica"
)

// With a replicator running, the lag is the time since its last tick,
// and the window starts at its chain's first segment.
func TestReplicationMetrics(t *testing.T) {
	r := testutil.Root(t)
	testutil.Create(t, r, backup.CreateOptions{})
	cfg := testutil.Config(r)
	rep, err := replica.New(cfg, replica.Options{Interval: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- rep.Run(ctx) }()
	time.Sleep(300 * time.Millisecond)
	if _, err := sample.InsertMemory(context.Background(), r.DBPath, sample.Memory{Type: "episodic", Content: "x", Project: "p", Confidence: 1}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	got := gathered(t, cfg, nil)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	const l = "{location=local}"
	now := float64(time.Now().Unix())
	if lag, ok := got[metrics.NameReplicationLag+l]; !ok || lag < 0 || lag > 1 {
		t.Errorf("lag %v (present %v), want under a second", lag, ok)
	}
	if tick := got[metrics.NameReplicationLastTick+l]; tick < now-2 || tick > now+1 {
		t.Errorf("last tick %v, want about %v", tick, now)
	}
	if start := got[metrics.NameReplicationWindowStart+l]; start < now-5 || start > now {
		t.Errorf("window start %v, want a few seconds before %v", start, now)
	}
	if got[metrics.NameReplicationBytes+l] <= 0 {
		t.Errorf("replication bytes %v", got[metrics.NameReplicationBytes+l])
	}
}
