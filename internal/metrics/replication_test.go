package metrics_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
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
	now := float64(time.Now().UnixNano()) / 1e9 // the metrics carry fractions of a second
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

// The replicator's record of its targets gives a lag per target.
func TestReplicationMetricsPerTarget(t *testing.T) {
	r := testutil.Root(t)
	testutil.Create(t, r, backup.CreateOptions{})
	cfg := testutil.Config(r)
	got, st := gatheredWhileReplicating(t, cfg, 700*time.Millisecond, okTarget{}, failingTarget{})
	if lag, ok := got[metrics.NameReplicationLag+"{location=mem://ok}"]; !ok || lag > 1 {
		t.Errorf("lag of the working target %v (present %v)", lag, ok)
	}
	if tick, ok := got[metrics.NameReplicationLastTick+"{location=mem://down}"]; !ok || tick != 0 {
		t.Errorf("last tick of the failing target %v (present %v), want 0", tick, ok)
	}
	if _, ok := got[metrics.NameReplicationLag+"{location=mem://down}"]; ok {
		t.Error("a lag for a target that never received a tick")
	}
	if st.Targets[1].Errors == 0 || st.Targets[0].Ships == 0 || st.Errors != 0 {
		t.Errorf("status %+v: the failing target must fail alone", st)
	}
}

// gatheredWhileReplicating runs a replicator with targets for wait,
// gathers the metrics, then stops it; it returns them and its status.
func gatheredWhileReplicating(t *testing.T, cfg backup.Config, wait time.Duration, targets ...replica.Target) (map[string]float64, replica.Status) {
	t.Helper()
	rep, err := replica.New(cfg, replica.Options{Interval: 100 * time.Millisecond, Targets: targets})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- rep.Run(ctx) }()
	time.Sleep(wait)
	got := gathered(t, cfg, nil)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	return got, rep.Status()
}

type okTarget struct{}

func (okTarget) Name() string                                            { return "mem://ok" }
func (okTarget) Ship(ctx context.Context, dir string, _ time.Time) error { return nil }

type failingTarget struct{}

func (failingTarget) Name() string { return "mem://down" }
func (failingTarget) Ship(ctx context.Context, dir string, _ time.Time) error {
	return errors.New("connection refused")
}

// A replicate run starts from what the run before it recorded of its
// targets: one still configured keeps its last tick (and its lag while
// it is down), one no longer configured leaves the metrics at once.
func TestReplicationTargetsOfAnEarlierRun(t *testing.T) {
	r := testutil.Root(t)
	testutil.Create(t, r, backup.CreateOptions{})
	cfg := testutil.Config(r)
	earlier := time.Now().Add(-time.Hour).Truncate(time.Second).UTC()
	old, err := json.Marshal([]replica.TargetStatus{{Name: "mem://down", Shipped: earlier, Ships: 9}, {Name: "mem://removed", Shipped: earlier}})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(replica.Dir(r.BackupDir), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(replica.Dir(r.BackupDir), ".targets.json"), old, 0o600); err != nil {
		t.Fatal(err)
	}
	got, _ := gatheredWhileReplicating(t, cfg, 500*time.Millisecond, failingTarget{})
	if tick := got[metrics.NameReplicationLastTick+"{location=mem://down}"]; tick != float64(earlier.Unix()) {
		t.Errorf("last tick of the configured target %v, want the earlier run's %d", tick, earlier.Unix())
	}
	if lag, ok := got[metrics.NameReplicationLag+"{location=mem://down}"]; !ok || lag < 3600 {
		t.Errorf("lag of the configured target that is down %v (present %v), want at least an hour", lag, ok)
	}
	for k := range got {
		if strings.Contains(k, "mem://removed") {
			t.Errorf("%s: a target the run does not have is still reported", k)
		}
	}
}
