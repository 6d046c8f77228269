package restore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/atocore/atocore-backup/backup"
	"github.com/atocore/atocore-backup/internal/durable"
	"github.com/atocore/atocore-backup/internal/snapshot"
	"github.com/atocore/atocore-backup/internal/sqlitedb"
)

// DrillLogFile is the drill log, one JSON object a line, in the backup directory.
const DrillLogFile = "drills.jsonl"

// maxDrillLogBytes bounds what ReadDrillLog reads: a monthly drill writes
// about a kilobyte a year.
const maxDrillLogBytes = 64 << 20

// DrillRecord is one line of drills.jsonl: what a drill did and whether it passed.
type DrillRecord struct {
	Time               string  `json:"time"` // RFC 3339 UTC, when the drill started
	Stamp              string  `json:"stamp"`
	PreRestoreSnapshot *string `json:"pre_restore_snapshot"`
	Pass               bool    `json:"pass"`
	// Detail says what passed or what went wrong, in one line.
	Detail string `json:"detail"`
	// DurationsMS times each step: create, mark, restore, check, total.
	DurationsMS map[string]int64 `json:"durations_ms"`
	// Surprises are findings that did not fail the drill but deserve a
	// look (warnings from restore, a Chroma directory that was skipped).
	Surprises     []string `json:"surprises"`
	IncludeChroma bool     `json:"include_chroma"`
	// FromTarget is the target a remote drill pulled from (without
	// secrets); "" for the live drill.
	FromTarget string `json:"from_target,omitempty"`
	// RecoverMS is how long a remote drill took to get from the target to
	// a restored database that reads: the time to recover.
	RecoverMS int64 `json:"time_to_recover_ms,omitempty"`
}

// LogDrill appends rec to the drill log of cfg's backup directory (a
// remote drill's record; the live drill logs its own).
func LogDrill(cfg backup.Config, rec *DrillRecord) error {
	cfg, err := cfg.Resolved()
	if err != nil {
		return err
	}
	return appendDrillLog(cfg, rec)
}

// DrillOptions tunes a drill. ConfirmServiceStopped must be set: the drill
// restores, and restoring under a running service corrupts it.
type DrillOptions struct {
	ConfirmServiceStopped bool
	// Wait waits for the backup directory's lock instead of failing with backup.ErrBusy.
	Wait bool
	// WaitLimit, with Wait, gives up after this long with an error that
	// matches backup.ErrBusy; 0 waits until ctx ends.
	WaitLimit time.Duration
	// Waiting, with Wait, is called once when the wait begins, with the
	// error (matching backup.ErrBusy) that names the lock's holder.
	Waiting func(busy error)
	// AfterMark, when set, runs after the marker is written and before the
	// restore; tests use it to sabotage the restore and see the drill fail.
	AfterMark func(stamp string) error
	// Marker writes the drill's marker through the embedding server's own
	// write path. nil is the built-in one: a row in DrillTable, a table the
	// drill creates in the live database.
	Marker MarkerWriter
}

// ErrDrillFailed is matched by errors.Is when a drill ran to the end and
// found the restore did not do its job (see the record's Detail).
var ErrDrillFailed = errors.New("restore drill failed")

