package backup

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/afero"

	"github.com/atocore/atocore-backup/internal/durable"
	"github.com/atocore/atocore-backup/internal/snapshot"
	"github.com/atocore/atocore-backup/validate"
)

// Snapshot is one snapshot directory under snapshots/.
type Snapshot struct {
	Stamp string `json:"stamp"`
	// Path is the snapshot directory on the backup directory's filesystem.
	Path string `json:"path"`
	// RawMetadata is backup-metadata.json as written (older writers' fields
	// included), or JSON null when it is missing or not JSON.
	RawMetadata json.RawMessage `json:"metadata"`
	// Metadata is RawMetadata decoded; nil when missing or invalid.
	Metadata *Metadata `json:"-"`
	// Time is the instant the stamp names.
	Time time.Time `json:"-"`
}

// Kind returns the snapshot's kind, "" when its metadata does not say.
func (s Snapshot) Kind() string {
	if s.Metadata == nil {
		return ""
	}
	return s.Metadata.Kind
}

// List returns the snapshots in cfg's backup directory, oldest first. Only
// directories named by a well-formed stamp are snapshots; staging and trash
// directories and anything else are ignored. A backup directory that does
// not exist yet holds no snapshots.
func List(ctx context.Context, cfg Config) ([]Snapshot, error) {
	cfg, err := cfg.Resolved()
	if err == nil {
		err = cfg.Require(NeedBackup)
	}
	if err != nil {
		return nil, err
	}
	return ListDir(ctx, cfg.FS, cfg.BackupDir)
}

// ListDir is List for any filesystem and directory that hold snapshots/, such
// as an off-site target.
func ListDir(ctx context.Context, fsys afero.Fs, backupDir string) ([]Snapshot, error) {
	root := filepath.Join(backupDir, snapshot.SnapshotsDir)
	entries, err := afero.ReadDir(fsys, root)
	if errors.Is(err, os.ErrNotExist) {
		return []Snapshot{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", root, err)
	}
	out := []Snapshot{}
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		t, perr := snapshot.ParseStamp(e.Name())
		if perr != nil || !e.IsDir() {
			continue
		}
		s := Snapshot{Stamp: e.Name(), Path: filepath.Join(root, e.Name()), Time: t, RawMetadata: json.RawMessage("null")}
		// Bounded, and never through a link: the directory may be a target's.
		if data, err := durable.ReadFileNoLinks(fsys, s.Path, snapshot.MetadataFile, validate.MaxMetadataSize); err == nil && json.Valid(data) {
			s.RawMetadata = json.RawMessage(strings.TrimSpace(string(data)))
			if m, err := snapshot.DecodeMetadata(data); err == nil {
				s.Metadata = m
			}
		}
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b Snapshot) int { return strings.Compare(a.Stamp, b.Stamp) })
	return out, nil
}
