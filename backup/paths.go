package backup

import (
	"fmt"
	"path/filepath"
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
	NeedDB       = "database path (--db-path / ATOCORE_DB_PATH)"
	NeedRegistry = "registry path (--registry-path / ATOCORE_REGISTRY_PATH)"
	NeedChroma   = "Chroma path (--chroma-path / ATOCORE_CHROMA_PATH)"
	NeedBackup   = "backup directory (--backup-dir / ATOCORE_BACKUP_DIR)"
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

// Require fails, naming the first missing setting and the fix, when one of
// the given paths (NeedDB, NeedRegistry, NeedChroma, NeedBackup) is empty.
func (p Paths) Require(needs ...string) error {
	for _, n := range needs {
		v := map[string]string{NeedDB: p.DBPath, NeedRegistry: p.RegistryPath, NeedChroma: p.ChromaPath, NeedBackup: p.BackupDir}[n]
		if v == "" {
			return fmt.Errorf("no %s and no AtoCore root: pass --root or set ATOCORE_ROOT", n)
		}
	}
	return nil
}
