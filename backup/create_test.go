package backup_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/spf13/afero"
	_ "modernc.org/sqlite"

	"github.com/atocore/atocore-backup/backup"
	"github.com/atocore/atocore-backup/internal/snapshot"
	"github.com/atocore/atocore-backup/internal/testutil"
	"github.com/atocore/atocore-backup/validate"
)

func TestCreateWritesACompleteValidatedSnapshot(t *testing.T) {
	r := testutil.Root(t)
	t.Setenv("ATOCORE_BUILD_SHA", "abc123")
	m := testutil.Create(t, r, backup.CreateOptions{IncludeChroma: true, Kind: backup.KindScheduled})
	dir := snapshot.Dir(r.BackupDir, m.Stamp)

	if !m.Validated || len(m.ValidationErrors) != 0 || m.Kind != "scheduled" || m.BuildSHA != "abc123" || m.FormatVersion != 1 {
		t.Fatalf("metadata = %+v", m)
	}
	if filepath.Base(m.BackupRoot) != m.Stamp || m.BackupRoot != dir {
		t.Fatalf("backup_root %q does not end in the stamp %q", m.BackupRoot, m.Stamp)
	}
	if m.RegistrySnapshotPath == nil || m.ChromaSnapshotPath == nil || !m.IncludeChroma || m.ChromaFiles < 5 || m.ChromaBytes <= 0 {
		t.Fatalf("registry/chroma fields = %+v", m)
	}
	if m.Source.DBPath != r.DBPath || m.DBJournalMode != "wal" {
		t.Fatalf("source %+v, journal %q", m.Source, m.DBJournalMode)
	}
	created, err := time.Parse(time.RFC3339, m.CreatedAt)
	if err != nil || created.Location() != time.UTC || time.Since(created) > time.Minute {
		t.Fatalf("created_at %q is not recent RFC 3339 UTC", m.CreatedAt)
	}
	// The file on disk says the same, and every field of SPEC is present.
	raw, err := os.ReadFile(filepath.Join(dir, snapshot.MetadataFile))
	if err != nil {
		t.Fatal(err)
	}
	var fields map[string]any
	if err := json.Unmarshal(raw, &fields); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"format_version", "stamp", "created_at", "backup_root", "kind", "db_snapshot_path", "db_size_bytes",
		"registry_snapshot_path", "include_chroma", "chroma_snapshot_path", "chroma_files", "chroma_bytes", "source",
		"tool_version", "build_sha", "validated", "validation_errors"} {
		if _, ok := fields[k]; !ok {
			t.Errorf("backup-metadata.json lacks %q", k)
		}
	}
	// Snapshot files are private: 0600 files, 0700 directories.
	err = filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		want := os.FileMode(0o600)
		if info.IsDir() {
			want = 0o700
		}
		if info.Mode().Perm() != want {
			t.Errorf("%s has mode %v, want %v", p, info.Mode().Perm(), want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Nothing but the snapshot: no staging leftovers, no SQLite sidecars.
	entries, _ := os.ReadDir(r.BackupDir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".staging") {
			t.Errorf("staging leftover %s", e.Name())
		}
	}
	for _, s := range []string{"-wal", "-shm", "-journal"} {
		if _, err := os.Stat(filepath.Join(dir, "db", "atocore.db"+s)); err == nil {
			t.Errorf("snapshot holds a sidecar %s", s)
		}
	}
	if testutil.Fingerprint(t, filepath.Join(dir, "db", "atocore.db")) != testutil.Fingerprint(t, r.DBPath) {
		t.Fatal("the snapshot's database differs from the live one")
	}
}

func TestCreateWithoutChromaOrRegistry(t *testing.T) {
	r := testutil.Root(t)
	if err := os.Remove(r.RegistryPath); err != nil {
		t.Fatal(err)
	}
	m := testutil.Create(t, r, backup.CreateOptions{})
	if m.RegistrySnapshotPath != nil || m.ChromaSnapshotPath != nil || m.IncludeChroma {
		t.Fatalf("metadata = %+v", m)
	}
	raw, _ := os.ReadFile(filepath.Join(m.BackupRoot, snapshot.MetadataFile))
	if !strings.Contains(string(raw), `"registry_snapshot_path": null`) || !strings.Contains(string(raw), `"chroma_snapshot_path": null`) {
		t.Fatalf("absent parts must be null in JSON:\n%s", raw)
	}
}

