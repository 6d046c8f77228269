// Package metrics turns a backup directory, and the outcomes of the
// operations one process ran, into Prometheus metrics: served on /metrics
// by the admin handler, and written to a node_exporter textfile by the
// CLI for cron runs.
//
// What can be read from disk is read at every scrape or write: the
// snapshots (count, bytes, newest, newest valid, from their metadata)
// and the drills (drills.jsonl). What only the process that ran it knows
// (the last create, validation and push per target) is recorded in
// Results:
//
//	res := &metrics.Results{}
//	meta, err := backup.Create(ctx, cfg, opts)
//	res.RecordCreate(time.Now(), err == nil)
//	if werr := metrics.WriteTextfile(ctx, "/var/lib/node_exporter/textfile/atocore_backup.prom", cfg, res); werr != nil { ... }
//
// WriteTextfile keeps the last-result lines of the other commands from
// the file it replaces, so that a cron create and a cron push writing the
// same file do not erase each other's results (see textfile.go).
//
// The package is internal: the admin handler and the CLIs of this module
// are its users, and an embedding server gets /metrics through the admin
// handler. Replication lag (atocore_backup_replication_lag_seconds) is
// reserved for the replication of issue 19 and not emitted until it exists.
package metrics
