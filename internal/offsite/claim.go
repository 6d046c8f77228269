package offsite

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/afero"
)

// ErrClaimed is matched by errors.Is when another host is pushing the same
// stamp to the target (its claim file is there).
var ErrClaimed = errors.New("another push holds this snapshot's claim on the target")

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
// exclusively (O_EXCL, which SFTP and every local filesystem honour), so
// two hosts never upload into the same incoming directory. A claim left
// by holder itself (a push of this backup directory that died; the
// directory's lock keeps two of ours from running at once) is taken over.
// The caller removes the claim (release) once the snapshot is in place.
func claim(rfs afero.Fs, root, stamp, holder string) (release func(), err error) {
	name := filepath.Join(root, IncomingPrefix+stamp+claimSuffix)
	rec, _ := json.Marshal(claimRecord{Holder: holder, PID: os.Getpid(), Started: time.Now().UTC().Format(time.RFC3339)})
	if err := rfs.MkdirAll(root, 0o700); err != nil {
		return nil, fmt.Errorf("create %s on the target: %w", root, err)
	}
	f, err := rfs.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		data, rerr := readBounded(rfs, name, maxClaim)
		if rerr != nil {
			return nil, fmt.Errorf("claim %s on the target: %w", name, err)
		}
		var other claimRecord
		_ = json.Unmarshal(data, &other)
		if other.Holder != holder {
			return nil, fmt.Errorf("%w: %s is held by %q since %s; if that push is dead, remove %s", ErrClaimed, stamp, other.Holder, other.Started, name)
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
	return func() { _ = rfs.Remove(name) }, nil
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
