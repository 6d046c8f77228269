package offsite

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/atocore/atocore-backup/internal/snapshot"
)

// Names of the signed statement in a remote snapshot directory. Push
// writes them last, after every other file: a remote snapshot without
// them was pushed before statements existed (or is incomplete).
const (
	// StatementFile holds the statement's exact signed bytes (JSON).
	StatementFile = "statement.json"
	// SignatureFile is the SSHSIG signature of StatementFile, armored, as
	// `ssh-keygen -Y sign` writes it.
	SignatureFile = StatementFile + ".sig"
	// SignatureNamespace is the SSHSIG namespace of every statement: a
	// signature made for git or for files does not pass for one of ours.
	SignatureNamespace = "atocore-backup"
	// StatementFormat is the statement's "format" value.
	StatementFormat = "atocore-backup-statement-v1"
)

// Bounds of what is read from a target before it is verified.
const (
	maxStatement = 16 << 20 // a snapshot of ~100,000 files
	maxSignature = 64 << 10
)

// Statement is what the pushing host signs for one pushed snapshot: what
// the snapshot is (stamp, creation time, kind, the plaintext manifest's
// digest), where it stands among the pushes to the target (Sequence,
// Previous), and every byte stored for it (Files). Its JSON is written
// once and its exact bytes are signed; readers verify the bytes, then
// parse them.
type Statement struct {
	Format    string `json:"format"`
	Stamp     string `json:"stamp"`
	CreatedAt string `json:"created_at"`
	Kind      string `json:"kind"`
	// TargetID is the id of the target pushed to (TargetIDFile): a
	// statement read from another target is refused there. Empty in
	// statements pushed before they named their target.
	TargetID string `json:"target_id,omitempty"`
	// Sequence grows by one with every push to the target (every snapshot
	// pushed is one push); a reader that remembers a higher one knows the
	// target lost or hides snapshots.
	Sequence uint64 `json:"sequence"`
	// Previous is the SHA-256 of the statement of sequence number
	// Sequence-1 as the pusher knew it, "" for the first.
	Previous string `json:"previous_sha256"`
	// ManifestSHA256 is the SHA-256 of the plaintext manifest.json (empty
	// for a snapshot of the earlier Python implementation, which has none):
	// it binds the decrypted contents, whose digests the manifest lists.
	ManifestSHA256 string `json:"manifest_sha256"`
	Encrypted      bool   `json:"encrypted"`
	// Files are the files stored on the target for this snapshot (their
	// remote names: NAME.age when encrypted, key.age and
	// remote-manifest.json included), sorted by path, each with the size
	// and SHA-256 of the bytes stored.
	Files []StoredFile `json:"files"`
}

// StoredFile is one stored file of a Statement. A path that is not
// valid UTF-8 (a legitimate Linux file name) is stored as "path_b64", as
// in manifest.json.
type StoredFile struct {
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
	// Stored is, for a file the target stores in parts (an S3 multipart
	// upload), the checksum the target keeps for it: "HEX-PARTS", the
	// SHA-256 of the parts' SHA-256 digests (see checksums.go). Empty
	// for a file in one piece, whose stored checksum is SHA256.
	Stored string `json:"stored_sha256,omitempty"`
}

type storedFileJSON struct {
	Path    string `json:"path,omitempty"`
	PathB64 string `json:"path_b64,omitempty"`
	Size    int64  `json:"size"`
	SHA256  string `json:"sha256"`
	Stored  string `json:"stored_sha256,omitempty"`
}

// MarshalJSON writes Path as "path", or as "path_b64" when it is not UTF-8.
func (f StoredFile) MarshalJSON() ([]byte, error) {
	w := storedFileJSON{Size: f.Size, SHA256: f.SHA256, Stored: f.Stored}
	w.Path, w.PathB64 = snapshot.EncodePath(f.Path)
	return json.Marshal(w)
}

// UnmarshalJSON reads what MarshalJSON writes.
func (f *StoredFile) UnmarshalJSON(data []byte) error {
	var w storedFileJSON
	if err := json.Unmarshal(data, &w); err != nil {
		return err
	}
	path, err := snapshot.DecodePath(w.Path, w.PathB64)
	*f = StoredFile{Path: path, Size: w.Size, SHA256: w.SHA256, Stored: w.Stored}
	return err
}

// encode returns the statement's bytes: written once, signed as they are.
func (s *Statement) encode() ([]byte, error) {
	slices.SortFunc(s.Files, func(a, b StoredFile) int { return strings.Compare(a.Path, b.Path) })
	data, err := json.MarshalIndent(s, "", " ")
	if err != nil {
		return nil, err
	}
	return append(data, '\n'), nil
}

// decodeStatement parses verified (or knowingly unverified) bytes and
// checks that the statement is for dirStamp and lists only paths inside
// the snapshot, each once.
func decodeStatement(data []byte, dirStamp string) (*Statement, error) {
	var s Statement
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("parse %s: %w", StatementFile, err)
	}
	if s.Format != StatementFormat {
		return nil, fmt.Errorf("%s has format %q, this tool reads %q", StatementFile, s.Format, StatementFormat)
	}
	if s.Stamp != dirStamp {
		return nil, fmt.Errorf("%w: %s is for snapshot %s, stored as %s (an old snapshot replayed under a newer name?)", ErrStampMismatch, StatementFile, s.Stamp, dirStamp)
	}
	if len(s.Files) > maxStatementFiles {
		return nil, fmt.Errorf("%s lists %d files, more than the %d this tool reads", StatementFile, len(s.Files), maxStatementFiles)
	}
	seen := map[string]bool{}
	for _, f := range s.Files {
		if !snapshot.LocalPath(f.Path) || f.Path == StatementFile || f.Path == SignatureFile || seen[f.Path] || f.Size < 0 {
			return nil, fmt.Errorf("%s lists %q, which is not a file of the snapshot", StatementFile, f.Path)
		}
		seen[f.Path] = true
	}
	return &s, nil
}

// file returns the statement's entry for path.
func (s *Statement) file(path string) (StoredFile, bool) {
	for _, f := range s.Files {
		if f.Path == path {
			return f, true
		}
	}
	return StoredFile{}, false
}

// index returns the statement's files by path.
func (s *Statement) index() map[string]StoredFile {
	m := make(map[string]StoredFile, len(s.Files))
	for _, f := range s.Files {
		m[f.Path] = f
	}
	return m
}

func digestOf(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// isStatementFile reports whether rel is the statement or its signature:
// files beside the snapshot's own layout.
func isStatementFile(rel string) bool { return rel == StatementFile || rel == SignatureFile }
