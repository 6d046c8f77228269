package replica

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"time"
)

// Target is an off-site copy of the chains: offsite.ReplicaShipper
// encrypts, signs and uploads them. The replicator runs each target on a
// goroutine of its own with its own position (what the target holds), so
// a target that is slow or down never delays a tick or another target.
type Target interface {
	// Name is the target's address without secrets, for Status and logs.
	Name() string
	// Ship brings the target up to date with the chain in dir, whose last
	// tick saw the database at seen: every file the target lacks, then
	// the last tick.
	Ship(ctx context.Context, dir string, seen time.Time) error
}

// TargetStatus is what one target has received.
type TargetStatus struct {
	Name string `json:"name"`
	// Shipped is the last tick the target holds: a restore from it can
	// reach that time. Lag is now minus Shipped.
	Shipped   time.Time `json:"shipped"`
	Ships     uint64    `json:"ships"`
	Errors    uint64    `json:"errors"`
	LastError string    `json:"last_error,omitempty"`
}

// targetsFile, in replica/, holds each target's TargetStatus for the
// metrics of other processes (the admin server's /metrics).
const targetsFile = ".targets.json"

// maxBackoff bounds the wait before a failed target is tried again.
const maxBackoff = 30 * time.Second

// runTarget ships to one target whenever kicked, until ctx ends.
func (r *Replicator) runTarget(ctx context.Context, i int, t Target, kick <-chan struct{}) {
	failures := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-kick:
		}
		r.mu.Lock()
		dir, seen := r.st.Dir, r.st.LastTick
		r.mu.Unlock()
		if dir == "" || seen.IsZero() {
			continue
		}
		err := t.Ship(ctx, dir, seen)
		if ctx.Err() != nil {
			return
		}
		r.update(func(s *Status) {
			ts := &s.Targets[i]
			if err != nil {
				ts.Errors++
				ts.LastError = err.Error()
				return
			}
			ts.Ships++
			ts.Shipped = seen
			ts.LastError = ""
		})
		r.saveTargets()
		if err == nil {
			failures = 0
			continue
		}
		r.log.Warn("replicate: target failed", "target", t.Name(), "err", err)
		failures++
		wait := min(time.Duration(1<<min(failures, 5))*time.Second, maxBackoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// saveTargets writes the targets' status into the backup directory (no
// fsync: it is for monitoring, and a stale one shows more lag).
func (r *Replicator) saveTargets() {
	r.mu.Lock()
	b, err := json.Marshal(r.st.Targets)
	r.mu.Unlock()
	if err != nil {
		return
	}
	p := filepath.Join(Dir(r.cfg.BackupDir), targetsFile)
	tmp := p + ".tmp"
	if os.WriteFile(tmp, b, 0o600) == nil {
		_ = os.Rename(tmp, p)
	}
}

// TargetsShipped reads what the replicator of a backup directory last
// recorded of its targets; nil when there is nothing.
func TargetsShipped(backupDir string) []TargetStatus {
	b, err := os.ReadFile(filepath.Join(Dir(backupDir), targetsFile))
	if err != nil || len(b) > 1<<20 {
		return nil
	}
	var out []TargetStatus
	if json.Unmarshal(b, &out) != nil {
		return nil
	}
	return out
}
