package replica

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/superfly/ltx"

	"github.com/atocore/atocore-backup/backup"
	"github.com/atocore/atocore-backup/internal/durable"
)

// DefaultInterval is how often replicate looks for committed changes.
const DefaultInterval = time.Second

// baseCheckEvery is how often the replicator looks for a snapshot newer
// than its chain's base, to start a chain on it.
const baseCheckEvery = time.Minute

// Options tunes a Replicator. The zero value replicates every second and
// starts its chains on the snapshots `create` makes.
type Options struct {
	// Interval is the time between two ticks (DefaultInterval when 0).
	// Ticks fall on multiples of it, so that with the default a restore to
	// a whole second finds a tick just before it.
	Interval time.Duration
	// SnapshotEvery, when set, has the replicator take a snapshot itself
	// (backup.Create) when the newest valid one is older than this, and
	// start a chain on it; a restore to a time then replays at most that
	// much. With 0, it takes one only when there is none.
	SnapshotEvery time.Duration
	// IngestionLock, when set, is passed to the snapshots it takes.
	IngestionLock backup.Locker
	// Targets receive every chain too, each at its own pace.
	Targets []Target
}

// Status is what a Replicator has done, for metrics and logs.
type Status struct {
	Base  string `json:"base"`  // the snapshot the current chain starts from
	Chain string `json:"chain"` // the current chain's id
	Dir   string `json:"dir"`   // the current chain's directory
	TXID  uint64 `json:"txid"`  // the chain's last TXID (1: the base itself)
	// LastTick is when the last tick that succeeded saw the database:
	// everything committed before it is in the chain.
	LastTick time.Time `json:"last_tick"`
	// LastSegment is the time of the chain's last segment.
	LastSegment     time.Time `json:"last_segment"`
	Ticks           uint64    `json:"ticks"`
	Segments        uint64    `json:"segments"`
	SegmentBytes    int64     `json:"segment_bytes"`
	FullComparisons uint64    `json:"full_comparisons"`
	// LastFullReason says why the last full comparison was needed.
	LastFullReason string `json:"last_full_reason,omitempty"`
	Errors         uint64 `json:"errors"`
	LastError      string `json:"last_error,omitempty"`
	Chains         uint64 `json:"chains"` // chains started by this replicator
	// Targets is each off-site target's position, in Options.Targets' order.
	Targets []TargetStatus `json:"targets"`
}

// Replicator ships the live database's committed changes into the backup
// directory as LTX segments, every Interval, until its context ends.
type Replicator struct {
	cfg  backup.Config
	opts Options
	log  *slog.Logger

	mu sync.Mutex
	st Status

	targets sync.WaitGroup
}

// startTargets starts a goroutine per target and returns the channels
// that wake them after a tick.
func (r *Replicator) startTargets(ctx context.Context) []chan struct{} {
	// What an earlier run recorded: a target still configured keeps the
	// last tick it holds (its lag stays measured while it is down), one
	// no longer configured leaves the metrics now, not at the first ship.
	prev := TargetsShipped(r.cfg.BackupDir)
	r.mu.Lock()
	for i := range r.st.Targets {
		for _, p := range prev {
			if p.Name == r.st.Targets[i].Name && r.st.Targets[i].Shipped.IsZero() {
				r.st.Targets[i].Shipped = p.Shipped
			}
		}
	}
	r.mu.Unlock()
	if len(prev) > 0 || len(r.opts.Targets) > 0 {
		r.saveTargets()
	}
	var kicks []chan struct{}
	for i, t := range r.opts.Targets {
		k := make(chan struct{}, 1)
		kicks = append(kicks, k)
		r.targets.Go(func() { r.runTarget(ctx, i, t, k) })
	}
	return kicks
}

// New checks cfg and returns a Replicator; Run starts it.
func New(cfg backup.Config, opts Options) (*Replicator, error) {
	cfg, err := cfg.Resolved()
	if err == nil {
		err = cfg.Require(backup.NeedDB, backup.NeedBackup)
	}
	if err == nil {
		err = cfg.RequireExisting(backup.NeedDB, backup.NeedBackup)
	}
	if err != nil {
		return nil, fmt.Errorf("replicate: %w", err)
	}
	if _, ok := durable.OSPath(cfg.FS, cfg.BackupDir); !ok {
		return nil, errors.New("replicate: the backup directory must be on the operating system's filesystem")
	}
	if opts.Interval <= 0 {
		opts.Interval = DefaultInterval
	}
	if opts.Interval < 10*time.Millisecond {
		return nil, fmt.Errorf("replicate: interval %s is below 10ms", opts.Interval)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &Replicator{cfg: cfg, opts: opts, log: log}
	r.st.Targets = make([]TargetStatus, len(opts.Targets))
	for i, t := range opts.Targets {
		r.st.Targets[i].Name = t.Name()
	}
	return r, nil
}

// Status returns a copy of what the replicator has done so far.
func (r *Replicator) Status() Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := r.st
	st.Targets = append([]TargetStatus(nil), r.st.Targets...)
	return st
}

