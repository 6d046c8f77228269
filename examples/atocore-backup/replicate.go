package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/atocore/atocore-backup/internal/cmdline"
	"github.com/atocore/atocore-backup/internal/metrics"
	"github.com/atocore/atocore-backup/replica"
)

// metricsEvery is how often replicate rewrites its --metrics-file.
const metricsEvery = 15 * time.Second

func newReplicate(a *app) *cobra.Command {
	c := &cobra.Command{
		Use:   "replicate",
		Short: "Ship the database's committed changes into the backup directory every second",
		Long: `replicate runs until it is stopped (SIGTERM or SIGINT, then exit 0). Every
--interval it reads what the service committed since the last tick and writes
the changed pages as an LTX segment under BACKUP/replica/<BASE>/<CHAIN>/, on a
chain that starts from a snapshot (the newest valid one; it takes one with
create when there is none, or with --snapshot-every when the newest is older).
restore --at TIME then puts the database back as it was at any second of the
window; list --replication shows the window.

It never writes the live database, never checkpoints it and holds a read
transaction only for the moment of a tick, so the service's own checkpoints
keep the -wal as short as they did. The database must be in WAL mode. Stop
replicate before a restore: it holds the database open.`,
		Example: `  atocore-backup replicate --root /srv/storage/atocore
  atocore-backup replicate --interval 500ms --snapshot-every 24h --metrics-file /var/lib/node_exporter/atocore-backup.prom`,
		Args: cmdline.Args(),
		RunE: a.runs(runReplicate),
	}
	fs := c.Flags()
	fs.DurationVar(&a.f.interval, "interval", replica.DefaultInterval, "time between two ticks: at most this much is lost with the machine")
	fs.DurationVar(&a.f.snapshotEvery, "snapshot-every", 0, "take a snapshot and start a new chain when the newest valid snapshot is older than `DURATION` (default: only when there is none)")
	return c
}

func runReplicate(ctx context.Context, a *app) int {
	if a.f.interval < 10*time.Millisecond {
		return a.fail(exitUsage, fmt.Errorf("--interval %s is below 10ms; use 1s (the default) or a few hundred milliseconds", a.f.interval))
	}
	if a.f.snapshotEvery < 0 {
		return a.fail(exitUsage, fmt.Errorf("--snapshot-every %s is negative; use a duration such as 24h, or leave it out", a.f.snapshotEvery))
	}
	cfg, code, ok := a.setup()
	if !ok {
		return code
	}
	rep, err := replica.New(cfg, replica.Options{Interval: a.f.interval, SnapshotEvery: a.f.snapshotEvery})
	if err != nil {
		return a.fail(exitFailed, err)
	}
	a.say("replicating %s into %s every %s; stop with SIGTERM", cfg.DBPath, replica.Dir(cfg.BackupDir), a.f.interval)
	stopMetrics := a.metricsLoop(ctx, rep)
	err = rep.Run(ctx)
	stopMetrics()
	st := rep.Status()
	if err != nil {
		if errors.Is(err, replica.ErrNotWAL) {
			return a.fail(exitUsage, err)
		}
		return a.fail(exitFailed, err)
	}
	a.result(st, fmt.Sprintf("replicate stopped: chain %s on %s at TXID %d, %d segment(s), %d tick(s), %d error(s)",
		st.Chain, st.Base, st.TXID, st.Segments, st.Ticks, st.Errors))
	return exitOK
}

// metricsLoop rewrites the metrics file every metricsEvery while
// replicate runs (the command's own write happens at its end).
func (a *app) metricsLoop(ctx context.Context, rep *replica.Replicator) func() {
	file := a.metricsFile()
	if file == "" {
		return func() {}
	}
	cfg, err := a.config()
	if err != nil {
		return func() {}
	}
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(metricsEvery)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				if err := metrics.WriteTextfile(ctx, file, cfg, a.results); err != nil {
					a.say("atocore-backup replicate: writing the metrics file %s: %s", file, oneLine(err.Error()))
				}
			}
		}
	}()
	return func() { close(done); <-stopped }
}