// Drill is the procedure's live drill, automated: it takes a snapshot
// (with Chroma when there is a live Chroma directory), writes a marker
// through opts.Marker (by default into its own table, DrillTable),
// restores the snapshot (with a pre-restore snapshot), and checks that the
// marker is gone and the database holds exactly the snapshot's data. When
// the restore does not happen (a failure between the marker and the
// restore's commit), it removes the marker, and says so in the record's
// Surprises. It appends the outcome to <backup_dir>/drills.jsonl, pass or
// fail, and holds the backup directory's lock throughout.
func Drill(ctx context.Context, cfg backup.Config, opts DrillOptions) (*DrillRecord, error) {
	if !opts.ConfirmServiceStopped {
		return nil, ErrServiceNotStopped
	}
	cfg, err := cfg.Resolved()
	if err == nil {
		err = cfg.Require(backup.NeedDB, backup.NeedBackup)
	}
	if err != nil {
		return nil, fmt.Errorf("drill: %w", err)
	}
	// The drill writes into the live database and restores over it: like
	// a restore, it refuses while another process still holds it, before
	// its snapshot or its marker.
	live, err := cfg.Paths.Real()
	if err == nil {
		err = checkHolders(live)
	}
	if err != nil {
		return nil, fmt.Errorf("drill: %w", err)
	}
	lock, err := backup.LockDir(ctx, cfg, "drill", backup.Wait{On: opts.Wait, Limit: opts.WaitLimit, Notify: opts.Waiting})
	if err != nil {
		return nil, fmt.Errorf("drill: %w", err)
	}
	defer lock.Release()

	start := time.Now()
	rec := &DrillRecord{Time: start.UTC().Format(time.RFC3339), DurationsMS: map[string]int64{}, Surprises: []string{}}
	runErr := drill(ctx, cfg, opts, lock, rec)
	rec.DurationsMS["total"] = time.Since(start).Milliseconds()
	if runErr != nil && rec.Detail == "" {
		rec.Detail = runErr.Error()
	}
	if err := appendDrillLog(cfg, rec); err != nil {
		return rec, fmt.Errorf("drill: record the outcome in %s: %w", DrillLogFile, err)
	}
	if runErr != nil {
		return rec, fmt.Errorf("drill: %w", runErr)
	}
	return rec, nil
}

func drill(ctx context.Context, cfg backup.Config, opts DrillOptions, lock *backup.Lock, rec *DrillRecord) error {
	step := func(name string, t0 time.Time) { rec.DurationsMS[name] = time.Since(t0).Milliseconds() }

	t0 := time.Now()
	_, err := os.Stat(filepath.Join(cfg.ChromaPath, snapshot.ChromaDBName))
	rec.IncludeChroma = err == nil
	if !rec.IncludeChroma {
		rec.Surprises = append(rec.Surprises, "no live Chroma directory at "+cfg.ChromaPath+": drilled the database and registry only")
	}
	meta, err := backup.Create(ctx, cfg, backup.CreateOptions{Kind: backup.KindDrill, IncludeChroma: rec.IncludeChroma, Lock: lock})
	if err != nil {
		return err
	}
	rec.Stamp = meta.Stamp
	baseline, err := sqlitedb.ReadContent(ctx, meta.DBSnapshotPath)
	if err != nil {
		return fmt.Errorf("read the snapshot's database: %w", err)
	}
	step("create", t0)

	t0 = time.Now()
	marker := opts.Marker
	if marker == nil {
		marker = &tableMarker{dbPath: cfg.DBPath}
	}
	markerText := newMarkerText()
	// From here until the restore commits, a failure leaves the marker in
	// the live state: take it out again.
	restored := false
	defer func() {
		if !restored {
			removeMarker(ctx, marker, markerText, rec)
		}
	}()
	if err := marker.WriteMarker(ctx, markerText); err != nil {
		return fmt.Errorf("write the drill marker: %w", err)
	}
	if n, err := marker.CountMarker(ctx, markerText); err != nil || n != 1 {
		return fmt.Errorf("the drill marker is not readable after writing it (count %d): %v", n, err)
	}
	if opts.AfterMark != nil {
		if err := opts.AfterMark(meta.Stamp); err != nil {
			return err
		}
	}
	step("mark", t0)

	t0 = time.Now()
	res, err := Run(ctx, cfg, meta.Stamp, Options{ConfirmServiceStopped: true, Lock: lock})
	if res != nil {
		rec.PreRestoreSnapshot = res.PreRestoreSnapshot
		rec.Surprises = append(rec.Surprises, res.Warnings...)
		restored = res.DBRestored
	}
	step("restore", t0)
	if err != nil {
		return err
	}

	t0 = time.Now()
	defer step("check", t0)
	n, err := marker.CountMarker(ctx, markerText)
	if err != nil {
		return err
	}
	after, err := sqlitedb.ReadContent(ctx, cfg.DBPath)
	if err != nil {
		return fmt.Errorf("read the restored database: %w", err)
	}
	var failures []string
	if n != 0 {
		failures = append(failures, fmt.Sprintf("the drill marker is still in the live state (%d found)", n))
	}
	if after.Digest != baseline.Digest {
		failures = append(failures, "the restored database differs from the snapshot ("+diffRows(baseline.Rows, after.Rows)+")")
	}
	if !res.RestoredIntegrityOK {
		failures = append(failures, "restored_integrity_ok is false")
	}
	if len(failures) > 0 {
		rec.Detail = strings.Join(failures, "; ")
		return fmt.Errorf("%w: %s", ErrDrillFailed, rec.Detail)
	}
	rec.Pass = true
	rec.Detail = fmt.Sprintf("marker gone, %d tables identical to snapshot %s, integrity ok", len(after.Rows), meta.Stamp)
	return nil
}

