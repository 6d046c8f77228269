package backup_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/afero"

	"github.com/atocore/atocore-backup/backup"
	"github.com/atocore/atocore-backup/internal/snapshot"
	"github.com/atocore/atocore-backup/internal/testutil"
	"github.com/atocore/atocore-backup/restore"
	"github.com/atocore/atocore-backup/validate"
)

// oddName is a file name that is not UTF-8: legitimate on Linux, and not
// representable in a JSON string.
const oddName = "\xff\xfe.bin"

// A Chroma file whose name is not UTF-8 is backed up, validates, and is
// restored byte for byte under the same name. It used to make every
// create --include-chroma fail validation (the manifest named the file
// with U+FFFD), each failed copy staying in failed/.
func TestNonUTF8ChromaNameIsBackedUpAndRestored(t *testing.T) {
	r := testutil.Root(t)
	segs, _ := filepath.Glob(filepath.Join(r.ChromaPath, "*", "header.bin"))
	if len(segs) == 0 {
		t.Fatal("sample Chroma directory has no segment")
	}
	odd := filepath.Join(filepath.Dir(segs[0]), oddName)
	want := make([]byte, 5000)
	_, _ = rand.Read(want)
	if err := os.WriteFile(odd, want, 0o640); err != nil {
		t.Fatal(err)
	}
	m, err := backup.Create(context.Background(), testutil.Config(r), backup.CreateOptions{IncludeChroma: true})
	if err != nil || !m.Validated {
		t.Fatalf("create: %+v, %v", m, err)
	}
	if _, err := os.Stat(filepath.Join(r.BackupDir, snapshot.FailedDir)); err == nil {
		t.Fatal("create left a failed snapshot")
	}
	res, err := validate.Snapshot(context.Background(), afero.NewOsFs(), r.BackupDir, m.Stamp)
	if err != nil || !res.Valid {
		t.Fatalf("validate: %+v, %v", res, err)
	}
	// The name is in the manifest exactly.
	data, err := os.ReadFile(filepath.Join(m.BackupRoot, snapshot.ManifestFile))
	if err != nil {
		t.Fatal(err)
	}
	man, err := snapshot.DecodeManifest(data)
	if err != nil {
		t.Fatal(err)
	}
	rel, _ := filepath.Rel(r.ChromaPath, odd)
	if f, ok := man.Index()[snapshot.ChromaDir+"/"+filepath.ToSlash(rel)]; !ok || f.Size != int64(len(want)) || f.FileMode() != 0o640 {
		t.Fatalf("manifest entry for %q: %+v, %v", rel, f, ok)
	}
	// A second create links the unchanged file from the first.
	if _, err := backup.Create(context.Background(), testutil.Config(r), backup.CreateOptions{IncludeChroma: true}); err != nil {
		t.Fatalf("second create: %v", err)
	}

	if err := os.Remove(odd); err != nil {
		t.Fatal(err)
	}
	if _, err := restore.Run(context.Background(), testutil.Config(r), m.Stamp,
		restore.Options{ConfirmServiceStopped: true, NoPreSnapshot: true}); err != nil {
		t.Fatalf("restore: %v", err)
	}
	got, err := os.ReadFile(odd)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("restored %q: %d bytes, %v; want the %d original bytes", oddName, len(got), err, len(want))
	}
}

// A name a snapshot cannot hold (a backslash) is refused up front, with
// its name, instead of making a snapshot that fails validation.
func TestChromaNameWithBackslashIsRefusedUpFront(t *testing.T) {
	r := testutil.Root(t)
	bad := filepath.Join(r.ChromaPath, `a\b.bin`)
	if err := os.WriteFile(bad, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := backup.Create(context.Background(), testutil.Config(r), backup.CreateOptions{IncludeChroma: true})
	if err == nil || !strings.Contains(err.Error(), "backslash") || !strings.Contains(err.Error(), `a\\b.bin`) {
		t.Fatalf("err = %v, want a refusal naming the file", err)
	}
	assertNothingLeft(t, r.BackupDir)
}
