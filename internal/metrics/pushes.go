package metrics

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"regexp"
	"time"

	"github.com/spf13/afero"

	"github.com/atocore/atocore-backup/backup"
	"github.com/atocore/atocore-backup/internal/durable"
)

// PushOutcomeDir, in the backup directory, holds the outcome of the last
// push to each target, a small JSON file per target: what a process that
// did not push (the admin server's /metrics) knows of the pushes cron ran,
// the failed ones included. Only a push writes there.
const PushOutcomeDir = ".push-outcomes"

// maxOutcomeBytes bounds one outcome file read back.
const maxOutcomeBytes = 64 << 10

var outcomeFileName = regexp.MustCompile(`^[0-9a-f]{16}\.json$`)

// savedPush is one file of PushOutcomeDir.
type savedPush struct {
	Target string    `json:"target"`
	Name   string    `json:"name,omitempty"`
	Time   time.Time `json:"time"`
	OK     bool      `json:"ok"`
}

// SavePushes records the push outcomes res holds in cfg's backup
// directory (which must exist), replacing each target's previous one, so
// that every process's metrics report them. Without a recorded push it
// does nothing: the commands that only read write nothing.
func SavePushes(cfg backup.Config, res *Results) error {
	_, _, push := res.snapshot()
	if len(push) == 0 {
		return nil
	}
	cfg, err := cfg.Resolved()
	if err == nil {
		err = cfg.Require(backup.NeedBackup)
	}
	if err != nil {
		return fmt.Errorf("push outcomes: %w", err)
	}
	dir := filepath.Join(cfg.BackupDir, PushOutcomeDir)
	if err := cfg.FS.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("push outcomes: %w", err)
	}
	for target, o := range push {
		data, err := json.Marshal(savedPush{Target: target, Name: o.Name, Time: o.Time.UTC(), OK: o.OK})
		if err != nil {
			return fmt.Errorf("push outcomes: %w", err)
		}
		if err := durable.WriteFile(cfg.FS, filepath.Join(dir, outcomeFile(target)), append(data, '\n'), 0o600); err != nil {
			return fmt.Errorf("push outcomes: %w", err)
		}
	}
	return nil
}

// outcomeFile names a target's file: a digest of its URL, which may hold
// characters no file name can.
func outcomeFile(target string) string {
	sum := sha256.Sum256([]byte(target))
	return hex.EncodeToString(sum[:8]) + ".json"
}

// loadPushes reads PushOutcomeDir back, by target. A missing directory is
// no push; a file that does not parse, or is not under its target's
// name, is skipped (a lost outcome is a push that did not run, and its
// age alert fires).
func loadPushes(cfg backup.Config) (map[string]PushOutcome, error) {
	cfg, err := cfg.Resolved()
	if err == nil {
		err = cfg.Require(backup.NeedBackup)
	}
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(cfg.BackupDir, PushOutcomeDir)
	out := map[string]PushOutcome{}
	entries, err := afero.ReadDir(cfg.FS, dir)
	if errors.Is(err, fs.ErrNotExist) {
		return out, nil
	}
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		if !e.Mode().IsRegular() || !outcomeFileName.MatchString(e.Name()) {
			continue
		}
		data, err := durable.ReadFileNoLinks(cfg.FS, dir, e.Name(), maxOutcomeBytes)
		if err != nil {
			continue
		}
		var s savedPush
		if json.Unmarshal(data, &s) != nil || s.Target == "" || outcomeFile(s.Target) != e.Name() || s.Time.IsZero() {
			continue
		}
		out[s.Target] = PushOutcome{Outcome{s.Time, s.OK}, s.Name}
	}
	return out, nil
}
