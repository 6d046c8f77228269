package offsite

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"path/filepath"
	"slices"

	"github.com/spf13/afero"

	"github.com/atocore/atocore-backup/internal/durable"
	"github.com/atocore/atocore-backup/internal/snapshot"
)

// keepEntries bounds the push state: only recent snapshots are link sources.
const keepEntries = 8

// maxPushed bounds the list of pushed stamps (years of daily pushes).
const maxPushed = 4000

// pushState remembers, per target, which remote file holds which plaintext
// (by digest) under which keys. It lives in the local backup directory,
// which already holds the plaintext; the target learns nothing from it.
// Lost or stale, it only costs a full upload.
type pushState struct {
	path    string
	Target  string        `json:"target"`
	Entries []*stateEntry `json:"entries"` // oldest first
	// Pushed lists every stamp pushed to this target: one the target no
	// longer has was removed by its own retention and is not sent again.
	Pushed []string `json:"pushed"`
	// Stated lists the stamps this machine pushed with a statement (every
	// push since statements exist): one found on the target without its
	// statement lost it there, and is repaired, not taken for a snapshot
	// pushed before statements existed.
	Stated []string `json:"stated,omitempty"`
}

type stateEntry struct {
	Stamp   string                   `json:"stamp"`
	KeyID   string                   `json:"key_id"`
	KeyFile string                   `json:"key_file,omitempty"`
	Files   map[string]snapshot.File `json:"files"` // by plaintext SHA-256: the remote file
	// Chain says, by plaintext SHA-256, which of Files are page deltas,
	// and on what: the stamps of the snapshots on the target the copy is
	// rebuilt from, its base first, the whole copy last (its depth is
	// their number). Absent: a whole copy.
	Chain map[string][]string `json:"chain,omitempty"`
}

func loadState(fsys afero.Fs, backupDir, target string) *pushState {
	sum := sha256.Sum256([]byte(target))
	st := &pushState{path: filepath.Join(backupDir, stateDir, hex.EncodeToString(sum[:8])+".json"), Target: target}
	data, err := afero.ReadFile(fsys, st.path)
	if err == nil {
		var saved pushState
		if json.Unmarshal(data, &saved) == nil && saved.Target == target {
			st.Entries = saved.Entries
			st.Pushed = saved.Pushed
			st.Stated = saved.Stated
		}
	}
	return st
}

// latest returns the newest entry whose snapshot is still on the remote.
func (st *pushState) latest(r Remote, rfs afero.Fs, root string) *stateEntry {
	for i := len(st.Entries) - 1; i >= 0; i-- {
		if _, err := rfs.Stat(snapshot.Dir(root, st.Entries[i].Stamp)); err == nil {
			return st.Entries[i]
		}
	}
	return nil
}

// entry returns the entry of stamp, nil when the state no longer has it.
func (st *pushState) entry(stamp string) *stateEntry {
	for _, e := range st.Entries {
		if e.Stamp == stamp {
			return e
		}
	}
	return nil
}

func (st *pushState) add(e *stateEntry) {
	st.Pushed = appendBounded(st.Pushed, e.Stamp)
	st.Stated = appendBounded(st.Stated, e.Stamp)
	st.Entries = append(st.Entries, e)
	if len(st.Entries) > keepEntries {
		st.Entries = st.Entries[len(st.Entries)-keepEntries:]
	}
}

func (st *pushState) save(fsys afero.Fs) error {
	if err := fsys.MkdirAll(filepath.Dir(st.path), 0o700); err != nil {
		return err
	}
	data, err := json.MarshalIndent(st, "", " ")
	if err != nil {
		return err
	}
	return durable.WriteFile(fsys, st.path, data, 0o600)
}

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }

// appendBounded adds stamp to list once, keeping the newest maxPushed.
func appendBounded(list []string, stamp string) []string {
	if slices.Contains(list, stamp) {
		return list
	}
	list = append(list, stamp)
	if len(list) > maxPushed {
		list = list[len(list)-maxPushed:]
	}
	return list
}
