package sample

import (
	"encoding/json"
	"fmt"
	"os"
)

// registryFile is the layout of AtoCore's config/project-registry.json.
type registryFile struct {
	Version  int             `json:"version"`
	Projects []registryEntry `json:"projects"`
}

type registryEntry struct {
	ID          string   `json:"id"`
	Name        string   `json:"name"`
	Aliases     []string `json:"aliases"`
	SourceRoots []string `json:"source_roots"`
}

// writeRegistry writes the project registry for projects to path, which must
// not exist yet.
func writeRegistry(path string, projects []project) error {
	reg := registryFile{Version: 1, Projects: make([]registryEntry, len(projects))}
	for i, p := range projects {
		reg.Projects[i] = registryEntry{ID: p.ID, Name: p.Name, Aliases: p.Aliases, SourceRoots: sourceRoots(p)}
	}
	b, err := json.MarshalIndent(reg, "", "  ")
	if err != nil {
		return fmt.Errorf("encode registry: %w", err)
	}
	return writeNewFile(path, append(b, '\n'))
}

// writeNewFile creates path with mode 0600, failing if it exists, and writes
// b to it.
func writeNewFile(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", path, err)
	}
	return nil
}
