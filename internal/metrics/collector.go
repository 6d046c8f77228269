package metrics

import (
	"context"
	"github.com/atocore/atocore-backup/replica"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/atocore/atocore-backup/backup"
	"github.com/atocore/atocore-backup/internal/snapshot"
	"github.com/atocore/atocore-backup/offsite"
	"github.com/atocore/atocore-backup/restore"
)

// collectTimeout bounds one reading of the backup directory.
const collectTimeout = 30 * time.Second

// collector reads the backup directory at every Collect and adds the
// recorded results.
type collector struct {
	cfg backup.Config
	res *Results
}

// NewRegistry returns a registry whose metrics are read from cfg's backup
// directory at each Gather, plus the outcomes recorded in res (nil: none).
// A backup directory that cannot be read, or a drill log that does not
// parse, makes Gather fail: a scrape that fails is an alert, a number
// made up is not.
func NewRegistry(cfg backup.Config, res *Results) *prometheus.Registry {
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(&collector{cfg: cfg, res: res})
	return reg
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descSnapshots, descValidSnapshots, descSnapshotsBytes, descNewestSnapshot,
		descNewestValidSnapshot, descLastDrill, descLastDrillSuccess, descLastPassingDrill, descLastCreate,
		descLastCreateSuccess, descLastValidation, descLastValidationSuccess, descLastPush, descLastPushSuccess, descNewestPushedSnapshot,
		descReplicationLastTick, descReplicationLag, descReplicationWindowStart, descReplicationBytes} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), collectTimeout)
	defer cancel()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	c.collectSnapshots(ctx, ch, gauge)
	c.collectDrills(ch, gauge)
	c.collectPushed(ch, gauge)
	c.collectReplication(ctx, ch, gauge)

	create, validation, push := c.res.snapshot()
	if create != nil {
		gauge(descLastCreate, unix(create.Time))
		gauge(descLastCreateSuccess, bool01(create.OK))
	}
	if validation != nil {
		gauge(descLastValidation, unix(validation.Time))
		gauge(descLastValidationSuccess, bool01(validation.OK))
	}
	c.collectPushes(ch, gauge, push)
}

// collectPushes reports the last push per target: the one this process
// recorded, else the one saved in the backup directory by the process
// that pushed (SavePushes), so that a failed cron push shows in the admin
// server's /metrics too.
func (c *collector) collectPushes(ch chan<- prometheus.Metric, gauge func(*prometheus.Desc, float64, ...string), recorded map[string]PushOutcome) {
	saved, err := loadPushes(c.cfg)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(descLastPush, err)
		return
	}
	for target, o := range recorded {
		saved[target] = o
	}
	for target, o := range saved {
		gauge(descLastPush, unix(o.Time), target, o.Name)
		gauge(descLastPushSuccess, bool01(o.OK), target, o.Name)
	}
}

func (c *collector) collectSnapshots(ctx context.Context, ch chan<- prometheus.Metric, gauge func(*prometheus.Desc, float64, ...string)) {
	snaps, err := backup.List(ctx, c.cfg)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(descSnapshots, err)
		return
	}
	var valid int
	var bytes int64
	var newest, newestValid time.Time
	for _, s := range snaps { // oldest first
		newest = s.Time
		if m := s.Metadata; m != nil {
			bytes += m.DBSizeBytes + m.ChromaBytes
			if m.Validated && len(m.ValidationErrors) == 0 {
				valid++
				newestValid = s.Time
			}
		}
	}
	gauge(descSnapshots, float64(len(snaps)))
	gauge(descValidSnapshots, float64(valid))
	gauge(descSnapshotsBytes, float64(bytes))
	gauge(descNewestSnapshot, unix(newest))
	gauge(descNewestValidSnapshot, unix(newestValid))
}

func (c *collector) collectDrills(ch chan<- prometheus.Metric, gauge func(*prometheus.Desc, float64, ...string)) {
	drills, err := restore.ReadDrillLog(c.cfg)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(descLastDrill, err)
		return
	}
	var last, lastPass time.Time
	var lastOK bool
	for _, d := range drills { // in the order they ran
		t, err := time.Parse(time.RFC3339, d.Time)
		if err != nil {
			// A record whose time is not RFC 3339 is dated by its stamp.
			if t, err = snapshot.ParseStamp(d.Stamp); err != nil {
				continue
			}
		}
		if !t.Before(last) {
			last, lastOK = t, d.Pass
		}
		if d.Pass && t.After(lastPass) {
			lastPass = t
		}
	}
	gauge(descLastDrill, unix(last))
	gauge(descLastDrillSuccess, bool01(lastOK && !last.IsZero()))
	gauge(descLastPassingDrill, unix(lastPass))
}

// collectPushed reports, per target, the newest snapshot pushed there:
// unlike the last push result, it is on disk, so the admin server's
// /metrics has it although pushes run from cron.
func (c *collector) collectPushed(ch chan<- prometheus.Metric, gauge func(*prometheus.Desc, float64, ...string)) {
	cfg, err := c.cfg.Resolved()
	if err == nil {
		err = cfg.Require(backup.NeedBackup)
	}
	var pushed []offsite.PushedTarget
	if err == nil {
		pushed, err = offsite.PushedTargets(cfg.FS, cfg.BackupDir)
	}
	if err != nil {
		ch <- prometheus.NewInvalidMetric(descNewestPushedSnapshot, err)
		return
	}
	for _, p := range pushed {
		if t, err := snapshot.ParseStamp(p.NewestStamp); err == nil {
			gauge(descNewestPushedSnapshot, unix(t), p.Target)
		}
	}
}

// unix is t in Unix seconds (fractions kept), 0 for the zero time.
func unix(t time.Time) float64 {
	if t.IsZero() {
		return 0
	}
	return float64(t.UnixNano()) / 1e9
}

func bool01(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// collectReplication reports the replication window of the backup
// directory (replica.Windows).
func (c *collector) collectReplication(ctx context.Context, ch chan<- prometheus.Metric, gauge func(*prometheus.Desc, float64, ...string)) {
	cfg, err := c.cfg.Resolved()
	if err != nil || cfg.BackupDir == "" {
		return
	}
	ws, err := replica.Windows(ctx, cfg.BackupDir)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(descReplicationLastTick, err)
		return
	}
	var last, start time.Time
	var bytes int64
	for _, w := range ws {
		bytes += w.Bytes
		if w.To.After(last) {
			last = w.To
		}
		if !w.BaseMissing && (start.IsZero() || w.From.Before(start)) {
			start = w.From
		}
	}
	const local = "local"
	gauge(descReplicationLastTick, unix(last), local)
	if !last.IsZero() {
		gauge(descReplicationLag, max(0, time.Since(last).Seconds()), local)
	}
	gauge(descReplicationWindowStart, unix(start), local)
	gauge(descReplicationBytes, float64(bytes), local)
	// Each off-site target of the replicator: the last tick it holds.
	for _, ts := range replica.TargetsShipped(cfg.BackupDir) {
		if ts.Name == "" || ts.Name == local {
			continue
		}
		gauge(descReplicationLastTick, unix(ts.Shipped), ts.Name)
		if !ts.Shipped.IsZero() {
			gauge(descReplicationLag, max(0, time.Since(ts.Shipped).Seconds()), ts.Name)
		}
	}
}
