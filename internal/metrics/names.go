package metrics

import "github.com/prometheus/client_golang/prometheus"

// Metric names. Timestamps are Unix seconds and 0 when there is none (no
// valid snapshot, no passing drill), so that an alert on their age fires
// without a separate absent() rule; _success gauges are 1 or 0.
const (
	NameSnapshots              = "atocore_backup_snapshots"
	NameValidSnapshots         = "atocore_backup_valid_snapshots"
	NameSnapshotsBytes         = "atocore_backup_snapshots_bytes"
	NameNewestSnapshot         = "atocore_backup_newest_snapshot_timestamp_seconds"
	NameNewestValidSnapshot    = "atocore_backup_newest_valid_snapshot_timestamp_seconds"
	NameLastDrill              = "atocore_backup_last_drill_timestamp_seconds"
	NameLastDrillSuccess       = "atocore_backup_last_drill_success"
	NameLastPassingDrill       = "atocore_backup_last_passing_drill_timestamp_seconds"
	NameLastCreate             = "atocore_backup_last_create_timestamp_seconds"
	NameLastCreateSuccess      = "atocore_backup_last_create_success"
	NameLastValidation         = "atocore_backup_last_validation_timestamp_seconds"
	NameLastValidationSuccess  = "atocore_backup_last_validation_success"
	NameLastPush               = "atocore_backup_last_push_timestamp_seconds"
	NameLastPushSuccess        = "atocore_backup_last_push_success"
	NameNewestPushedSnapshot   = "atocore_backup_newest_pushed_snapshot_timestamp_seconds"
	NameReplicationLastTick    = "atocore_backup_replication_last_tick_timestamp_seconds"
	NameReplicationLag         = "atocore_backup_replication_lag_seconds"
	NameReplicationWindowStart = "atocore_backup_replication_window_start_timestamp_seconds"
	NameReplicationBytes       = "atocore_backup_replication_bytes"
)

// LabelTarget names the off-site target of a push metric: its URL without
// secrets. It is the target's identity, the label to join on.
const LabelTarget = "target"

// LabelLocation names where a replication metric was read: "local" for
// the backup directory, else the off-site target's URL (the last tick the
// replicator shipped there).
const LabelLocation = "location"

// LabelTargetName is the name of the target in the configuration file
// ([[target]] name = ...) on the last-push metrics; empty when the push
// named the target by its URL.
const LabelTargetName = "target_name"

var (
	descSnapshots = prometheus.NewDesc(NameSnapshots,
		"Snapshot directories in the backup directory, valid or not.", nil, nil)
	descValidSnapshots = prometheus.NewDesc(NameValidSnapshots,
		"Snapshots whose metadata records that validation passed when they were created.", nil, nil)
	descSnapshotsBytes = prometheus.NewDesc(NameSnapshotsBytes,
		"Bytes of the snapshots' databases and Chroma directories as their metadata records them (a file hardlinked between snapshots counts in each).", nil, nil)
	descNewestSnapshot = prometheus.NewDesc(NameNewestSnapshot,
		"Time its stamp names of the newest snapshot, valid or not; 0 when there is none.", nil, nil)
	descNewestValidSnapshot = prometheus.NewDesc(NameNewestValidSnapshot,
		"Time its stamp names of the newest snapshot whose metadata records a passed validation; 0 when there is none.", nil, nil)
	descLastDrill = prometheus.NewDesc(NameLastDrill,
		"Start of the last restore drill in drills.jsonl; 0 when none ran.", nil, nil)
	descLastDrillSuccess = prometheus.NewDesc(NameLastDrillSuccess,
		"1 when the last restore drill passed, 0 when it failed or none ran.", nil, nil)
	descLastPassingDrill = prometheus.NewDesc(NameLastPassingDrill,
		"Start of the last restore drill that passed; 0 when none passed.", nil, nil)
	descLastCreate = prometheus.NewDesc(NameLastCreate,
		"When the last backup create recorded here finished.", nil, nil)
	descLastCreateSuccess = prometheus.NewDesc(NameLastCreateSuccess,
		"1 when the last backup create recorded here succeeded (snapshot in place and valid), else 0.", nil, nil)
	descLastValidation = prometheus.NewDesc(NameLastValidation,
		"When the last snapshot validation recorded here finished.", nil, nil)
	descLastValidationSuccess = prometheus.NewDesc(NameLastValidationSuccess,
		"1 when the last snapshot validation recorded here found the snapshot valid, else 0.", nil, nil)
	descNewestPushedSnapshot = prometheus.NewDesc(NameNewestPushedSnapshot,
		"Time its stamp names of the newest snapshot this machine pushed to the target, from the push state in the backup directory.", []string{LabelTarget}, nil)
	descReplicationLastTick = prometheus.NewDesc(NameReplicationLastTick,
		"When the newest replication chain last saw the database (its alive.json, or its last segment): everything committed before is replicated; 0 when there is no chain.", []string{LabelLocation}, nil)
	descReplicationLag = prometheus.NewDesc(NameReplicationLag,
		"Seconds since the newest replication chain last saw the database: what a loss of the machine would lose now. Absent when there is no chain.", []string{LabelLocation}, nil)
	descReplicationWindowStart = prometheus.NewDesc(NameReplicationWindowStart,
		"The oldest time restore --at can go back to (the first segment of the oldest chain whose base snapshot is still there); 0 when there is none.", []string{LabelLocation}, nil)
	descReplicationBytes = prometheus.NewDesc(NameReplicationBytes,
		"Bytes of the replication chains' LTX files (every level).", []string{LabelLocation}, nil)
	descLastPush = prometheus.NewDesc(NameLastPush,
		"When the last push to the target recorded here finished, whether it succeeded or not.", []string{LabelTarget, LabelTargetName}, nil)
	descLastPushSuccess = prometheus.NewDesc(NameLastPushSuccess,
		"1 when the last push to the target recorded here succeeded, 0 when it failed (the target unreachable or refusing included).", []string{LabelTarget, LabelTargetName}, nil)
)

// resultFamilies are the metrics only the process that ran the operation
// knows: WriteTextfile keeps them from the file it replaces when this run
// did not record them.
var resultFamilies = map[string]bool{
	NameLastCreate: true, NameLastCreateSuccess: true,
	NameLastValidation: true, NameLastValidationSuccess: true,
	NameLastPush: true, NameLastPushSuccess: true,
}
