package snapshot

import (
	"encoding/json"
	"fmt"
	"time"
)

// FormatVersion is the version of the snapshot format this code writes.
const FormatVersion = 1

// Kinds of snapshot, recorded in Metadata.Kind.
const (
	KindManual     = "manual"
	KindScheduled  = "scheduled"
	KindPreRestore = "pre-restore"
	KindDrill      = "drill"
)

// ValidKind reports whether k is one of the kinds a snapshot may have.
func ValidKind(k string) bool {
	switch k {
	case KindManual, KindScheduled, KindPreRestore, KindDrill:
		return true
	}
	return false
}

// Metadata is the content of backup-metadata.json. The JSON field names are
// a contract (SPEC.md): scripts and the earlier Python implementation read
// them. Fields that the Python implementation did not write decode to their
// zero values.
type Metadata struct {
	FormatVersion int    `json:"format_version"`
	Stamp         string `json:"stamp"`
	// CreatedAt is RFC 3339 in UTC.
	CreatedAt string `json:"created_at"`
	// BackupRoot is the absolute path of the snapshot directory at creation.
	BackupRoot string `json:"backup_root"`
	Kind       string `json:"kind"`
	// DBSnapshotPath is the absolute path of the database copy at creation.
	DBSnapshotPath string `json:"db_snapshot_path"`
	DBSizeBytes    int64  `json:"db_size_bytes"`
	// DBJournalMode is the journal mode the live database was in ("wal",
	// "delete", ...). The copy itself is always a single file in DELETE
	// mode; restore puts the live file back in this mode.
	DBJournalMode string `json:"db_journal_mode,omitempty"`
	// RegistrySnapshotPath is null when the live registry did not exist.
	RegistrySnapshotPath *string `json:"registry_snapshot_path"`
	IncludeChroma        bool    `json:"include_chroma"`
	// ChromaSnapshotPath is null when Chroma was not included.
	ChromaSnapshotPath *string `json:"chroma_snapshot_path"`
	ChromaFiles        int     `json:"chroma_files"`
	ChromaBytes        int64   `json:"chroma_bytes"`
	// ChromaFilesLinked counts Chroma files hardlinked from the previous
	// snapshot (unchanged since it), ChromaFilesCopied those copied, and
	// ChromaBytesWritten the bytes the copies wrote.
	ChromaFilesLinked  int    `json:"chroma_files_linked"`
	ChromaFilesCopied  int    `json:"chroma_files_copied"`
	ChromaBytesWritten int64  `json:"chroma_bytes_written"`
	Source             Source `json:"source"`
	ToolVersion        string `json:"tool_version"`
	BuildSHA           string `json:"build_sha"`
	// Validated is true only when every check of validation passed before
	// the snapshot was put in place.
	Validated        bool     `json:"validated"`
	ValidationErrors []string `json:"validation_errors"`
	// DurationMS is how long the creation took, validation included.
	DurationMS int64 `json:"duration_ms,omitempty"`
}

// Source records the live paths a snapshot was taken from, so that a restore
// can warn when it is about to restore another deployment's data.
type Source struct {
	Root         string `json:"root,omitempty"`
	DBPath       string `json:"db_path"`
	RegistryPath string `json:"registry_path"`
	ChromaPath   string `json:"chroma_path"`
}

// Time returns the creation time: CreatedAt when it parses, else the stamp's.
func (m *Metadata) Time() time.Time {
	if t, err := time.Parse(time.RFC3339Nano, m.CreatedAt); err == nil {
		return t.UTC()
	}
	t, _ := ParseStamp(m.Stamp)
	return t
}

// HasRegistry reports whether the snapshot holds a registry copy. An empty
// path, as older writers put for "none", means none.
func (m *Metadata) HasRegistry() bool {
	return m.RegistrySnapshotPath != nil && *m.RegistrySnapshotPath != ""
}

// HasChroma reports whether the snapshot says it holds a Chroma copy.
func (m *Metadata) HasChroma() bool {
	return m.IncludeChroma || (m.ChromaSnapshotPath != nil && *m.ChromaSnapshotPath != "")
}

// DecodeMetadata parses backup-metadata.json. Unknown fields are accepted:
// newer and older writers add fields.
func DecodeMetadata(data []byte) (*Metadata, error) {
	var m Metadata
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("parse %s: %w", MetadataFile, err)
	}
	if m.ValidationErrors == nil {
		m.ValidationErrors = []string{}
	}
	return &m, nil
}

// Encode returns the indented JSON of m, ending with a newline.
func (m *Metadata) Encode() ([]byte, error) {
	if m.ValidationErrors == nil {
		m.ValidationErrors = []string{}
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}