// A writer inserts rows during create: the snapshot passes integrity_check
// and holds a prefix of the writes; the writer never fails.
func TestCreateUnderConcurrentWriter(t *testing.T) {
	r := testutil.Root(t)
	db, err := sql.Open("sqlite", "file:"+r.DBPath+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(wal)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("CREATE TABLE writes(n INTEGER PRIMARY KEY)"); err != nil {
		t.Fatal(err)
	}
	var last atomic.Int64
	var werr error
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		deadline := time.Now().Add(30 * time.Second)
		for n := int64(1); n <= 1_000_000 && time.Now().Before(deadline); n++ {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := db.Exec("INSERT INTO writes(n) VALUES (?)", n); err != nil {
				werr = err
				return
			}
			last.Store(n)
		}
	})
	for last.Load() < 50 {
		time.Sleep(5 * time.Millisecond)
	}
	m, cerr := backup.Create(context.Background(), testutil.Config(r), backup.CreateOptions{IncludeChroma: true})
	close(stop)
	wg.Wait()
	if cerr != nil {
		t.Fatal(cerr)
	}
	if werr != nil {
		t.Fatalf("the writer failed during the backup: %v", werr)
	}
	snap, err := sql.Open("sqlite", "file:"+filepath.Join(m.BackupRoot, "db", "atocore.db")+"?mode=ro&immutable=1")
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Close()
	var count, maxN int64
	if err := snap.QueryRow("SELECT count(*), coalesce(max(n),0) FROM writes").Scan(&count, &maxN); err != nil {
		t.Fatal(err)
	}
	if count != maxN || count < 50 || count > last.Load() {
		t.Fatalf("snapshot holds %d rows up to %d; want the prefix 1..k with 50 <= k <= %d", count, maxN, last.Load())
	}
}

