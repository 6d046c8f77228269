package backup_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/spf13/afero"

	"github.com/atocore/atocore-backup/backup"
	"github.com/atocore/atocore-backup/internal/sample"
	"github.com/atocore/atocore-backup/internal/testutil"
	"github.com/atocore/atocore-backup/validate"
)

func inodeOf(t *testing.T, p string) uint64 {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Ino
}

// The second snapshot hardlinks the Chroma files that did not change and
// copies the ones that did; each snapshot stays complete on its own.
func TestIncrementalChromaLinksUnchangedFiles(t *testing.T) {
	defer backup.SetRacyWindow(0)()
	r, err := sample.Generate(context.Background(), t.TempDir(), sample.Options{Seed: 3, ChromaBytes: 8 << 20, Segments: 4})
	if err != nil {
		t.Fatal(err)
	}
	cfg := testutil.Config(r)
	first := testutil.Create(t, r, backup.CreateOptions{IncludeChroma: true})
	if first.ChromaFilesLinked != 0 || first.ChromaFilesCopied != first.ChromaFiles {
		t.Fatalf("first snapshot: linked %d copied %d of %d", first.ChromaFilesLinked, first.ChromaFilesCopied, first.ChromaFiles)
	}
	changed, err := sample.ChangeChroma(context.Background(), r.ChromaPath, 0.25, 11) // one segment of four
	if err != nil || changed == 0 {
		t.Fatalf("ChangeChroma: %d, %v", changed, err)
	}
	second := testutil.Create(t, r, backup.CreateOptions{IncludeChroma: true})
	if second.ChromaFilesLinked == 0 || second.ChromaFilesCopied < 1 {
		t.Fatalf("second snapshot: linked %d, copied %d", second.ChromaFilesLinked, second.ChromaFilesCopied)
	}
	// Nothing else changed: chroma.sqlite3 and the database have the
	// digests of the first snapshot's and are linked too.
	written := second.ChromaBytesWritten
	if written < changed || float64(written) > 1.1*float64(changed) {
		t.Fatalf("wrote %d Chroma bytes for %d changed (of %d)", written, changed, second.ChromaBytes)
	}
	if inodeOf(t, first.DBSnapshotPath) != inodeOf(t, second.DBSnapshotPath) {
		t.Fatal("the unchanged database was not linked to the first snapshot's copy")
	}
	// Unchanged files share the first snapshot's inode; changed ones do not,
	// and hold the new bytes.
	linked, copied := 0, 0
	err = filepath.Walk(r.ChromaPath, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() || filepath.Base(p) == "chroma.sqlite3" {
			return err
		}
		rel, _ := filepath.Rel(r.ChromaPath, p)
		a := filepath.Join(first.BackupRoot, "chroma", rel)
		b := filepath.Join(second.BackupRoot, "chroma", rel)
		liveData, _ := os.ReadFile(p)
		bData, _ := os.ReadFile(b)
		if string(liveData) != string(bData) {
			t.Errorf("%s: the second snapshot does not hold the live bytes", rel)
		}
		if inodeOf(t, a) == inodeOf(t, b) {
			linked++
		} else {
			copied++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if linked != second.ChromaFilesLinked-1 || copied != second.ChromaFilesCopied {
		t.Fatalf("on disk %d linked, %d copied; metadata says %d, %d (chroma.sqlite3 linked too)", linked, copied, second.ChromaFilesLinked, second.ChromaFilesCopied)
	}
	// Deleting the first snapshot never breaks the second.
	if err := os.RemoveAll(first.BackupRoot); err != nil {
		t.Fatal(err)
	}
	res, err := validate.Snapshot(context.Background(), afero.NewOsFs(), r.BackupDir, second.Stamp)
	if err != nil || !res.Valid {
		t.Fatalf("second snapshot after deleting the first: %+v, %v", res, err)
	}
	// A third snapshot with nothing changed links every segment file.
	third, err := backup.Create(context.Background(), cfg, backup.CreateOptions{IncludeChroma: true})
	if err != nil {
		t.Fatal(err)
	}
	if third.ChromaFilesCopied != 0 || third.ChromaFilesLinked != third.ChromaFiles || third.ChromaBytesWritten != 0 {
		t.Fatalf("unchanged Chroma: linked %d, copied %d of %d", third.ChromaFilesLinked, third.ChromaFilesCopied, third.ChromaFiles)
	}
}

// Files changed within the racy window are never recorded for linking by
// state; older ones are.
func TestFreshFilesAreNotRecorded(t *testing.T) {
	sources := func(m *backup.Metadata) (with, without int) {
		data, err := os.ReadFile(filepath.Join(m.BackupRoot, "manifest.json"))
		if err != nil {
			t.Fatal(err)
		}
		var man backup.Manifest
		if err := json.Unmarshal(data, &man); err != nil {
			t.Fatal(err)
		}
		for _, f := range man.Files {
			if strings.HasPrefix(f.Path, "chroma/") && !strings.HasSuffix(f.Path, "chroma.sqlite3") {
				if f.Source != nil {
					with++
				} else {
					without++
				}
			}
		}
		return
	}
	r := testutil.Root(t) // files written just now
	if with, without := sources(testutil.Create(t, r, backup.CreateOptions{IncludeChroma: true})); with != 0 || without == 0 {
		t.Fatalf("fresh files: %d recorded, %d not", with, without)
	}
	defer backup.SetRacyWindow(0)()
	if with, without := sources(testutil.Create(t, r, backup.CreateOptions{IncludeChroma: true})); with == 0 || without != 0 {
		t.Fatalf("settled files: %d recorded, %d not", with, without)
	}
}

// Where the filesystem has no hardlinks, unchanged files are copied.
func TestIncrementalFallsBackToCopy(t *testing.T) {
	defer backup.SetRacyWindow(0)()
	r := testutil.Root(t)
	cfg := testutil.Config(r)
	cfg.FS = afero.NewMemMapFs()
	if _, err := backup.Create(context.Background(), cfg, backup.CreateOptions{IncludeChroma: true}); err != nil {
		t.Fatal(err)
	}
	m, err := backup.Create(context.Background(), cfg, backup.CreateOptions{IncludeChroma: true})
	if err != nil {
		t.Fatal(err)
	}
	if m.ChromaFilesLinked != 0 || m.ChromaFilesCopied != m.ChromaFiles {
		t.Fatalf("in-memory: linked %d copied %d", m.ChromaFilesLinked, m.ChromaFilesCopied)
	}
	res, _ := validate.Snapshot(context.Background(), cfg.FS, r.BackupDir, m.Stamp)
	if !res.Valid {
		t.Fatal(res.Errors)
	}
}

// An unchanged database is linked by its file state without being copied;
// one write makes the next snapshot copy it again.
func TestUnchangedDatabaseIsLinkedChangedIsCopied(t *testing.T) {
	defer backup.SetRacyWindow(0)()
	r := testutil.Root(t)
	first := testutil.Create(t, r, backup.CreateOptions{})
	second := testutil.Create(t, r, backup.CreateOptions{})
	if inodeOf(t, first.DBSnapshotPath) != inodeOf(t, second.DBSnapshotPath) || second.DBJournalMode != "wal" {
		t.Fatalf("an unchanged database was copied again (journal mode %q)", second.DBJournalMode)
	}
	if _, err := sample.InsertMemory(context.Background(), r.DBPath, sample.Memory{Content: "after", Project: "p"}); err != nil {
		t.Fatal(err)
	}
	third := testutil.Create(t, r, backup.CreateOptions{})
	if inodeOf(t, third.DBSnapshotPath) == inodeOf(t, second.DBSnapshotPath) {
		t.Fatal("a changed database was linked to the old copy")
	}
	if testutil.Fingerprint(t, third.DBSnapshotPath) != testutil.Fingerprint(t, r.DBPath) {
		t.Fatal("the third snapshot does not hold the write")
	}
}
