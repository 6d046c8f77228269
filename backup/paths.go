package backup

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/spf13/afero"
)

// Paths locates the live state of one AtoCore deployment and its backup
// directory. Empty fields default to the layout under Root:
//
//	DBPath        Root/data/db/atocore.db
//	RegistryPath  Root/config/project-registry.json
//	ChromaPath    Root/data/chroma
//	BackupDir     Root/backups
type Paths struct {
	Root         string `json:"root,omitempty"`
	DBPath       string `json:"db_path"`
	RegistryPath string `json:"registry_path"`
	ChromaPath   string `json:"chroma_path"`
	BackupDir    string `json:"backup_dir"`
}

// Path settings, for Require.
const (
	NeedDB       = WhatDB
	NeedRegistry = WhatRegistry
	NeedChroma   = WhatChroma
	NeedBackup   = WhatBackupDir
)

// Resolve fills the empty fields from Root (when there is one) and makes
// every path absolute. Fields without a value and without a Root stay
// empty: an operation that needs one says so through Require, so that
// listing snapshots needs only a backup directory.
func (p Paths) Resolve() (Paths, error) {
	fields := []struct {
		v       *string
		under   string
		setting string
	}{
		{&p.DBPath, "data/db/atocore.db", NeedDB},
		{&p.RegistryPath, "config/project-registry.json", NeedRegistry},
		{&p.ChromaPath, "data/chroma", NeedChroma},
		{&p.BackupDir, "backups", NeedBackup},
	}
	if p.Root != "" {
		abs, err := filepath.Abs(p.Root)
		if err != nil {
			return p, fmt.Errorf("AtoCore root %q: %w", p.Root, err)
		}
		p.Root = abs
	}
	for _, f := range fields {
		if *f.v == "" {
			if p.Root == "" {
				continue
			}
			*f.v = filepath.Join(p.Root, filepath.FromSlash(f.under))
		}
		abs, err := filepath.Abs(*f.v)
		if err != nil {
			return p, fmt.Errorf("%s %q: %w", f.setting, *f.v, err)
		}
		*f.v = abs
	}
	return p, nil
}

// Require returns a *MissingPathError naming the first of the given paths
// (NeedDB, NeedRegistry, NeedChroma, NeedBackup) that is empty.
func (p Paths) Require(needs ...string) error {
	for _, n := range needs {
		v := map[string]string{NeedDB: p.DBPath, NeedRegistry: p.RegistryPath, NeedChroma: p.ChromaPath, NeedBackup: p.BackupDir}[n]
		if v == "" {
			return &MissingPathError{What: n}
		}
	}
	return nil
}

// RequireExisting returns a *NotFoundError when the AtoCore root (if one is
// set and a needed path lies under it) or one of the given paths (NeedDB, NeedBackup, NeedChroma,
// NeedRegistry) does not exist, after Require's check. Operations that must
// not create anything under a mistyped path call it first. The backup
// directory is looked up on cfg.FS, the live paths on the OS filesystem.
func (cfg Config) RequireExisting(needs ...string) error {
	p := cfg.Paths
	if err := p.Require(needs...); err != nil {
		return err
	}
	// The root matters when a needed path lies under it (the defaults do):
	// a mistyped root is then named as such, not as a missing database.
	underRoot := false
	for _, n := range needs {
		path := map[string]string{NeedDB: p.DBPath, NeedRegistry: p.RegistryPath, NeedChroma: p.ChromaPath, NeedBackup: p.BackupDir}[n]
		underRoot = underRoot || (p.Root != "" && (path == p.Root || within(path, p.Root)))
	}
	if underRoot {
		if err := existsDirOn(afero.NewOsFs(), WhatRoot, p.Root); err != nil {
			return err
		}
	}
	for _, n := range needs {
		var err error
		switch n {
		case NeedBackup:
			err = existsDirOn(cfg.fs(), WhatBackupDir, p.BackupDir)
		case NeedChroma:
			err = existsDirOn(afero.NewOsFs(), WhatChroma, p.ChromaPath)
		case NeedDB, NeedRegistry:
			path := map[string]string{NeedDB: p.DBPath, NeedRegistry: p.RegistryPath}[n]
			if _, serr := os.Stat(path); errors.Is(serr, fs.ErrNotExist) {
				err = &NotFoundError{What: n, Path: path}
			}
		}
		if err != nil {
			return err
		}
	}
	return nil
}