func diffRows(want, got map[string]int64) string {
	var out []string
	for t, n := range want {
		if got[t] != n {
			out = append(out, fmt.Sprintf("%s: %d rows, snapshot %d", t, got[t], n))
		}
	}
	if len(out) == 0 {
		return "same row counts, different rows"
	}
	return strings.Join(out, ", ")
}

// newMarkerText returns a marker no earlier drill wrote.
func newMarkerText() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return "DRILL-MARKER drill-" + hex.EncodeToString(b[:])
}

// removeMarker takes the marker out of the live state after a drill whose
// restore did not happen, and records the outcome in rec.
func removeMarker(ctx context.Context, m MarkerWriter, text string, rec *DrillRecord) {
	ctx = context.WithoutCancel(ctx) // an interrupted drill still cleans up
	err := m.RemoveMarker(ctx, text)
	n := 0
	if err == nil {
		n, err = m.CountMarker(ctx, text)
	}
	if err == nil && n == 0 {
		note := "the restore did not happen: drill marker removed from the live state"
		if _, builtin := m.(*tableMarker); builtin {
			note += " (with the " + DrillTable + " table the drill created)"
		}
		rec.Surprises = append(rec.Surprises, note)
		return
	}
	if err == nil {
		err = fmt.Errorf("%d still found after removing it", n)
	}
	rec.Surprises = append(rec.Surprises, fmt.Sprintf("the restore did not happen and the drill marker %q could not be removed (%v): "+
		"remove it by hand, or restore the drill snapshot %s", text, err, rec.Stamp))
}

// appendDrillLog appends rec to drills.jsonl and fsyncs it.
func appendDrillLog(cfg backup.Config, rec *DrillRecord) error {
	line, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	if err := cfg.FS.MkdirAll(cfg.BackupDir, 0o700); err != nil {
		return err
	}
	return durable.AppendLine(cfg.FS, filepath.Join(cfg.BackupDir, DrillLogFile), line)
}

// ReadDrillLog returns the drills recorded in cfg's backup directory,
// oldest first. A missing log is an empty one; a line that is not JSON is
// an error naming the line.
func ReadDrillLog(cfg backup.Config) ([]DrillRecord, error) {
	cfg, err := cfg.Resolved()
	if err == nil {
		err = cfg.Require(backup.NeedBackup)
	}
	if err != nil {
		return nil, err
	}
	// A regular file reached through no link, read within a bound: a FIFO
	// or a giant file planted there must not hang or exhaust `drills`.
	data, err := durable.ReadFileNoLinks(cfg.FS, cfg.BackupDir, DrillLogFile, maxDrillLogBytes)
	if errors.Is(err, os.ErrNotExist) {
		return []DrillRecord{}, nil
	}
	if err != nil {
		return nil, err
	}
	out := []DrillRecord{}
	for i, line := range strings.Split(strings.TrimRight(string(data), "\n"), "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		var r DrillRecord
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			return nil, fmt.Errorf("%s line %d is not a drill record: %w", DrillLogFile, i+1, err)
		}
		out = append(out, r)
	}
	return out, nil
}
