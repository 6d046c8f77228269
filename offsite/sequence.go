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
	"golang.org/x/crypto/ssh"

	"github.com/atocore/atocore-backup/internal/durable"
	"github.com/atocore/atocore-backup/internal/snapshot"
	"github.com/atocore/atocore-backup/internal/sshsig"
)

// ErrRollback is matched by errors.Is when a target's newest signed
// snapshot is older (by sequence number) than the newest this machine has
// verified there: the target lost snapshots, or hides them to make an
// older state look current.
var ErrRollback = errors.New("the target's newest signed snapshot is older than one this machine has seen there")

// Memory is where this machine remembers what it verified on targets:
// the .push-state/ directory of a backup directory. Without it (nil) a
// reader remembers nothing, as a fresh disaster-recovery machine.
type Memory struct {
	FS        afero.Fs
	BackupDir string
	// Create makes the state directory when it is missing (push and pull
	// do); without it only an existing one is written, so a read-only
	// command creates nothing.
	Create bool
}

// seen is what this machine remembers of one signer's sequence on one
// target: the newest statement of that signer naming that target that it
// verified (or pushed) there. It lives beside the push state, written
// durably, one file per (target id, signer key). The legacy file (per
// target address, no id, no signer) remembers the statements from before
// they named their target. A machine without either (a fresh
// disaster-recovery host) cannot tell a rolled-back target from an
// intact one.
type seen struct {
	path      string
	TargetID  string `json:"target_id,omitempty"`
	Signer    string `json:"signer,omitempty"` // the key's SHA256 fingerprint
	Target    string `json:"target"`           // the address (legacy: the key; else the last one used)
	Sequence  uint64 `json:"sequence"`
	Stamp     string `json:"stamp"`
	Statement string `json:"statement_sha256"`
}

// unsignedChain is the signer of the chain of pushes without a key.
const unsignedChain = "unsigned"

// fingerprint names a signer key in the memory.
func fingerprint(k ssh.PublicKey) string { return ssh.FingerprintSHA256(k) }

// loadSeen returns the memory of signer's chain on the target targetID
// (empty when none was saved).
func loadSeen(fsys afero.Fs, backupDir, targetID, signer, url string) *seen {
	sum := sha256.Sum256([]byte(targetID + "\x00" + signer))
	s := &seen{path: filepath.Join(backupDir, stateDir, "seq-"+hex.EncodeToString(sum[:8])+".json"), TargetID: targetID, Signer: signer, Target: url}
	s.load(fsys, func(saved *seen) bool { return saved.TargetID == targetID && saved.Signer == signer })
	return s
}

// loadLegacySeen returns the memory of the statements from before they
// named their target, kept per address.
func loadLegacySeen(fsys afero.Fs, backupDir, url string) *seen {
	sum := sha256.Sum256([]byte(url))
	s := &seen{path: filepath.Join(backupDir, stateDir, hex.EncodeToString(sum[:8])+".sequence.json"), Target: url}
	s.load(fsys, func(saved *seen) bool { return saved.Target == url && saved.TargetID == "" })
	return s
}

func (s *seen) load(fsys afero.Fs, match func(*seen) bool) {
	if fsys == nil {
		return
	}
	data, err := durable.ReadFileNoLinks(fsys, filepath.Dir(s.path), filepath.Base(s.path), 64<<10)
	if err != nil {
		return
	}
	var saved seen
	if json.Unmarshal(data, &saved) == nil && match(&saved) {
		s.Sequence, s.Stamp, s.Statement = saved.Sequence, saved.Stamp, saved.Statement
	}
}

// note remembers the statement of sig when it is newer than what is
// remembered, and saves it (creating the state directory only with
// create).
func (s *seen) note(fsys afero.Fs, sig *signed, create bool) error {
	if sig == nil || sig.st == nil || sig.st.Sequence <= s.Sequence {
		return nil
	}
	if !ensureStateDir(fsys, filepath.Dir(s.path), create) {
		return nil
	}
	s.Sequence, s.Stamp, s.Statement = sig.st.Sequence, sig.st.Stamp, sig.digest
	data, err := json.MarshalIndent(s, "", " ")
	if err != nil {
		return err
	}
	if err := durable.WriteFile(fsys, s.path, data, 0o600); err != nil {
		return fmt.Errorf("remember the target's sequence: %w", err)
	}
	return nil
}

// sight is what a reader holds a target's statements to: the target's id
// (remembered or read, see readerTargetID) and this machine's memory of
// the signers' sequences there.
type sight struct {
	remote Remote
	trust  Trust
	id     string
	known  *knownTarget
}

// look resolves the target's id for t's reading of remote.
func (t Trust) look(remote Remote) (*sight, error) {
	v := &sight{remote: remote, trust: t, known: &knownTarget{Target: remote.URL}}
	if m := t.Memory; m != nil {
		v.known = loadKnownTarget(m.FS, m.BackupDir, remote.URL)
	}
	id, err := readerTargetID(remote, v.known, t.AllowOtherTarget)
	if err != nil {
		return nil, err
	}
	v.id = id
	return v, nil
}

