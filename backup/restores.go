package backup

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"time"

	"github.com/spf13/afero"

	"github.com/atocore/atocore-backup/internal/durable"
	"github.com/atocore/atocore-backup/internal/retention"
	"github.com/atocore/atocore-backup/internal/snapshot"
)

// RestoreLogFile is the record of restores, one JSON object a line, in the
// backup directory: which snapshot was restored when. Prune reads it to keep
// the snapshot a restore came from (SPEC restore rule 11).
const RestoreLogFile = "restores.jsonl"

// RestoredFromAge is how long after a restore prune keeps the snapshot it
// came from (reason "restored-from"), whatever the policy.
const RestoredFromAge = retention.RestoredFromAge

// restoreLogCap bounds how much of restores.jsonl a prune reads: its tail,
// where the records of the last RestoredFromAge are (a line is ~70 bytes,
// so 1 MiB holds some 15,000 restores).
const restoreLogCap = 1 << 20

// RestoreRecord is one line of restores.jsonl.
type RestoreRecord struct {
	// Stamp is the snapshot restored from.
	Stamp string `json:"stamp"`
	// RestoredAt is when the restore committed, RFC 3339 UTC.
	RestoredAt string `json:"restored_at"`
}

// RecordRestore appends to cfg's restores.jsonl that snapshot stamp was
// restored at time at, durably (appended, then fsynced), so that every
// later prune keeps that snapshot for RestoredFromAge. restore.Run calls it
// once the restore has committed, under the backup directory's lock. A
// line torn by a crash is left as it is; the new record starts on a line
// of its own.
func RecordRestore(ctx context.Context, cfg Config, stamp string, at time.Time) error {
	if _, err := snapshot.ParseStamp(stamp); err != nil {
		return fmt.Errorf("record restore of %q: %w", stamp, err)
	}
	cfg, err := cfg.Resolved()
	if err == nil {
		err = cfg.Require(NeedBackup)
	}
	if err != nil {
		return fmt.Errorf("record restore of %s: %w", stamp, err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	line, err := json.Marshal(RestoreRecord{Stamp: stamp, RestoredAt: at.UTC().Format(time.RFC3339)})
	if err != nil {
		return err
	}
	name := filepath.Join(cfg.BackupDir, RestoreLogFile)
	if err := durable.AppendLine(cfg.FS, name, line); err != nil {
		return fmt.Errorf("record restore of %s in %s: %w", stamp, name, err)
	}
	return nil
}

// stampInText finds stamps in a damaged line.
var stampInText = regexp.MustCompile(`\d{8}T\d{6}Z`)

// readRestores returns, for each snapshot named in backupDir's
// restores.jsonl, the time of its newest restore, and a warning per
// damaged line. It never fails: a missing log is an empty one, and an
// unreadable one is a warning. It reads at most the last restoreLogCap
// bytes.
//
// A damaged line may be the record of a restore, so it may only keep more:
// each stamp found in it counts as restored at the time of the next good
// record (records are appended in time order, so the lost one is no
// later), or at now when none follows. A torn last line (a crash while
// appending) thus keeps its snapshot until the next restore is recorded,
// then for RestoredFromAge.
func readRestores(fsys afero.Fs, backupDir string, now time.Time) (map[string]time.Time, []string) {
	name := filepath.Join(backupDir, RestoreLogFile)
	data, err := readTail(fsys, name, restoreLogCap)
	if errors.Is(err, os.ErrNotExist) {
		return map[string]time.Time{}, []string{}
	}
	if err != nil {
		return map[string]time.Time{}, []string{fmt.Sprintf("restore_log_unreadable: %s: %v; snapshots restored from are kept by the policy only", name, err)}
	}
	lines := bytes.Split(data, []byte{'\n'})
	restored := map[string]time.Time{}
	warnings := []string{}
	var pending []string // stamps of damaged lines, waiting for the next good time
	settle := func(at time.Time) {
		for _, s := range pending {
			if at.After(restored[s]) {
				restored[s] = at
			}
		}
		pending = nil
	}
	for i, line := range lines {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		stamp, at, problem := parseRestoreLine(line)
		if problem == "" {
			settle(at)
			if at.After(restored[stamp]) {
				restored[stamp] = at
			}
			continue
		}
		found := stampsIn(line)
		pending = append(pending, found...)
		w := fmt.Sprintf("restore_log_damaged: %s line %d: %s", name, i+1, problem)
		if len(found) > 0 {
			w += fmt.Sprintf("; kept as restored from: %v", found)
		}
		warnings = append(warnings, w+"; fix or delete the line")
	}
	settle(now)
	return restored, warnings
}

// parseRestoreLine decodes one record, or says what is wrong with it.
func parseRestoreLine(line []byte) (string, time.Time, string) {
	var rec RestoreRecord
	if err := json.Unmarshal(line, &rec); err != nil {
		return "", time.Time{}, "not a restore record: " + err.Error()
	}
	if _, err := snapshot.ParseStamp(rec.Stamp); err != nil {
		return "", time.Time{}, fmt.Sprintf("stamp %q is not a snapshot stamp", rec.Stamp)
	}
	at, err := time.Parse(time.RFC3339, rec.RestoredAt)
	if err != nil {
		return "", time.Time{}, fmt.Sprintf("restored_at %q is not an RFC 3339 time", rec.RestoredAt)
	}
	return rec.Stamp, at, ""
}

// stampsIn returns the well-formed stamps a damaged line still holds.
func stampsIn(line []byte) []string {
	var out []string
	for _, m := range stampInText.FindAll(line, -1) {
		if s := string(m); snapshot.IsStamp(s) {
			out = append(out, s)
		}
	}
	return out
}

// readTail reads at most the last limit bytes of name; when it cut the
// file, the first, partial line is dropped.
func readTail(fsys afero.Fs, name string, limit int64) ([]byte, error) {
	// Checked before it is opened: opening a FIFO planted there would
	// block prune (and every create behind its lock).
	f, fi, err := durable.OpenNoLinks(fsys, filepath.Dir(name), filepath.Base(name))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi.Size() <= limit {
		return io.ReadAll(io.NewSectionReader(f, 0, limit))
	}
	// From one byte before the cut: a line that starts right at the cut
	// follows that byte's newline, and is kept.
	data, err := io.ReadAll(io.NewSectionReader(f, fi.Size()-limit-1, limit+1))
	if err != nil {
		return nil, err
	}
	if i := bytes.IndexByte(data, '\n'); i >= 0 {
		return data[i+1:], nil
	}
	return nil, nil
}
