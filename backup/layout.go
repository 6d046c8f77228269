package backup

import (
	"fmt"
	"path/filepath"
	"strings"
)

// LayoutError says that the live paths overlap in a way that would make an
// operation copy, clear or replace one of them as part of another: a
// Chroma path set one level too high holds the database, the registry and
// every snapshot.
type LayoutError struct {
	What   string // the path at fault: WhatDB, WhatRegistry or WhatChroma
	Detail string
}

func (e *LayoutError) Error() string { return "unsafe layout: " + e.Detail }

// CheckLayout refuses a database or registry path inside the backup
// directory, and, with withChroma, a Chroma path that equals, contains or
// lies inside the database path, the registry path or the backup
// directory, whether as given or once symbolic links are resolved. Create
// calls it before it copies and restore before it replaces or clears
// anything.
func (p Paths) CheckLayout(withChroma bool) error {
	real, err := p.Real()
	if err != nil {
		return fmt.Errorf("resolve the live paths: %w", err)
	}
	for _, f := range []struct{ name, given, real string }{{WhatDB, p.DBPath, real.DBPath}, {WhatRegistry, p.RegistryPath, real.RegistryPath}} {
		for _, pair := range [][2]string{{f.given, p.BackupDir}, {f.real, real.BackupDir}} {
			if pair[0] != "" && pair[1] != "" && (pair[0] == pair[1] || within(pair[0], pair[1])) {
				return &LayoutError{What: f.name, Detail: fmt.Sprintf("the %s %s lies inside the backup directory %s", f.name, f.given, p.BackupDir)}
			}
		}
	}
	if !withChroma || p.ChromaPath == "" {
		return nil
	}
	others := []struct{ name, given, real string }{
		{WhatDB, p.DBPath, real.DBPath},
		{WhatRegistry, p.RegistryPath, real.RegistryPath},
		{WhatBackupDir, p.BackupDir, real.BackupDir},
	}
	for _, o := range others {
		for _, pair := range [][2]string{{p.ChromaPath, o.given}, {real.ChromaPath, o.real}} {
			chroma, other := pair[0], pair[1]
			if other == "" {
				continue
			}
			switch {
			case chroma == other:
				return &LayoutError{What: WhatChroma, Detail: fmt.Sprintf("the Chroma directory %s is the %s", p.ChromaPath, o.name)}
			case within(other, chroma):
				return &LayoutError{What: WhatChroma, Detail: fmt.Sprintf("the Chroma directory %s contains the %s %s; set the Chroma path to the Chroma directory itself", p.ChromaPath, o.name, o.given)}
			case within(chroma, other):
				return &LayoutError{What: WhatChroma, Detail: fmt.Sprintf("the Chroma directory %s lies inside the %s %s", p.ChromaPath, o.name, o.given)}
			}
		}
	}
	return nil
}

// within reports whether path lies strictly inside dir.
func within(path, dir string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != "." && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && !filepath.IsAbs(rel)
}