// judge refuses a verified statement that names another target than the
// one read (a snapshot copied from elsewhere), unless other targets are
// allowed (then it stays verified, with a warning). A statement naming no
// target (pushed before statements did) is left as it is.
func (v *sight) judge(s *signed) *signed {
	if s.status != SignatureVerified || s.st.TargetID == "" || s.st.TargetID == v.id {
		return s
	}
	here := "this target is " + v.id
	if v.id == "" {
		here = "this target names no id (no " + TargetIDFile + ")"
	}
	err := fmt.Errorf("%w: it names target %s, %s (a snapshot copied from another target?)", ErrOtherTarget, s.st.TargetID, here)
	if v.trust.AllowOtherTarget {
		s.warn = "other_target: " + err.Error() + "; accepted because another target was allowed"
		return s
	}
	return &signed{status: SignatureBad, err: err, st: s.st, digest: s.digest, fp: s.fp}
}

// ours reports whether the verified statement s counts for this target's
// sequence: it names this target, or (legacy) none.
func (v *sight) ours(s *signed) bool {
	return s.status == SignatureVerified && (s.st.TargetID == "" || (v.id != "" && s.st.TargetID == v.id))
}

// rollback compares the judged statements of the target with this
// machine's memory: per trusted signer, the newest statement naming the
// target must be at least the newest remembered; and the newest of all
// (legacy statements included) at least the legacy memory of the
// address. It returns the newest statement per signer (to remember once
// the caller succeeds) and the rollbacks found, by signer ("" for the
// legacy memory, which stands for every signer). With rollbacks allowed
// none is returned.
func (v *sight) rollback(all []*signed) (map[string]*signed, map[string]error) {
	newest := map[string]*signed{}
	var top uint64
	for _, s := range all {
		if !v.ours(s) {
			continue
		}
		top = max(top, s.st.Sequence)
		if s.st.TargetID == "" {
			continue
		}
		if n := newest[s.fp]; n == nil || s.st.Sequence > n.st.Sequence {
			newest[s.fp] = s
		}
	}
	m := v.trust.Memory
	if m == nil || v.trust.AllowRollback {
		return newest, nil
	}
	bad := map[string]error{}
	if legacy := loadLegacySeen(m.FS, m.BackupDir, v.remote.URL); top < legacy.Sequence {
		bad[""] = fmt.Errorf("%w: its newest is number %d, this machine verified number %d (snapshot %s) at %s; if snapshots were removed on purpose, allow the rollback", ErrRollback, top, legacy.Sequence, legacy.Stamp, v.remote.URL)
	}
	if v.id != "" && v.trust.Signers != nil {
		for _, k := range v.trust.Signers.Keys() {
			fp := fingerprint(k)
			mem := loadSeen(m.FS, m.BackupDir, v.id, fp, v.remote.URL)
			var have uint64
			if n := newest[fp]; n != nil {
				have = n.st.Sequence
			}
			if have < mem.Sequence {
				bad[fp] = fmt.Errorf("%w: its newest signed by %s is number %d, this machine verified number %d (snapshot %s) there; if snapshots were removed on purpose, allow the rollback", ErrRollback, fp, have, mem.Sequence, mem.Stamp)
			}
		}
	}
	return newest, bad
}

// firstRollback returns one of the rollbacks found, or nil.
func firstRollback(bad map[string]error) error {
	if err, ok := bad[""]; ok {
		return err
	}
	for _, err := range bad {
		return err
	}
	return nil
}

// record remembers the target's id for its address and the newest
// statement per signer, in t's memory (if any).
func (v *sight) record(newest map[string]*signed) error {
	m := v.trust.Memory
	if m == nil {
		return nil
	}
	if err := v.known.remember(m.FS, v.id, m.Create); err != nil {
		return err
	}
	for fp, s := range newest {
		if err := loadSeen(m.FS, m.BackupDir, v.id, fp, v.remote.URL).note(m.FS, s, m.Create); err != nil {
			return err
		}
	}
	return nil
}

// verifiedOn returns every statement on the remote that verifies against
// signers, judged against v (nil signers: none is believed).
func (v *sight) verifiedOn(ctx context.Context, signers *sshsig.AllowedSigners) ([]*signed, error) {
	if signers == nil {
		return nil, nil
	}
	remote := v.remote
	if err := countSnapshots(remote); err != nil {
		return nil, err
	}
	entries, err := afero.ReadDir(remote.FS, filepath.Join(remote.Root, snapshot.SnapshotsDir))
	if err != nil {
		return nil, nil // no snapshots/ yet: nothing signed
	}
	b := newBudget()
	var out []*signed
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if !e.IsDir() || !snapshot.IsStamp(e.Name()) {
			continue
		}
		s := v.judge(readSignedWithin(remote.FS, snapshot.Dir(remote.Root, e.Name()), e.Name(), signers, b))
		if errors.Is(s.err, ErrTooMuch) {
			return nil, s.err
		}
		if s.status == SignatureVerified {
			out = append(out, s)
		}
	}
	return out, nil
}

// checkRollback reads the remote's verified statements and compares them
// with this machine's memory; it returns the newest per signer (to be
// remembered once the caller succeeds).
func (v *sight) checkRollback(ctx context.Context) (map[string]*signed, error) {
	all, err := v.verifiedOn(ctx, v.trust.Signers)
	if err != nil {
		return nil, err
	}
	newest, bad := v.rollback(all)
	if err := firstRollback(bad); err != nil {
		return nil, err
	}
	return newest, nil
}
