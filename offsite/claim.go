package offsite

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/afero"

	"github.com/atocore/atocore-backup/internal/snapshot"
	"github.com/atocore/atocore-backup/target"
)

// ErrClaimed is matched by errors.Is when another host is pushing the same
// stamp to the target (its claim file is there).
var ErrClaimed = errors.New("another push holds this snapshot's claim on the target")

// WarnClaimNotExclusive is the warning of a push to a server that ignores
// exclusive creates (O_EXCL; rclone serve sftp 1.60 answers success to an
// exclusive create of an existing file, to a mkdir of an existing
// directory and to a rename onto an existing name, so none of them is
// atomic there). Two hosts that push one stamp at the same moment there
// both upload, each into its own incoming directory; one snapshot is
// kept, the other push fails with ErrStampTaken.
const WarnClaimNotExclusive = "claim_not_exclusive"

// claimSuffix ends the claim file of an incoming snapshot, beside it on
// the target's root: ROOT/.incoming-STAMP.claim.
const claimSuffix = ".claim"

// maxClaim bounds a claim file read from the target.
const maxClaim = 64 << 10

// claimRecord is a claim file's content.
type claimRecord struct {
	Holder  string `json:"holder"`
	PID     int    `json:"pid"`
	Started string `json:"started"`
}

// claim takes the target's claim on stamp for holder: it is created
// exclusively (O_EXCL, which OpenSSH's SFTP and every local filesystem
// honour), so that a second host stops before it uploads. (Each host
// uploads into its own incoming directory besides, so two hosts never
// interleave files even where the claim is not exclusive.) A claim left
// by holder itself (a push of this backup directory that died; the
// directory's lock keeps two of ours from running at once) is taken over.
// The caller removes the claim (release) once the snapshot is in place.
func claim(rfs afero.Fs, root, stamp, holder string) (release func(), err error) {
	name := filepath.Join(root, IncomingPrefix+stamp+claimSuffix)
	rec, _ := json.Marshal(claimRecord{Holder: holder, PID: os.Getpid(), Started: time.Now().UTC().Format(time.RFC3339)})
	if err := rfs.MkdirAll(root, 0o700); err != nil {
		return nil, fmt.Errorf("create %s on the target: %w", root, err)
	}
	// Looked at first: on a server that ignores O_EXCL (rclone) the
	// exclusive create below would "succeed" over another host's claim.
	if err := heldByOther(rfs, name, stamp, holder); err != nil {
		return nil, err
	}
	f, err := rfs.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if _, rerr := readBounded(rfs, name, maxClaim); rerr != nil {
			return nil, fmt.Errorf("claim %s on the target: %w", name, err)
		}
		if err := heldByOther(rfs, name, stamp, holder); err != nil {
			return nil, err
		}
		if err := writeRemote(rfs, name, rec); err != nil {
			return nil, err
		}
	} else {
		_, err = f.Write(rec)
		if serr := syncOpen(f); err == nil {
			err = serr
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			_ = rfs.Remove(name)
			return nil, fmt.Errorf("claim %s on the target: %w", name, err)
		}
	}
	// Read back: where creates are not exclusive, another host that wrote
	// its claim meanwhile shows here (most of the time: see
	// WarnClaimNotExclusive).
	if data, err := readBounded(rfs, name, maxClaim); err == nil && string(data) != string(rec) {
		if err := heldByOther(rfs, name, stamp, holder); err != nil {
			return nil, err
		}
	}
	return func() { _ = rfs.Remove(name) }, nil
}

// heldByOther returns ErrClaimed when the claim file name exists and
// names another holder than holder.
func heldByOther(rfs afero.Fs, name, stamp, holder string) error {
	data, err := readBounded(rfs, name, maxClaim)
	if err != nil {
		return nil // none (or unreadable: the exclusive create decides)
	}
	var other claimRecord
	_ = json.Unmarshal(data, &other)
	if other.Holder == holder {
		return nil
	}
	return fmt.Errorf("%w: %s is held by %q since %s; if that push is dead, remove %s", ErrClaimed, stamp, other.Holder, other.Started, name)
}

// exclusiveCreates probes whether the target honours O_EXCL: an exclusive
// create of a file that exists must fail. OpenSSH and local filesystems
// honour it; rclone serve sftp does not (nor is its mkdir or rename onto
// an existing name refused), so no claim there is atomic. A probe that
// cannot run says yes. A backend that knows (target.ExclusiveCreator: an
// S3 server with or without conditional writes) is asked instead: its
// probe would pass either way.
func exclusiveCreates(rfs afero.Fs, root string) bool {
	if ec, ok := rfs.(target.ExclusiveCreator); ok {
		return ec.ExclusiveCreate()
	}
	name := filepath.Join(root, ".excl-probe-"+newTargetID()[:12])
	defer func() { _ = rfs.Remove(name) }()
	f, err := rfs.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return true
	}
	_ = f.Close()
	f, err = rfs.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return true
	}
	_ = f.Close()
	return false
}

// claimHolder names this push for the claim files it makes: the host and
// the backup directory (whose lock the push holds).
func claimHolder(backupDir string) string {
	host, err := os.Hostname()
	if err != nil {
		host = "unknown-host"
	}
	return host + ":" + backupDir
}

// forgetOwnClaims removes this holder's claim files of stamps whose
// snapshot is in place on the target (with its statement): a push killed
// between placing its snapshot and releasing the claim left them, and no
// push of that stamp runs again to release them. Another holder's claims
// are left as they are.
func forgetOwnClaims(rfs afero.Fs, root, holder string) {
	entries, err := afero.ReadDir(rfs, root)
	if err != nil {
		return
	}
	for _, e := range entries {
		name := e.Name()
		if !strings.HasPrefix(name, IncomingPrefix) || !strings.HasSuffix(name, claimSuffix) || !e.Mode().IsRegular() {
			continue
		}
		stamp := strings.TrimSuffix(strings.TrimPrefix(name, IncomingPrefix), claimSuffix)
		if !snapshot.IsStamp(stamp) || !baseThere(rfs, root, stamp) {
			continue
		}
		p := filepath.Join(root, name)
		data, err := readBounded(rfs, p, maxClaim)
		if err != nil {
			continue
		}
		var rec claimRecord
		if json.Unmarshal(data, &rec) == nil && rec.Holder == holder {
			_ = rfs.Remove(p)
		}
	}
}
