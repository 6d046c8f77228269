// Package testutil builds the fixtures the tests of every package share:
// a generated AtoCore root on real files, its configuration, and snapshots
// laid out as the earlier Python implementation made them.
package testutil

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/atocore/atocore-backup/backup"
	"github.com/atocore/atocore-backup/internal/sample"
	"github.com/atocore/atocore-backup/internal/snapshot"
)

// Root generates a small sample AtoCore root (WAL database, registry,
// Chroma directory) in a fresh temporary directory.
func Root(t testing.TB) *sample.Root {
	t.Helper()
	r, err := sample.Generate(context.Background(), t.TempDir(), sample.Options{Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// Config is the backup configuration of r.
func Config(r *sample.Root) backup.Config {
	return backup.Config{Paths: backup.Paths{Root: r.Dir}}
}

// Create makes a snapshot of r and fails the test on error.
func Create(t testing.TB, r *sample.Root, opts backup.CreateOptions) *backup.Metadata {
	t.Helper()
	m, err := backup.Create(context.Background(), Config(r), opts)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// Fingerprint is the logical content of the database at path.
func Fingerprint(t testing.TB, path string) string {
	t.Helper()
	fp, err := sample.Fingerprint(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	return fp
}

// PythonSnapshot lays out snapshots/<stamp>/ in r's backup directory as the
// earlier Python implementation did: no manifest.json, its smaller set of
// metadata fields, and a database copied with the backup API, whose header
// still says WAL. withChroma copies the Chroma directory file by file.
func PythonSnapshot(t testing.TB, r *sample.Root, stamp string, withChroma bool) string {
	t.Helper()
	dir := filepath.Join(r.BackupDir, "snapshots", stamp)
	copyFile(t, r.DBPath, filepath.Join(dir, "db", "atocore.db"))
	copyFile(t, r.RegistryPath, filepath.Join(dir, "config", "project-registry.json"))
	meta := map[string]any{
		"created_at":             stamp[:4] + "-" + stamp[4:6] + "-" + stamp[6:8] + "T" + stamp[9:11] + ":" + stamp[11:13] + ":" + stamp[13:15] + "+00:00",
		"backup_root":            dir,
		"db_snapshot_path":       filepath.Join(dir, "db", "atocore.db"),
		"db_size_bytes":          fileSize(t, r.DBPath),
		"registry_snapshot_path": filepath.Join(dir, "config", "project-registry.json"),
		"chroma_snapshot_path":   "",
		"chroma_snapshot_bytes":  0,
		"chroma_snapshot_files":  0,
		"include_chroma":         withChroma,
	}
	if withChroma {
		meta["chroma_snapshot_path"] = filepath.Join(dir, "chroma")
		err := filepath.Walk(r.ChromaPath, func(p string, info os.FileInfo, err error) error {
			if err != nil || info.IsDir() {
				return err
			}
			rel, _ := filepath.Rel(r.ChromaPath, p)
			copyFile(t, p, filepath.Join(dir, "chroma", rel))
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	} else {
		meta["chroma_snapshot_path"] = nil
	}
	data, _ := json.MarshalIndent(meta, "", "  ")
	if err := os.WriteFile(filepath.Join(dir, "backup-metadata.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func copyFile(t testing.TB, src, dst string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

func fileSize(t testing.TB, p string) int64 {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// Corrupt XORs n bytes of the file at path from offset off.
func Corrupt(t testing.TB, path string, off int64, n int) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, n)
	if _, err := f.ReadAt(buf, off); err != nil {
		t.Fatal(err)
	}
	for i := range buf {
		buf[i] ^= 0xA5
	}
	if _, err := f.WriteAt(buf, off); err != nil {
		t.Fatal(err)
	}
}

// EditManifest rewrites the manifest.json of the snapshot directory dir,
// applying edit to each file it lists: a snapshot whose manifest agrees
// (or disagrees) with bytes a test changed.
func EditManifest(t testing.TB, dir string, edit func(f *snapshot.File)) {
	t.Helper()
	p := filepath.Join(dir, snapshot.ManifestFile)
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	m, err := snapshot.DecodeManifest(data)
	if err != nil {
		t.Fatal(err)
	}
	for i := range m.Files {
		edit(&m.Files[i])
	}
	if data, err = m.Encode(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// Tool returns the path of an external command-line tool the test
// cross-checks against. Without it the test is skipped, unless
// ATOCORE_REQUIRE_TOOLS=1 (set by .ci/run, which installs them): then a
// missing tool fails the test instead of hiding it.
func Tool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("ATOCORE_REQUIRE_TOOLS") == "1" {
			t.Fatalf("%s is required (ATOCORE_REQUIRE_TOOLS=1) but not on PATH; install the Debian package", name)
		}
		t.Skipf("%s not on PATH; install it to run this cross-check", name)
	}
	return p
}
