package offsite

// The journal: which files of an incoming snapshot are finished, so that
// an interrupted push resumes without sending them again.

import (
	"context"
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"

	"github.com/atocore/atocore-backup/backup"

	"github.com/spf13/afero"

	"github.com/atocore/atocore-backup/internal/durable"
	"github.com/atocore/atocore-backup/internal/snapshot"
	"github.com/atocore/atocore-backup/target"
)

// journal is the record of finished files of one incoming snapshot.
type journal struct {
	KeyID string                   `json:"key_id"`
	Files map[string]snapshot.File `json:"files"` // by remote path
	// Uploads are the uploads in parts started and not finished, by
	// uploadKey (the target's address and the remote path): a push cut
	// off continues them (target.PartResumer). Never written to a target.
	Uploads map[string]partUpload `json:"uploads,omitempty"`
}

// partUpload is an upload in parts this machine started: the target's id
// for it, the digest of the plaintext it carries, and, for an encrypted
// file, the age file key and nonce it is encrypted under (as secret as
// the plaintext, which is on this machine too: the local journal is 0600
// and removed when the push ends). Encrypting the same plaintext under
// them again gives the same parts, which the target then keeps.
type partUpload struct {
	Target string `json:"target"` // the target's address
	Path   string `json:"path"`   // the remote path below the snapshot
	ID     string `json:"id"`
	Plain  string `json:"plain_sha256"`
	Header []byte `json:"age_header,omitempty"`
	Key    []byte `json:"age_file_key,omitempty"`
	Nonce  []byte `json:"age_nonce,omitempty"`
}

// resumable reports whether dst on the target holds the file done that
// this machine uploaded before it was interrupted: a regular file of its
// size whose bytes hash to the digest this machine computed (the target
// could have put other bytes there; re-reading costs less than sending).
func resumable(ctx context.Context, rfs afero.Fs, dst string, done snapshot.File) bool {
	if done.Path == "" || done.SHA256 == "" {
		return false
	}
	fi, err := lstat(rfs, dst)
	if err != nil || !fi.Mode().IsRegular() || fi.Size() != done.Size {
		return false
	}
	d, err := durable.HashFile(ctx, rfs, dst)
	return err == nil && d.Size == done.Size && d.SHA256 == done.SHA256
}

// maxJournalSize bounds a push journal: a few hundred bytes per file.
const maxJournalSize = 64 << 20

// readLocalJournal reads this machine's record of an interrupted upload;
// an empty journal when there is none or it cannot be read.
func readLocalJournal(fsys afero.Fs, name string) *journal {
	jr := &journal{Files: map[string]snapshot.File{}}
	data, err := durable.ReadFileNoLinks(fsys, filepath.Dir(name), filepath.Base(name), maxJournalSize)
	if err != nil || json.Unmarshal(data, jr) != nil || jr.Files == nil {
		return &journal{Files: map[string]snapshot.File{}}
	}
	return jr
}

// writeLocalJournal records jr durably beside the push state.
func writeLocalJournal(fsys afero.Fs, name string, jr *journal) error {
	data, err := json.Marshal(jr)
	if err != nil {
		return err
	}
	if err := fsys.MkdirAll(filepath.Dir(name), 0o700); err != nil {
		return err
	}
	return durable.WriteFile(fsys, name, data, 0o600)
}

// writeJournal writes jr on the target, beside the upload, for whoever
// looks at an interrupted push there (a push resumes from its own, local
// journal only). On object storage it is not written: there each write
// is several requests per batch of files, for a file nobody reads.
func writeJournal(rfs afero.Fs, incoming string, jr *journal) error {
	if target.IsObjectStore(rfs) {
		return nil
	}
	// Without the uploads in parts: their age file keys never leave this
	// machine.
	data, err := json.Marshal(journal{KeyID: jr.KeyID, Files: jr.Files})
	if err != nil {
		return err
	}
	return writeRemote(rfs, filepath.Join(incoming, journalFile), data)
}

// uploadKey is where an upload in parts of the file rel to the target
// url is in journal.Uploads: one local journal serves every target a
// stamp is pushed to, and an upload is continued only on its own.
func uploadKey(url, rel string) string { return url + " " + rel }

// forgetGoneJournals removes the local journals of stamps that are no
// longer local snapshots (pruned before they were pushed): no push can
// finish them, and their uploads' age file keys would outlive the
// plaintext they encrypt. The uploads to this target they name are
// aborted on it; those to others are left to the bucket's lifecycle rule.
func (p *pusher) forgetGoneJournals(local []backup.Snapshot) {
	dir := filepath.Join(p.cfg.BackupDir, stateDir)
	entries, err := afero.ReadDir(p.cfg.FS, dir)
	if err != nil {
		return
	}
	pr, resumes := p.remote.FS.(target.PartResumer)
	for _, e := range entries {
		stamp, ok := strings.CutPrefix(e.Name(), "incoming-")
		if !ok || !e.Mode().IsRegular() {
			continue
		}
		if stamp, ok = strings.CutSuffix(stamp, ".json"); !ok || !snapshot.IsStamp(stamp) {
			continue
		}
		if slices.ContainsFunc(local, func(s backup.Snapshot) bool { return s.Stamp == stamp }) {
			continue
		}
		name := filepath.Join(dir, e.Name())
		if resumes {
			for _, u := range readLocalJournal(p.cfg.FS, name).Uploads {
				if u.Target == p.remote.URL {
					_ = pr.AbortUpload(filepath.Join(snapshot.Dir(p.remote.Root, stamp), filepath.FromSlash(u.Path)), u.ID)
				}
			}
		}
		_ = p.cfg.FS.Remove(name)
	}
}
