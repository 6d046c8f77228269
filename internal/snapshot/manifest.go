package snapshot

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
)

// Manifest is the content of manifest.json: every file of the snapshot other
// than manifest.json itself, with its size, SHA-256 and mode. It lets
// validation notice a changed, missing or stray file, and lets an off-site
// copy be checked file by file.
type Manifest struct {
	FormatVersion int    `json:"format_version"`
	Algorithm     string `json:"algorithm"`
	Files         []File `json:"files"`
}

// File is one entry of a Manifest.
type File struct {
	// Path is slash-separated and relative to the snapshot directory.
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
	// Mode is the permission bits the live file had, in octal, e.g.
	// "0600" (the snapshot's own copy is always 0600).
	Mode string `json:"mode"`
	// Source is what the live file looked like when it was copied, for
	// Chroma files: the next snapshot hardlinks this copy instead of
	// copying again when the live file still looks exactly the same.
	Source *SourceState `json:"source,omitempty"`
	// SourceWAL is the state of a live SQLite database's -wal file when
	// the database was copied ({"size": -1} when there was none): with
	// Source, it tells an unchanged database without copying it.
	SourceWAL *SourceState `json:"source_wal,omitempty"`
}

// SourceState identifies one version of a live file without reading it.
// Chroma rewrites segment files in place, which moves mtime and ctime;
// ctime cannot be set back by any tool, so an equal state means an
// unchanged file.
type SourceState struct {
	Size    int64  `json:"size"`
	MtimeNS int64  `json:"mtime_ns"`
	CtimeNS int64  `json:"ctime_ns"`
	Inode   uint64 `json:"ino"`
	Device  uint64 `json:"dev"`
}

// FileMode returns the permission bits of Mode, or 0600 when Mode is unset
// or malformed.
func (f File) FileMode() fs.FileMode {
	v, err := strconv.ParseUint(f.Mode, 8, 32)
	if err != nil || f.Mode == "" {
		return 0o600
	}
	return fs.FileMode(v) & fs.ModePerm
}

// ModeString formats permission bits as Manifest stores them.
func ModeString(m fs.FileMode) string {
	return fmt.Sprintf("%04o", uint32(m.Perm()))
}

// Sort orders the files by path, the order in which they are written.
func (m *Manifest) Sort() {
	slices.SortFunc(m.Files, func(a, b File) int { return strings.Compare(a.Path, b.Path) })
}

// Lookup returns the entry for path p.
func (m *Manifest) Lookup(p string) (File, bool) {
	for _, f := range m.Files {
		if f.Path == p {
			return f, true
		}
	}
	return File{}, false
}

// Index returns the entries by path.
func (m *Manifest) Index() map[string]File {
	idx := make(map[string]File, len(m.Files))
	for _, f := range m.Files {
		idx[f.Path] = f
	}
	return idx
}

// DecodeManifest parses manifest.json (format 1 or 2) and checks that every
// path is a clean, relative, slash-separated path without NUL that stays
// inside the snapshot, so that no manifest can make a reader leave the
// snapshot directory. Paths are the file names' exact bytes (see
// ManifestFormatVersion).
func DecodeManifest(data []byte) (*Manifest, error) {
	var m Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("parse %s: %w", ManifestFile, err)
	}
	if m.FormatVersion > ManifestFormatVersion {
		return nil, fmt.Errorf("parse %s: format_version %d is newer than this atocore-backup reads (%d); upgrade it",
			ManifestFile, m.FormatVersion, ManifestFormatVersion)
	}
	seen := make(map[string]bool, len(m.Files))
	for _, f := range m.Files {
		if !LocalPath(f.Path) || f.Path == ManifestFile {
			return nil, fmt.Errorf("parse %s: entry %q is not a file path inside the snapshot", ManifestFile, f.Path)
		}
		if seen[f.Path] {
			return nil, fmt.Errorf("parse %s: entry %q is listed twice", ManifestFile, f.Path)
		}
		if f.Size < 0 || len(f.SHA256) != 64 {
			return nil, fmt.Errorf("parse %s: entry %q has a bad size or digest", ManifestFile, f.Path)
		}
		seen[f.Path] = true
	}
	return &m, nil
}

// Encode returns the indented JSON of m with its files sorted.
func (m *Manifest) Encode() ([]byte, error) {
	// Always the current version: an entry may need path_b64, which only
	// version 2 has.
	m.FormatVersion = ManifestFormatVersion
	if m.Algorithm == "" {
		m.Algorithm = "sha256"
	}
	if m.Files == nil {
		m.Files = []File{}
	}
	m.Sort()
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// LocalPath reports whether p is a clean, non-empty, slash-separated relative
// path that does not leave its base directory and holds no NUL (which no
// file name can). Its bytes need not be UTF-8.
func LocalPath(p string) bool {
	return p != "" && p != "." && !strings.HasPrefix(p, "/") && path.Clean(p) == p &&
		p != ".." && !strings.HasPrefix(p, "../") && !strings.ContainsAny(p, "\\\x00")
}