func TestSecondCreateIsBusyOrWaits(t *testing.T) {
	r := testutil.Root(t)
	cfg := testutil.Config(r)
	l, err := backup.LockDir(context.Background(), cfg, "restore", backup.Wait{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = backup.Create(context.Background(), cfg, backup.CreateOptions{})
	var be *backup.BusyError
	if !errors.Is(err, backup.ErrBusy) || !errors.As(err, &be) || !strings.Contains(err.Error(), "restore (pid") {
		t.Fatalf("err = %v, want ErrBusy naming the restore", err)
	}
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_, err := backup.Create(ctx, cfg, backup.CreateOptions{Wait: true})
		done <- err
	}()
	time.Sleep(300 * time.Millisecond)
	l.Release()
	if err := <-done; err != nil {
		t.Fatalf("waiting create: %v", err)
	}
}

// Two creates in the same second never share a stamp.
func TestStampsAreUnique(t *testing.T) {
	r := testutil.Root(t)
	cfg := testutil.Config(r)
	fixed := time.Date(2026, 4, 7, 6, 0, 0, 0, time.UTC)
	var calls atomic.Int64
	cfg.Now = func() time.Time {
		// The clock stands still for the first three readings, then moves.
		if calls.Add(1) <= 3 {
			return fixed
		}
		return fixed.Add(time.Second)
	}
	a, err := backup.Create(context.Background(), cfg, backup.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := backup.Create(context.Background(), cfg, backup.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if a.Stamp == b.Stamp || a.Stamp != "20260407T060000Z" || b.Stamp != "20260407T060001Z" {
		t.Fatalf("stamps %s and %s", a.Stamp, b.Stamp)
	}
}

func TestLeftoversAreRemovedAndNeverListed(t *testing.T) {
	r := testutil.Root(t)
	crashed := filepath.Join(r.BackupDir, ".staging-20260407T060000Z")
	trash := filepath.Join(r.BackupDir, ".trash-20260301T060000Z")
	for _, d := range []string{filepath.Join(crashed, "db"), trash, filepath.Join(r.BackupDir, "snapshots", "not-a-stamp")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	snaps, err := backup.List(context.Background(), testutil.Config(r))
	if err != nil || len(snaps) != 0 {
		t.Fatalf("List = %v, %v; want nothing", snaps, err)
	}
	testutil.Create(t, r, backup.CreateOptions{})
	for _, d := range []string{crashed, trash} {
		if _, err := os.Stat(d); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("leftover %s survived the next create", d)
		}
	}
}

func TestCreateRefusesBadInput(t *testing.T) {
	r := testutil.Root(t)
	cfg := testutil.Config(r)
	if _, err := backup.Create(context.Background(), cfg, backup.CreateOptions{Kind: "weekly"}); err == nil || !strings.Contains(err.Error(), "unknown kind") {
		t.Fatalf("bad kind: %v", err)
	}
	missing := cfg
	missing.DBPath = filepath.Join(r.Dir, "nope.db")
	var nf *backup.NotFoundError
	if _, err := backup.Create(context.Background(), missing, backup.CreateOptions{}); !errors.As(err, &nf) || nf.What != backup.WhatDB || !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing db: %v", err)
	}
	noChroma := cfg
	noChroma.ChromaPath = filepath.Join(r.Dir, "nochroma")
	if _, err := backup.Create(context.Background(), noChroma, backup.CreateOptions{IncludeChroma: true}); err == nil {
		t.Fatal("missing Chroma directory accepted")
	}
	var noPath *backup.MissingPathError
	if _, err := backup.Create(context.Background(), backup.Config{}, backup.CreateOptions{}); !errors.As(err, &noPath) || noPath.What != backup.WhatDB {
		t.Fatalf("no paths: %v", err)
	}
	if snaps, _ := backup.List(context.Background(), cfg); len(snaps) != 0 {
		t.Fatalf("refused creates left snapshots: %v", snaps)
	}
}

// A snapshot that fails validation is reported, kept out of snapshots/ and
// never listed.
func TestFailedValidationIsNeverAGoodBackup(t *testing.T) {
	r := testutil.Root(t)
	if err := os.WriteFile(r.RegistryPath, []byte(`{"projects": [`), 0o600); err != nil {
		t.Fatal(err)
	}
	m, err := backup.Create(context.Background(), testutil.Config(r), backup.CreateOptions{})
	var ve *validate.Error
	if !errors.As(err, &ve) || m == nil || m.Validated || len(m.ValidationErrors) == 0 ||
		!strings.HasPrefix(m.ValidationErrors[0], validate.CodeRegistryInvalid) {
		t.Fatalf("create with a broken registry: meta %+v, err %v", m, err)
	}
	if snaps, _ := backup.List(context.Background(), testutil.Config(r)); len(snaps) != 0 {
		t.Fatalf("a failed snapshot is listed: %v", snaps)
	}
	if _, err := os.Stat(filepath.Join(r.BackupDir, "failed", m.Stamp, snapshot.MetadataFile)); err != nil {
		t.Fatalf("failed snapshot not kept for inspection: %v", err)
	}
}

func TestCreateCancelledLeavesNothing(t *testing.T) {
	r := testutil.Root(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := backup.Create(ctx, testutil.Config(r), backup.CreateOptions{IncludeChroma: true}); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	entries, _ := os.ReadDir(r.BackupDir)
	for _, e := range entries {
		if e.Name() != snapshot.LockFile {
			t.Errorf("cancelled create left %s", e.Name())
		}
	}
}

// Chroma files that keep changing during the copy are retried, then the
// create fails with chroma_changed_during_copy; nothing is put in place.
func TestChromaChangingDuringCopy(t *testing.T) {
	r := testutil.Root(t)
	seg, _ := filepath.Glob(filepath.Join(r.ChromaPath, "*", "data_level0.bin"))
	if len(seg) == 0 {
		t.Fatal("no segment file")
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		deadline := time.Now().Add(60 * time.Second)
		for i := 0; time.Now().Before(deadline); i++ {
			select {
			case <-stop:
				return
			default:
			}
			f, err := os.OpenFile(seg[0], os.O_WRONLY, 0)
			if err != nil {
				return
			}
			_, _ = f.WriteAt([]byte{byte(i)}, vectorByte)
			f.Close()
			time.Sleep(200 * time.Microsecond)
		}
	})
	_, err := backup.Create(context.Background(), testutil.Config(r), backup.CreateOptions{IncludeChroma: true})
	close(stop)
	wg.Wait()
	if !errors.Is(err, backup.ErrChromaChanged) || !strings.Contains(err.Error(), "ingestion") {
		t.Fatalf("err = %v, want chroma_changed_during_copy with advice", err)
	}
	if snaps, _ := backup.List(context.Background(), testutil.Config(r)); len(snaps) != 0 {
		t.Fatalf("an inconsistent Chroma copy was put in place: %v", snaps)
	}
	// Once the writer stops, the same create succeeds.
	testutil.Create(t, r, backup.CreateOptions{IncludeChroma: true})
}

// A segment rewritten once during the copy is copied again and the snapshot
// holds the new bytes.
func TestChromaChangedOnceIsRetried(t *testing.T) {
	r := testutil.Root(t)
	segs, _ := filepath.Glob(filepath.Join(r.ChromaPath, "*", "data_level0.bin"))
	var passes []int
	defer backup.SetChromaCopiedHook(func(attempt int) {
		passes = append(passes, attempt)
		if attempt == 1 {
			rewrite(t, segs[0], 0x5A)
		}
	})()
	m, err := backup.Create(context.Background(), testutil.Config(r), backup.CreateOptions{IncludeChroma: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(passes) != 2 {
		t.Fatalf("copy passes = %v, want a second pass after the change", passes)
	}
	rel, _ := filepath.Rel(r.ChromaPath, segs[0])
	live, _ := os.ReadFile(segs[0])
	copied, _ := os.ReadFile(filepath.Join(m.BackupRoot, "chroma", rel))
	if string(live) != string(copied) {
		t.Fatal("the snapshot holds the segment as it was before the change")
	}
}

// With the ingestion lock held nothing should write; a change anyway is an
// error at once, not a retry.
func TestChromaChangeUnderIngestionLockFails(t *testing.T) {
	r := testutil.Root(t)
	segs, _ := filepath.Glob(filepath.Join(r.ChromaPath, "*", "data_level0.bin"))
	defer backup.SetChromaCopiedHook(func(int) { rewrite(t, segs[0], 0x33) })()
	lock := &countingLocker{}
	_, err := backup.Create(context.Background(), testutil.Config(r), backup.CreateOptions{IncludeChroma: true, IngestionLock: lock})
	if !errors.Is(err, backup.ErrChromaChanged) {
		t.Fatalf("err = %v, want ErrChromaChanged", err)
	}
	if lock.locked != 1 || lock.unlocked != 1 {
		t.Fatalf("ingestion lock taken %d, released %d times", lock.locked, lock.unlocked)
	}
}

type countingLocker struct{ locked, unlocked int }

func (l *countingLocker) Lock(context.Context) (func(), error) {
	l.locked++
	return func() { l.unlocked++ }, nil
}

// vectorByte is a byte of element 0's vector in data_level0.bin (after its
// 132 bytes of level-0 links): changing it keeps the index loadable.
const vectorByte = 200

// rewrite changes one byte of element 0's vector in place, as Chroma's
// persist does, and makes sure its mtime moves even on a coarse clock.
func rewrite(t *testing.T, p string, b byte) {
	t.Helper()
	f, err := os.OpenFile(p, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte{b}, vectorByte); err != nil {
		t.Fatal(err)
	}
	f.Close()
	later := time.Now().Add(2 * time.Second)
	_ = os.Chtimes(p, later, later)
}

func TestListIsOldestFirstWithRawMetadata(t *testing.T) {
	r := testutil.Root(t)
	testutil.PythonSnapshot(t, r, "20260101T000000Z", false)
	m := testutil.Create(t, r, backup.CreateOptions{})
	snaps, err := backup.List(context.Background(), testutil.Config(r))
	if err != nil || len(snaps) != 2 {
		t.Fatalf("List = %v, %v", snaps, err)
	}
	if snaps[0].Stamp != "20260101T000000Z" || snaps[1].Stamp != m.Stamp {
		t.Fatalf("order: %s, %s", snaps[0].Stamp, snaps[1].Stamp)
	}
	// The Python snapshot's own fields survive in the raw metadata.
	if !strings.Contains(string(snaps[0].RawMetadata), "chroma_snapshot_files") || snaps[0].Kind() != "" {
		t.Fatalf("raw metadata = %s", snaps[0].RawMetadata)
	}
}

func TestCreateOnMemMapFs(t *testing.T) {
	r := testutil.Root(t)
	cfg := testutil.Config(r)
	cfg.FS = afero.NewMemMapFs()
	m, err := backup.Create(context.Background(), cfg, backup.CreateOptions{IncludeChroma: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(r.BackupDir); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("an in-memory backup directory wrote to disk")
	}
	res, err := validate.Snapshot(context.Background(), cfg.FS, r.BackupDir, m.Stamp)
	if err != nil || !res.Valid {
		t.Fatalf("in-memory snapshot: %+v, %v", res, err)
	}
	snaps, _ := backup.List(context.Background(), cfg)
	if len(snaps) != 1 || snaps[0].Metadata == nil || snaps[0].Metadata.Stamp != m.Stamp {
		t.Fatalf("List = %+v", snaps)
	}
}

// The snapshot's databases are ordinary SQLite files: the sqlite3 command
// line tool (SQLite's own C code) agrees they are sound and reads the rows.
func TestSnapshotPassesSqlite3CLI(t *testing.T) {
	sqlite3 := testutil.Tool(t, "sqlite3")
	r := testutil.Root(t)
	m := testutil.Create(t, r, backup.CreateOptions{IncludeChroma: true})
	for _, db := range []string{filepath.Join(m.BackupRoot, "db", "atocore.db"), filepath.Join(m.BackupRoot, "chroma", "chroma.sqlite3")} {
		out, err := exec.Command(sqlite3, "-readonly", db, "PRAGMA integrity_check; PRAGMA journal_mode;").CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != "ok\ndelete" {
			t.Fatalf("sqlite3 on %s: %v\n%s", db, err, out)
		}
	}
	out, err := exec.Command(sqlite3, "-readonly", m.DBSnapshotPath, "SELECT count(*) FROM memories;").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != fmt.Sprint(r.Counts.Memories) {
		t.Fatalf("sqlite3 counts %q memories, want %d (%v)", out, r.Counts.Memories, err)
	}
	// Nothing the CLI did may make the snapshot invalid (no sidecars left).
	res, _ := validate.Snapshot(context.Background(), afero.NewOsFs(), r.BackupDir, m.Stamp)
	if !res.Valid {
		t.Fatal(res.Errors)
	}
}

// syncFailFs is an in-memory filesystem whose disk "fails to write back"
// the Chroma segment files: every Sync of a .bin file returns EIO.
type syncFailFs struct{ afero.Fs }

func (f syncFailFs) Open(name string) (afero.File, error) {
	return f.OpenFile(name, os.O_RDONLY, 0)
}
func (f syncFailFs) Create(name string) (afero.File, error) {
	return f.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o666)
}
func (f syncFailFs) OpenFile(name string, flag int, perm os.FileMode) (afero.File, error) {
	file, err := f.Fs.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return syncFailFile{file}, nil
}

type syncFailFile struct{ afero.File }

func (f syncFailFile) Sync() error {
	if strings.HasSuffix(f.Name(), ".bin") {
		return &os.PathError{Op: "fsync", Path: f.Name(), Err: syscall.EIO}
	}
	return f.File.Sync()
}

// A snapshot whose files cannot be made durable is never put in place, and
// the error says which file.
func TestCreateFailsWhenFilesCannotBeSynced(t *testing.T) {
	r := testutil.Root(t)
	cfg := testutil.Config(r)
	cfg.FS = syncFailFs{afero.NewMemMapFs()}
	m, err := backup.Create(context.Background(), cfg, backup.CreateOptions{IncludeChroma: true})
	if err == nil || !strings.Contains(err.Error(), ".bin") || !errors.Is(err, syscall.EIO) {
		t.Fatalf("Create = %+v, %v; want an EIO naming a segment file", m, err)
	}
	entries, _ := afero.ReadDir(cfg.FS, r.BackupDir)
	for _, e := range entries {
		if e.Name() != "snapshots" && e.Name() != ".lock" {
			t.Errorf("left behind %s", e.Name())
		}
	}
	if snaps, _ := backup.List(context.Background(), cfg); len(snaps) != 0 {
		t.Fatalf("List = %+v after a failed sync", snaps)
	}
}
