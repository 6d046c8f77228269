package offsite

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/afero"

	"github.com/atocore/atocore-backup/backup"
	"github.com/atocore/atocore-backup/internal/snapshot"
	"github.com/atocore/atocore-backup/internal/sshsig"
	"github.com/atocore/atocore-backup/target"
)

// What push does with one local snapshot, decided from what the target
// holds, not from what this machine remembers sending.
type action int

const (
	sendIt   action = iota // the target lacks it: push it
	refillIt               // pushed before, and the target lost it: push it again
	repairIt               // on the target, but not as its statement says: push it again
	leaveIt                // on the target as pushed
	prunedIt               // removed by the target's own retention: not sent again
	takenIt                // another host's snapshot of the same stamp: left as it is
)

// plan looks at the target once per push: which stamps it holds.
type plan struct {
	onTarget map[string]bool
	// inProgress are, on object storage, the stamps whose place holds
	// files but no statement: an upload (or a repair) cut off, resumed.
	inProgress map[string]bool
	// newestKept is the newest stamp this machine pushed that the target
	// still holds. Retention keeps the newest snapshots, so a pushed stamp
	// missing below it was pruned there; one missing above it was lost.
	newestKept string
}

func (p *pusher) survey() *plan {
	pl := &plan{onTarget: map[string]bool{}, inProgress: map[string]bool{}}
	entries, _ := afero.ReadDir(p.remote.FS, filepath.Join(p.remote.Root, snapshot.SnapshotsDir))
	objects := target.IsObjectStore(p.remote.FS)
	for _, e := range entries {
		if objects && !hasStatement(p.remote.FS, snapshot.Dir(p.remote.Root, e.Name())) {
			pl.inProgress[e.Name()] = true // an upload cut off: resumed, never taken for pruned
			continue
		}
		if e.IsDir() && snapshot.IsStamp(e.Name()) {
			pl.onTarget[e.Name()] = true
			if slices.Contains(p.state.Pushed, e.Name()) && e.Name() > pl.newestKept {
				pl.newestKept = e.Name()
			}
		}
	}
	return pl
}

// decide says what to do with the local snapshot s, and why when it is
// sent again.
func (p *pusher) decide(ctx context.Context, pl *plan, s backup.Snapshot) (action, string) {
	if !pl.onTarget[s.Stamp] {
		switch {
		case pl.inProgress[s.Stamp]:
			return sendIt, ""
		case !slices.Contains(p.state.Pushed, s.Stamp):
			return sendIt, ""
		case p.opts.Stamps == nil && s.Stamp < pl.newestKept:
			return prunedIt, ""
		}
		return refillIt, "pushed before, and the target no longer has it"
	}
	dir := snapshot.Dir(p.remote.Root, s.Stamp)
	sg := readSigned(p.remote.FS, dir, s.Stamp, p.own)
	// Whether this machine put this stamp on this target before: only
	// then may what is there now be taken for its own copy, damaged.
	// Anything else under the stamp may be another host's, and is never
	// replaced (a push of the same stamp from two hosts is refused where
	// it is placed; see place.go).
	pushedHere := slices.Contains(p.state.Pushed, s.Stamp) || slices.Contains(p.state.Stated, s.Stamp)
	if sg.status == SignatureUnsigned && sg.st == nil {
		switch {
		case slices.Contains(p.state.Stated, s.Stamp):
			return repairIt, "its statement is gone from the target (this machine pushed it with one)"
		case emptyDir(p.remote.FS, dir):
			return repairIt, "its directory on the target is empty"
		case pushedHere:
			return leaveIt, "" // pushed before statements existed: nothing to check it against
		}
		return takenIt, fmt.Sprintf("%s on the target holds an unsigned snapshot this host did not push there: "+
			"another host's, or planted; left as it is (check it with remote validate, and remove it on the target "+
			"if it is not a snapshot anyone needs)", s.Stamp)
	}
	if fp, ok := otherSigner(p.remote.FS, dir, s.Stamp); ok && fp != p.ownFingerprint() && !(sg.status == SignatureVerified && pushedHere) {
		if !pushedHere {
			return takenIt, fmt.Sprintf("%s on the target is signed by key %s, which is not this host's signing key, "+
				"and this host did not push the stamp there: another host's snapshot of the same stamp, left as it is "+
				"(push from one host per backup directory; if %s is this host's old key, compare it with that key's "+
				"public half, then list it among the allowed signers)", s.Stamp, fp, fp)
		}
		// This host put the stamp there, and a key it does not trust has
		// signed what is there now: the target's doing, not another
		// host's (whose push of a stamp already there is refused).
		return repairIt, fmt.Sprintf("its statement is signed by key %s, not by this host: replaced on the target", fp)
	}
	if p.own != nil && sg.status != SignatureVerified {
		return repairIt, sg.err.Error()
	}
	if sg.st != nil && sg.st.TargetID != "" && sg.st.TargetID != p.targetID {
		return repairIt, fmt.Sprintf("its statement names target %s, this target is %s (copied from another target?)", sg.st.TargetID, p.targetID)
	}
	if sg.st == nil {
		return repairIt, sg.err.Error()
	}
	if want := manifestDigest(ctx, p, s); want != "" && sg.st.ManifestSHA256 != want {
		return repairIt, "its statement is for other contents than the local snapshot"
	}
	if errs := checkStored(ctx, p.remote.FS, dir, sg.st, p.opts.Verify); len(errs) > 0 {
		return repairIt, errs[0]
	}
	var stored []string
	for _, f := range sg.st.Files {
		stored = append(stored, f.Path)
	}
	if b := baseGone(p.remote.FS, p.remote.Root, stored); b != "" {
		return repairIt, fmt.Sprintf("its database is a page delta on snapshot %s, which the target no longer holds: sent whole", b)
	}
	return leaveIt, ""
}

