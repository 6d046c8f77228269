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

// Resolve fills the empty fields from Root and makes every path absolute.
// It fails, naming the missing setting, when a path has no value and there
// is no Root to derive it from.
func (p Paths) Resolve() (Paths, error) {
	fields := []struct {
		v       *string
		under   string
		setting string
	}{
		{&p.DBPath, "data/db/atocore.db", "database path (--db-path / ATOCORE_DB_PATH)"},
		{&p.RegistryPath, "config/project-registry.json", "registry path (--registry-path / ATOCORE_REGISTRY_PATH)"},
		{&p.ChromaPath, "data/chroma", "Chroma path (--chroma-path / ATOCORE_CHROMA_PATH)"},
		{&p.BackupDir, "backups", "backup directory (--backup-dir / ATOCORE_BACKUP_DIR)"},
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
				return p, fmt.Errorf("no %s and no AtoCore root: pass --root or set ATOCORE_ROOT", f.setting)
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