func (r *Replicator) update(fn func(*Status)) {
	r.mu.Lock()
	fn(&r.st)
	r.mu.Unlock()
}

// chain is the chain being written.
type chain struct {
	meta chainMeta
	dir  string
	txid ltx.TXID
	comp *compactor
}

// Run replicates until ctx ends, then returns nil. It returns an error
// only when it cannot start: no snapshot can be taken or read, or the
// database is not in WAL mode. A tick that fails is counted and retried
// at the next one; the live database is never written.
func (r *Replicator) Run(ctx context.Context) error {
	ch, t, err := r.startChain(ctx)
	if err != nil {
		return fmt.Errorf("replicate: %w", err)
	}
	f, err := openFollower(ctx, r.cfg.DBPath, t)
	if err != nil {
		return fmt.Errorf("replicate: %w", err)
	}
	defer f.close()
	lastBaseCheck := time.Now()
	defer func() { ch.comp.wait() }()
	kicks := r.startTargets(ctx)
	defer r.targets.Wait()
	// A chain's first tick runs at once: it compares every page, and
	// until its segment is written the chain holds nothing (a replicator
	// restarted by systemd would otherwise leave up to one more interval
	// uncovered). The ticks after it fall on multiples of the interval. (A
	// chain started for a newer base ticks at once too: in the same turn.)
	for tickNow := true; ; {
		immediate := tickNow
		if !tickNow {
			if err := sleepUntil(ctx, nextTick(time.Now(), r.opts.Interval)); err != nil {
				return nil
			}
		}
		tickNow = false
		if time.Since(lastBaseCheck) >= baseCheckEvery {
			lastBaseCheck = time.Now()
			if newer, err := r.newerBase(ctx, ch.meta.Base); err != nil {
				r.fail(err)
			} else if newer {
				if next, nt, err := r.startChain(ctx); err != nil {
					r.fail(err)
				} else {
					ch.comp.wait()
					ch, f.t, f.pos = next, nt, walPos{}
				}
			}
		}
		err := r.tick(ctx, f, ch)
		if ctx.Err() != nil {
			return nil
		}
		for _, k := range kicks {
			select {
			case k <- struct{}{}:
			default: // that target is still busy with an earlier kick
			}
		}
		if errors.Is(err, errChainGone) {
			// The base was pruned under the chain: start on the newest.
			if next, nt, serr := r.startChain(ctx); serr == nil {
				ch.comp.wait()
				ch, f.t, f.pos = next, nt, walPos{}
				tickNow = !immediate // at once, but not twice in a row
			} else {
				r.fail(serr)
			}
		}
	}
}

// nextTick is the next multiple of interval after now, less a moment, so
// that the tick's view of the database is taken just before the boundary.
func nextTick(now time.Time, interval time.Duration) time.Time {
	lead := min(2*time.Millisecond, interval/10)
	next := now.Truncate(interval).Add(interval - lead)
	if !next.After(now) {
		next = next.Add(interval)
	}
	return next
}

func sleepUntil(ctx context.Context, t time.Time) error {
	timer := time.NewTimer(time.Until(t))
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}

func (r *Replicator) fail(err error) {
	r.log.Warn("replicate: tick failed", "err", err)
	r.update(func(s *Status) { s.Errors++; s.LastError = err.Error() })
}

