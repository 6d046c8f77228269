package backup_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/atocore/atocore-backup/backup"
	"github.com/atocore/atocore-backup/internal/testutil"
)

func TestCheckLayout(t *testing.T) {
	root := t.TempDir()
	link := filepath.Join(t.TempDir(), "root-link")
	if err := os.Symlink(root, link); err != nil {
		t.Fatal(err)
	}
	base := backup.Paths{Root: root}
	for _, c := range []struct {
		name   string
		chroma string
		ok     bool
	}{
		{"default", filepath.Join(root, "data", "chroma"), true},
		{"elsewhere", filepath.Join(t.TempDir(), "chroma"), true},
		{"a sibling with a common prefix", filepath.Join(root, "data", "db2"), true},
		{"the root", root, false},
		{"data, holding db/", filepath.Join(root, "data"), false},
		{"config, holding the registry", filepath.Join(root, "config"), false},
		{"the backup directory", filepath.Join(root, "backups"), false},
		{"inside the backup directory", filepath.Join(root, "backups", "snapshots"), false},
		{"the database", filepath.Join(root, "data", "db", "atocore.db"), false},
		{"a link to the root", link, false},
		{"inside a link to the backup directory", filepath.Join(link, "backups", "x"), false},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := base
			p.ChromaPath = c.chroma
			p, err := p.Resolve()
			if err != nil {
				t.Fatal(err)
			}
			err = p.CheckLayout(true)
			var le *backup.LayoutError
			if c.ok && err != nil {
				t.Fatalf("refused: %v", err)
			}
			if !c.ok && !errors.As(err, &le) {
				t.Fatalf("err = %v, want a LayoutError", err)
			}
		})
	}
}

// Create applies the same check: a Chroma path one level too high would
// copy the backup directory into the snapshot.
func TestCreateRefusesAChromaPathOverTheBackupDirectory(t *testing.T) {
	r := testutil.Root(t)
	cfg := testutil.Config(r)
	cfg.ChromaPath = r.Dir
	var le *backup.LayoutError
	if _, err := backup.Create(context.Background(), cfg, backup.CreateOptions{IncludeChroma: true}); !errors.As(err, &le) {
		t.Fatalf("err = %v, want a LayoutError", err)
	}
	if _, err := os.Stat(r.BackupDir); err == nil {
		t.Fatal("a refused create made the backup directory")
	}
}

// A database or registry path inside the backup directory is refused, with
// or without Chroma: a restore would replace a snapshot's file.
func TestCheckLayoutKeepsLiveFilesOutOfTheBackupDirectory(t *testing.T) {
	root := t.TempDir()
	for name, p := range map[string]backup.Paths{
		"database": {Root: root, DBPath: filepath.Join(root, "backups", "snapshots", "20260407T060000Z", "db", "atocore.db")},
		"registry": {Root: root, RegistryPath: filepath.Join(root, "backups", "r.json")},
	} {
		t.Run(name, func(t *testing.T) {
			p, err := p.Resolve()
			if err != nil {
				t.Fatal(err)
			}
			var le *backup.LayoutError
			if err := p.CheckLayout(false); !errors.As(err, &le) {
				t.Fatalf("err = %v, want a LayoutError", err)
			}
		})
	}
}
