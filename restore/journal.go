package restore

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/atocore/atocore-backup/backup"
	"github.com/atocore/atocore-backup/internal/durable"
	"github.com/atocore/atocore-backup/internal/sqlitedb"
)

// JournalFile, in the backup directory, records the phase of the restore
// in progress (rule 10), so that the next restore knows what a killed one
// left: a staging directory of a restore that never began its swap is
// garbage, and the live state is intact; one whose swap began has changed
// the live state, and its pre-restore snapshot holds what was there.
const JournalFile = ".restore-journal.json"

// maxJournalBytes bounds the read of a journal.
const maxJournalBytes = 64 << 10

// Phases of a restore, in order.
const (
	phaseStaging  = "staging"  // copying the snapshot beside the live files; nothing live changed
	phaseSwapping = "swapping" // renaming staged files over the live ones
)

// journal is the content of JournalFile.
type journal struct {
	cfg                backup.Config
	Stamp              string  `json:"stamp"`
	Phase              string  `json:"phase"`
	PreRestoreSnapshot *string `json:"pre_restore_snapshot"`
	// Earlier is a restore that was interrupted during its swap before
	// this one began: until this one completes, the live Chroma directory
	// may still be that one's half-swapped state.
	Earlier *Interrupted `json:"earlier,omitempty"`
}

func (j *journal) path() string { return filepath.Join(j.cfg.BackupDir, JournalFile) }

// write records the journal durably (temporary file, fsync, rename).
func (j *journal) write() error {
	data, err := json.Marshal(j)
	if err != nil {
		return err
	}
	if err := durable.WriteFile(j.cfg.FS, j.path(), append(data, '\n'), 0o600); err != nil {
		return fmt.Errorf("record the restore's progress in %s: %w", j.path(), err)
	}
	return nil
}

// remove deletes the journal: the restore is done, or changed nothing.
func (j *journal) remove() {
	if err := j.cfg.FS.Remove(j.path()); err == nil {
		_ = durable.SyncDir(j.cfg.FS, j.cfg.BackupDir)
	}
}

// abandon ends a restore that changed nothing live: its journal goes,
// unless it carries an earlier interrupted swap, which the next restore
// must still complete.
func (j *journal) abandon() {
	if j.Earlier == nil {
		j.remove()
	}
}

// readJournal returns the journal a killed restore left; nil when there is
// none. A journal that exists and cannot be read (not a regular file, too
// large, not JSON) is an error: guessing could lose the record of a swap
// that had begun.
func readJournal(cfg backup.Config) (*journal, error) {
	j := &journal{cfg: cfg}
	data, err := durable.ReadFileNoLinks(cfg.FS, cfg.BackupDir, JournalFile, maxJournalBytes)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err == nil {
		err = json.Unmarshal(data, j)
	}
	if err == nil && j.Phase != phaseStaging && j.Phase != phaseSwapping {
		err = fmt.Errorf("unknown phase %q", j.Phase)
	}
	if err != nil {
		return nil, &RefusedError{Reason: ReasonInterrupted, What: backup.WhatBackupDir,
			Detail: fmt.Sprintf("the restore journal %s cannot be read (%v): it records what an interrupted restore changed; "+
				"look at it and at the live Chroma directory, then remove it by hand once the live state is known", j.path(), err)}
	}
	return j, nil
}

// readInterrupted reads the journal before any check of the live paths:
// a swap that had begun left the live Chroma directory half replaced (it
// may lack chroma.sqlite3), which preflight must accept as this tool's own
// state, and which this restore must complete.
func (r *restorer) readInterrupted() error {
	j, err := readJournal(r.cfg)
	if err != nil || j == nil {
		return err
	}
	var in *Interrupted
	if j.Phase == phaseSwapping {
		in = &Interrupted{Stamp: j.Stamp, PreRestoreSnapshot: j.PreRestoreSnapshot, Earlier: j.Earlier}
	} else {
		in = j.Earlier // killed while staging, after an earlier swap that no restore completed
	}
	if in != nil {
		r.interrupted = true
		r.res.Interrupted = in
		r.res.Warnings = append(r.res.Warnings, "interrupted_restore: "+in.describe())
	}
	return nil
}

// describe says what an interrupted restore left and which snapshot holds
// the state from before it.
func (in *Interrupted) describe() string {
	msg := fmt.Sprintf("a previous restore of %s stopped while replacing the live files; this restore replaces them whole", in.Stamp)
	for e := in; e != nil; e = e.Earlier {
		if e.PreRestoreSnapshot != nil {
			msg += "; the pre-restore snapshot " + *e.PreRestoreSnapshot + " holds the state from before the restore of " + e.Stamp
		} else {
			msg += "; the restore of " + e.Stamp + " took no pre-restore snapshot"
		}
	}
	return msg
}

// recover cleans up after a restore that was killed (rule 10). Staged
// copies beside the live database and registry are never live data and go.
// A Chroma staging directory is garbage unless the journal says the swap
// had begun: then the live Chroma directory may be half old, half new, this
// restore replaces it whole, and the killed restore's pre-restore snapshot
// (named in the result) holds the state from before. Otherwise the live
// Chroma directory is intact, and this restore's pre-restore snapshot
// includes it.
func (r *restorer) recover() error {
	for _, live := range []string{r.live.DBPath, r.live.RegistryPath} {
		if live == "" {
			continue
		}
		pattern := filepath.Join(filepath.Dir(live), "."+filepath.Base(live)+".restore-*")
		matches, _ := filepath.Glob(pattern)
		for _, m := range matches {
			sqlitedb.RemoveWithSidecars(m)
		}
	}
	if r.interrupted {
		return nil // the staging directory holds the interrupted swap's files
	}
	if r.live.ChromaPath == "" {
		return nil
	}
	staging := filepath.Join(r.live.ChromaPath, stagingName)
	if err := os.RemoveAll(staging); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove the staging directory %s of an interrupted restore: %w", staging, err)
	}
	return nil
}
