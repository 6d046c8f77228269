package offsite

import (
	"encoding/json"
	"fmt"

	"github.com/atocore/atocore-backup/internal/snapshot"
)

// Names on the target, beside the snapshot layout of internal/snapshot.
const (
	// RemoteManifestFile, in an encrypted remote snapshot, lists every
	// ciphertext file with its size and SHA-256: integrity without the key.
	RemoteManifestFile = "remote-manifest.json"
	// IncomingPrefix starts the directory a snapshot is uploaded into.
	IncomingPrefix = ".incoming-"
	// journalFile, inside an incoming directory, lists finished files.
	journalFile = ".push-journal.json"
	// partSuffix marks a file being uploaded.
	partSuffix = ".part"
	// stateDir, in the local backup directory, remembers what was pushed
	// where, so that unchanged files are linked instead of sent again.
	stateDir = ".push-state"
)

// RemoteManifest is remote-manifest.json. Kind and CreatedAt are copied from
// the snapshot's (encrypted) metadata so that the target can keep its own
// retention without the key.
type RemoteManifest struct {
	FormatVersion int    `json:"format_version"`
	Stamp         string `json:"stamp"`
	Kind          string `json:"kind"`
	CreatedAt     string `json:"created_at"`
	Encrypted     bool   `json:"encrypted"`
	// Recipients are the public recipients the files were encrypted to
	// (empty with a passphrase).
	Recipients []string `json:"recipients"`
	// KeyFile names the passphrase-encrypted session key, when a passphrase
	// was used.
	KeyFile string `json:"key_file,omitempty"`
	// Files are the ciphertext files: path (with .age), size and SHA-256.
	Files []snapshot.File `json:"files"`
}

func decodeRemoteManifest(data []byte) (*RemoteManifest, error) {
	var m RemoteManifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("parse %s: %w", RemoteManifestFile, err)
	}
	for _, f := range m.Files {
		if !snapshot.LocalPath(f.Path) || f.Path == RemoteManifestFile {
			return nil, fmt.Errorf("parse %s: entry %q is not a file path inside the snapshot", RemoteManifestFile, f.Path)
		}
	}
	if m.KeyFile != "" && !snapshot.LocalPath(m.KeyFile) {
		return nil, fmt.Errorf("parse %s: key file %q is not a path inside the snapshot", RemoteManifestFile, m.KeyFile)
	}
	return &m, nil
}

// maxManifestSize caps remote-manifest.json (and a plaintext snapshot's
// manifest.json) as read from a target: a few hundred bytes per file, so
// room for tens of thousands of files, while a planted giant costs a stat.
const maxManifestSize = 16 << 20

// holderIDLen is the length of the holder id that ends an incoming
// directory's name.
const holderIDLen = 12

// holderID is the short stable id of a claim holder (claimHolder): the
// first hex digits of the SHA-256 of the holder string.
func holderID(holder string) string {
	return digestOf([]byte(holder))[:holderIDLen]
}

// isHolderID reports whether s is a holder id: holderIDLen lowercase hex
// digits.
func isHolderID(s string) bool {
	if len(s) != holderIDLen {
		return false
	}
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// incomingName is the name, on the target's root, of the directory that
// holder uploads stamp into: .incoming-STAMP.HOLDERID, one per pushing
// host, so that two hosts pushing one stamp never write into the same
// directory.
func incomingName(stamp, holder string) string {
	return IncomingPrefix + stamp + "." + holderID(holder)
}
