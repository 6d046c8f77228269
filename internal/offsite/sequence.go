package offsite

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/spf13/afero"

	"github.com/atocore/atocore-backup/internal/durable"
	"github.com/atocore/atocore-backup/internal/snapshot"
	"github.com/atocore/atocore-backup/internal/sshsig"
)

// ErrRollback is matched by errors.Is when a target's newest signed
// snapshot is older (by sequence number) than the newest this machine has
// verified there: the target lost snapshots, or hides them to make an
// older state look current.
var ErrRollback = errors.New("the target's newest signed snapshot is older than one this machine has seen there")

// seen is what this machine remembers of a target's sequence: the newest
// signed statement it verified (or pushed) there. It lives beside the
// push state in the backup directory, written durably; a machine without
// it (a fresh disaster-recovery host) cannot tell a rolled-back target
// from an intact one.
type seen struct {
	path      string
	Target    string `json:"target"`
	Sequence  uint64 `json:"sequence"`
	Stamp     string `json:"stamp"`
	Statement string `json:"statement_sha256"`
}

func loadSeen(fsys afero.Fs, backupDir, target string) *seen {
	sum := sha256.Sum256([]byte(target))
	s := &seen{path: filepath.Join(backupDir, stateDir, hex.EncodeToString(sum[:8])+".sequence.json"), Target: target}
	if data, err := afero.ReadFile(fsys, s.path); err == nil {
		var saved seen
		if json.Unmarshal(data, &saved) == nil && saved.Target == target {
			s.Sequence, s.Stamp, s.Statement = saved.Sequence, saved.Stamp, saved.Statement
		}
	}
	return s
}

// note remembers the statement of sig when it is newer than what is
// remembered, and saves it.
func (s *seen) note(fsys afero.Fs, sig *signed) error {
	if sig == nil || sig.st == nil || sig.st.Sequence <= s.Sequence {
		return nil
	}
	s.Sequence, s.Stamp, s.Statement = sig.st.Sequence, sig.st.Stamp, sig.digest
	if err := fsys.MkdirAll(filepath.Dir(s.path), 0o700); err != nil {
		return fmt.Errorf("remember the target's sequence: %w", err)
	}
	data, err := json.MarshalIndent(s, "", " ")
	if err != nil {
		return err
	}
	if err := durable.WriteFile(fsys, s.path, data, 0o600); err != nil {
		return fmt.Errorf("remember the target's sequence: %w", err)
	}
	return nil
}

// newestSigned returns the statement of highest sequence on the remote
// that verifies against signers (nil when none does). With nil signers
// no statement is believed and it returns nil.
func newestSigned(ctx context.Context, remote Remote, signers *sshsig.AllowedSigners) (*signed, error) {
	if signers == nil {
		return nil, nil
	}
	entries, err := afero.ReadDir(remote.FS, filepath.Join(remote.Root, snapshot.SnapshotsDir))
	if err != nil {
		return nil, nil // no snapshots/ yet: nothing signed
	}
	var best *signed
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if !e.IsDir() || !snapshot.IsStamp(e.Name()) {
			continue
		}
		s := readSigned(remote.FS, snapshot.Dir(remote.Root, e.Name()), e.Name(), signers)
		if s.status == SignatureVerified && (best == nil || s.st.Sequence > best.st.Sequence) {
			best = s
		}
	}
	return best, nil
}

// checkRollback compares the remote's newest verified statement with what
// this machine remembers of the target, and returns that newest (to be
// remembered once the caller succeeds).
func (t Trust) checkRollback(ctx context.Context, remote Remote, mem *seen) (*signed, error) {
	newest, err := newestSigned(ctx, remote, t.Signers)
	if err != nil {
		return nil, err
	}
	var have uint64
	if newest != nil {
		have = newest.st.Sequence
	}
	if have < mem.Sequence && !t.AllowRollback {
		return nil, fmt.Errorf("%w: its newest is number %d, this machine verified number %d (snapshot %s) there; if snapshots were removed on purpose, allow the rollback", ErrRollback, have, mem.Sequence, mem.Stamp)
	}
	return newest, nil
}