// tick runs one tick of the chain: a segment when something changed, and
// the chain's alive.json.
func (r *Replicator) tick(ctx context.Context, f *follower, ch *chain) error {
	l0 := filepath.Join(ch.dir, levels[0].dir)
	seg := newSegment(l0, ch.txid+1, f.t.pageSize)
	c, err := f.tick(ctx, seg)
	if errors.Is(err, errIncomplete) {
		seg.abort()
		f.pos = walPos{}
		seg = newSegment(l0, ch.txid+1, f.t.pageSize)
		c, err = f.tick(ctx, seg)
	}
	if err != nil {
		seg.abort()
		if ctx.Err() == nil {
			r.fail(err)
		}
		return err
	}
	var n int64
	if seg.began {
		if n, err = seg.finish(f.t.after(c.changed, c.commit)); err != nil {
			r.fail(err)
			return err
		}
		ch.txid++
	}
	f.commit(c)
	if err := writeAlive(ch.dir, alive{Time: c.at.UTC(), TXID: uint64(ch.txid)}); err != nil {
		r.fail(fmt.Errorf("record the tick: %w", err))
	}
	r.update(func(s *Status) {
		s.Ticks++
		s.TXID = uint64(ch.txid)
		s.LastTick = c.at
		if seg.began {
			s.Segments++
			s.SegmentBytes += n
			s.LastSegment = c.at
		}
		if c.full != "" {
			s.FullComparisons++
			s.LastFullReason = c.full
		}
	})
	if c.full != "" {
		r.log.Info("replicate: compared every page", "reason", c.full, "changed", len(c.changed))
	}
	ch.comp.poke(c.at)
	return nil
}

// newerBase reports whether the backup directory has a valid snapshot
// newer than base (by its metadata; startChain validates it).
func (r *Replicator) newerBase(ctx context.Context, base string) (bool, error) {
	s, err := newestCandidate(ctx, r.cfg)
	if err != nil || s == nil {
		return false, err
	}
	return s.Stamp > base, nil
}

// newestCandidate is the newest snapshot whose metadata says it was
// validated; nil when there is none.
func newestCandidate(ctx context.Context, cfg backup.Config) (*backup.Snapshot, error) {
	snaps, err := backup.List(ctx, cfg)
	if err != nil {
		return nil, err
	}
	for i := len(snaps) - 1; i >= 0; i-- {
		if m := snaps[i].Metadata; m != nil && m.Validated {
			return &snaps[i], nil
		}
	}
	return nil, nil
}

// startChain picks the chain's base (the newest valid snapshot, or a new
// one when there is none or it is older than SnapshotEvery), reads its
// database and makes the chain's directory. The first tick compares
// every page with it.
func (r *Replicator) startChain(ctx context.Context) (*chain, *table, error) {
	base, err := r.pickBase(ctx)
	if err != nil {
		return nil, nil, err
	}
	t, digest, err := loadBaseDigest(ctx, r.cfg.BackupDir, base)
	if err != nil {
		return nil, nil, err
	}
	now := time.Now().UTC()
	host, _ := os.Hostname()
	m := chainMeta{FormatVersion: 1, Base: base, Chain: now.Format(chainIDFormat), StartedAt: now.Format(time.RFC3339Nano),
		PageSize: t.pageSize, BaseChecksum: t.checksum.String(), BaseSHA256: digest, Host: host}
	dir, err := createChain(r.cfg.BackupDir, m)
	if err != nil {
		return nil, nil, err
	}
	r.update(func(s *Status) { s.Base, s.Chain, s.Dir, s.TXID = base, m.Chain, dir, 1; s.Chains++ })
	r.log.Info("replicate: chain started", "base", base, "chain", m.Chain, "dir", dir)
	return &chain{meta: m, dir: dir, txid: 1, comp: newCompactor(dir, r.opts.Interval, r.log, r.fail)}, t, nil
}

// pickBase returns the stamp of the snapshot a new chain starts on,
// taking one when needed.
func (r *Replicator) pickBase(ctx context.Context) (string, error) {
	s, err := newestCandidate(ctx, r.cfg)
	if err != nil {
		return "", err
	}
	if s != nil && (r.opts.SnapshotEvery <= 0 || time.Since(s.Time) < r.opts.SnapshotEvery) {
		return s.Stamp, nil
	}
	meta, err := backup.Create(ctx, r.cfg, backup.CreateOptions{Kind: backup.KindScheduled, Wait: true, WaitLimit: 10 * time.Minute,
		IngestionLock: r.opts.IngestionLock})
	if err != nil {
		if s != nil {
			r.fail(fmt.Errorf("take a snapshot to start a chain on: %w (starting on %s)", err, s.Stamp))
			return s.Stamp, nil
		}
		return "", fmt.Errorf("take a snapshot to start the first chain on: %w", err)
	}
	return meta.Stamp, nil
}