// emptyDir reports whether dir on the target holds no entry at all.
func emptyDir(rfs afero.Fs, dir string) bool {
	entries, err := afero.ReadDir(rfs, dir)
	return err == nil && len(entries) == 0
}

// ownFingerprint is the fingerprint of this push's signing key, "" when
// it signs nothing.
func (p *pusher) ownFingerprint() string {
	if p.opts.Signer == nil {
		return ""
	}
	return fingerprint(p.opts.Signer.PublicKey())
}

// otherSigner reports whether the snapshot directory dir holds a sound
// statement of stamp: one whose signature verifies against the key it
// names (its fingerprint is returned), whoever that is. Such a snapshot is
// another host's (or one this host once signed with a key it no longer
// lists), never damage: replacing it would delete that host's copy.
func otherSigner(rfs afero.Fs, dir, stamp string) (string, bool) {
	armored, err := readBounded(rfs, filepath.Join(dir, SignatureFile), maxSignature)
	if err != nil {
		return "", false
	}
	sig, err := sshsig.Parse(armored)
	if err != nil {
		return "", false
	}
	data, err := readBounded(rfs, filepath.Join(dir, StatementFile), maxStatement)
	if err != nil || sig.Verify(SignatureNamespace, data) != nil {
		return "", false
	}
	if _, err := decodeStatement(data, stamp); err != nil {
		return "", false
	}
	return fingerprint(sig.PublicKey), true
}

func manifestDigest(ctx context.Context, p *pusher, s backup.Snapshot) string {
	files, err := localFiles(ctx, p.cfg.FS, s.Path)
	if err != nil {
		return ""
	}
	for _, f := range files {
		if f.Path == snapshot.ManifestFile {
			return f.SHA256
		}
	}
	return ""
}

// setAside moves a remote snapshot that is to be pushed again out of
// snapshots/ (to ROOT/.replaced-STAMP, removed once the new copy is in
// place): readers never see a half-replaced snapshot.
func (p *pusher) setAside(stamp string) (string, error) {
	aside := filepath.Join(p.remote.Root, replacedPrefix+stamp)
	_ = p.remote.FS.RemoveAll(aside)
	if err := p.remote.FS.Rename(snapshot.Dir(p.remote.Root, stamp), aside); err != nil {
		return "", fmt.Errorf("move the damaged %s aside on the target: %w", stamp, err)
	}
	return aside, nil
}

// replacedPrefix starts the directory a snapshot being replaced is moved to.
const replacedPrefix = ".replaced-"

// putBackAside finishes what a push killed during a repair left: a copy
// set aside whose replacement never arrived goes back under its stamp (so
// that the snapshot is repaired again, not taken for one the target's
// retention removed); one whose replacement is in place is removed.
func (p *pusher) putBackAside() {
	entries, err := afero.ReadDir(p.remote.FS, p.remote.Root)
	if err != nil {
		return
	}
	for _, e := range entries {
		stamp, ok := strings.CutPrefix(e.Name(), replacedPrefix)
		if !ok || !e.IsDir() {
			continue
		}
		if _, err := snapshot.ParseStamp(stamp); err != nil {
			continue
		}
		aside := filepath.Join(p.remote.Root, e.Name())
		final := snapshot.Dir(p.remote.Root, stamp)
		if _, err := p.remote.FS.Stat(final); err == nil {
			if target.IsObjectStore(p.remote.FS) && !hasStatement(p.remote.FS, final) {
				// The replacement was cut off before its statement (its
				// files may be locked already): it is resumed; the copy
				// set aside stays until it is complete.
				continue
			}
			_ = p.remote.FS.RemoveAll(aside)
			continue
		}
		if err := p.remote.FS.MkdirAll(filepath.Dir(final), 0o700); err == nil {
			_ = p.remote.FS.Rename(aside, final)
		}
	}
}
