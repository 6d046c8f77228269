package main

import (
	"context"

	"github.com/atocore/atocore-backup/internal/metrics"
)

// metricsFile is where this run writes its metrics: --metrics-file, else
// ATOCORE_METRICS_FILE, else the config file's metrics_file; "" for none.
func (a *app) metricsFile() string {
	if a.f.metricsFile != "" {
		return a.f.metricsFile
	}
	if v := a.getenv("ATOCORE_METRICS_FILE"); v != "" {
		return v
	}
	if c, err := a.configFile(); err == nil && c != nil {
		return c.MetricsFile
	}
	return ""
}

// writeMetrics writes the node_exporter textfile after a command, with
// the results it recorded in a.results; a failed write turns a success
// into exit 1 (the monitoring would otherwise go stale unnoticed).
func (a *app) writeMetrics(ctx context.Context, code int) int {
	file := a.metricsFile()
	if _, err := a.configFile(); file == "" || err != nil {
		return code // a config file that cannot be read: the command said so
	}
	cfg, err := a.config()
	if err == nil {
		err = metrics.WriteTextfile(context.WithoutCancel(ctx), file, cfg, a.results)
	}
	if err != nil {
		a.say("atocore-backup %s: writing the metrics file %s: %s; check that its directory exists and is writable", a.f.command, file, oneLine(err.Error()))
		if code == exitOK {
			return exitFailed
		}
	}
	return code
}

// savePushes records this run's push outcomes in the backup directory,
// where the admin server's /metrics reads them (a no-op for the commands
// that push nothing). A failed write turns a success into exit 1, as for
// the metrics file.
func (a *app) savePushes(code int) int {
	if !a.results.HasPushes() {
		return code
	}
	cfg, err := a.config()
	if err != nil {
		return code // no backup directory: nothing was pushed
	}
	if err := metrics.SavePushes(cfg, a.results); err != nil {
		a.say("atocore-backup %s: recording the push outcomes: %s; check that the backup directory is writable", a.f.command, oneLine(err.Error()))
		if code == exitOK {
			return exitFailed
		}
	}
	return code
}
