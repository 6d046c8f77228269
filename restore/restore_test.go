package restore_test

import (
	"context"
	"database/sql"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spf13/afero"
	_ "modernc.org/sqlite"

	"github.com/atocore/atocore-backup/backup"
	"github.com/atocore/atocore-backup/internal/durable"
	"github.com/atocore/atocore-backup/internal/sample"
	"github.com/atocore/atocore-backup/internal/snapshot"
	"github.com/atocore/atocore-backup/internal/testutil"
	"github.com/atocore/atocore-backup/restore"
)

var confirmed = restore.Options{ConfirmServiceStopped: true}

func marker(t *testing.T, r *sample.Root) {
	t.Helper()
	if _, err := sample.InsertMemory(context.Background(), r.DBPath, sample.Memory{Type: "episodic", Content: "DRILL-MARKER", Project: "drill", Confidence: 1}); err != nil {
		t.Fatal(err)
	}
}

func drillCount(t *testing.T, dbPath string) int {
	t.Helper()
	n, err := sample.CountMemories(context.Background(), dbPath, "drill")
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// readOnlyCount counts drill memories in a snapshot's database without
// leaving sidecars in the snapshot.
func readOnlyCount(t *testing.T, dbPath string) int {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+dbPath+"?mode=ro&immutable=1")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow("SELECT count(*) FROM memories WHERE project = 'drill'").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func inode(t *testing.T, p string) uint64 {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Ino
}

// The canonical drill in code: seed a baseline, snapshot, mutate, restore.
func TestDrillReversesMutationKeepsBaseline(t *testing.T) {
	r := testutil.Root(t)
	baseline := testutil.Fingerprint(t, r.DBPath)
	snap := testutil.Create(t, r, backup.CreateOptions{IncludeChroma: true})
	marker(t, r)
	chromaInode := inode(t, r.ChromaPath)
	if _, err := sample.ChangeChroma(context.Background(), r.ChromaPath, 0.5, 3); err != nil {
		t.Fatal(err)
	}

	res, err := restore.Run(context.Background(), testutil.Config(r), snap.Stamp, confirmed)
	if err != nil {
		t.Fatal(err)
	}
	if !res.DBRestored || !res.RegistryRestored || !res.ChromaRestored || !res.RestoredIntegrityOK || res.PreRestoreSnapshot == nil {
		t.Fatalf("result = %+v", res)
	}
	if drillCount(t, r.DBPath) != 0 {
		t.Fatal("the marker survived the restore")
	}
	if testutil.Fingerprint(t, r.DBPath) != baseline {
		t.Fatal("the baseline did not survive the restore")
	}
	pre := snapshot.Dir(r.BackupDir, *res.PreRestoreSnapshot)
	if readOnlyCount(t, filepath.Join(pre, "db", "atocore.db")) != 1 {
		t.Fatal("the pre-restore snapshot does not hold the mutation")
	}
	snaps, _ := backup.List(context.Background(), testutil.Config(r))
	if len(snaps) != 2 || snaps[1].Kind() != backup.KindPreRestore || !snaps[1].Metadata.IncludeChroma {
		t.Fatalf("snapshots after restore: %+v", snaps)
	}
	// Rule 5: the Chroma directory is the same directory, with the
	// snapshot's files in it and nothing else.
	if inode(t, r.ChromaPath) != chromaInode {
		t.Fatal("the Chroma directory was replaced (its inode changed)")
	}
	assertSameTree(t, filepath.Join(snap.BackupRoot, "chroma"), r.ChromaPath)
	// Rule 4: no stale sidecars.
	for _, s := range []string{"-wal", "-shm", "-journal"} {
		if _, err := os.Stat(r.DBPath + s); err == nil {
			t.Errorf("%s survived the restore", s)
		}
	}
	// The restored database is back in the journal mode the service used.
	if mode := journalMode(t, r.DBPath); mode != "wal" {
		t.Fatalf("restored journal mode = %s, want wal", mode)
	}
	// Rolling back to the pre-restore snapshot brings the marker back.
	if _, err := restore.Run(context.Background(), testutil.Config(r), *res.PreRestoreSnapshot,
		restore.Options{ConfirmServiceStopped: true, NoPreSnapshot: true}); err != nil {
		t.Fatal(err)
	}
	if drillCount(t, r.DBPath) != 1 {
		t.Fatal("rolling back did not bring the marker back")
	}
}

func journalMode(t *testing.T, p string) string {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if data[18] == 2 {
		return "wal"
	}
	return "delete"
}

func assertSameTree(t *testing.T, want, got string) {
	t.Helper()
	files := func(root string) map[string]string {
		m := map[string]string{}
		_ = filepath.Walk(root, func(p string, info fs.FileInfo, err error) error {
			if err == nil && !info.IsDir() {
				rel, _ := filepath.Rel(root, p)
				data, _ := os.ReadFile(p)
				m[rel] = string(data)
			}
			return nil
		})
		return m
	}
	w, g := files(want), files(got)
	if len(w) != len(g) {
		t.Fatalf("restored Chroma has %d files, snapshot %d", len(g), len(w))
	}
	for k, v := range w {
		if g[k] != v {
			t.Fatalf("restored Chroma file %s differs from the snapshot", k)
		}
	}
}

// A stale WAL left by a killed process must not be replayed onto the
// restored file.
func TestStaleWALIsNotReplayed(t *testing.T) {
	r := testutil.Root(t)
	snap := testutil.Create(t, r, backup.CreateOptions{})
	// A process writes the marker and dies without checkpointing: keep a
	// copy of its -wal and -shm and put them back after it "died".
	db, err := sql.Open("sqlite", "file:"+r.DBPath+"?_pragma=journal_mode(wal)&_pragma=wal_autocheckpoint(0)")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("INSERT INTO memories(id, memory_type, content, project, confidence) VALUES ('stale','episodic','STALE','drill',1)"); err != nil {
		t.Fatal(err)
	}
	wal, _ := os.ReadFile(r.DBPath + "-wal")
	shm, _ := os.ReadFile(r.DBPath + "-shm")
	db.Close()
	if len(wal) == 0 {
		t.Fatal("no WAL to leave behind")
	}
	_ = os.WriteFile(r.DBPath+"-wal", wal, 0o600)
	_ = os.WriteFile(r.DBPath+"-shm", shm, 0o600)

	if _, err := restore.Run(context.Background(), testutil.Config(r), snap.Stamp, restore.Options{ConfirmServiceStopped: true, NoPreSnapshot: true}); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"-wal", "-shm"} {
		if _, err := os.Stat(r.DBPath + s); err == nil {
			t.Fatalf("%s survived the restore", s)
		}
	}
	if n := drillCount(t, r.DBPath); n != 0 {
		t.Fatalf("the stale WAL was replayed: %d drill rows", n)
	}
}

func snapshotState(t *testing.T, r *sample.Root) map[string]string {
	t.Helper()
	state := map[string]string{}
	for _, root := range []string{r.DBPath, r.RegistryPath, r.ChromaPath, r.BackupDir} {
		_ = filepath.Walk(root, func(p string, info fs.FileInfo, err error) error {
			if err == nil && !info.IsDir() && filepath.Base(p) != ".lock" {
				data, _ := os.ReadFile(p)
				state[p] = info.ModTime().String() + string(data)
			}
			return nil
		})
	}
	return state
}

func assertUnchanged(t *testing.T, r *sample.Root, before map[string]string) {
	t.Helper()
	after := snapshotState(t, r)
	if len(after) != len(before) {
		t.Fatalf("files: %d before, %d after", len(before), len(after))
	}
	for p, v := range before {
		if after[p] != v {
			t.Fatalf("%s changed", p)
		}
	}
}

func TestRefusalsTouchNothing(t *testing.T) {
	r := testutil.Root(t)
	snap := testutil.Create(t, r, backup.CreateOptions{})
	noChroma := snap.Stamp
	marker(t, r)
	before := snapshotState(t, r)
	cfg := testutil.Config(r)

	if _, err := restore.Run(context.Background(), cfg, snap.Stamp, restore.Options{}); !errors.Is(err, restore.ErrServiceNotStopped) {
		t.Fatalf("unconfirmed: %v", err)
	}
	assertUnchanged(t, r, before)

	for _, s := range []string{"../x", "20260407T060000Z/..", ""} {
		if _, err := restore.Run(context.Background(), cfg, s, confirmed); !errors.Is(err, snapshot.ErrBadStamp) {
			t.Fatalf("stamp %q: %v", s, err)
		}
	}
	var nf *backup.NotFoundError
	if _, err := restore.Run(context.Background(), cfg, "20200101T000000Z", confirmed); !errors.As(err, &nf) || nf.What != backup.WhatSnapshot {
		t.Fatalf("unknown stamp: %v", err)
	}
	if _, err := restore.Run(context.Background(), cfg, noChroma, restore.Options{ConfirmServiceStopped: true, Chroma: restore.ChromaForce}); err == nil || !strings.Contains(err.Error(), "no Chroma copy") {
		t.Fatalf("forced Chroma from a snapshot without it: %v", err)
	}
	assertUnchanged(t, r, before)

	// An invalid snapshot is refused and says why.
	testutil.Corrupt(t, filepath.Join(snap.BackupRoot, "db", "atocore.db"), 4096, 16)
	before = snapshotState(t, r)
	_, err := restore.Run(context.Background(), cfg, snap.Stamp, confirmed)
	if err == nil || !strings.Contains(err.Error(), "manifest_mismatch: db/atocore.db") || !strings.Contains(err.Error(), "nothing was changed") {
		t.Fatalf("invalid snapshot: %v", err)
	}
	assertUnchanged(t, r, before)
}

// On a fresh machine there is no live state to protect.
func TestRestoreOntoEmptyMachine(t *testing.T) {
	r := testutil.Root(t)
	snap := testutil.Create(t, r, backup.CreateOptions{IncludeChroma: true})
	baseline := testutil.Fingerprint(t, r.DBPath)
	for _, p := range []string{filepath.Join(r.Dir, "data"), filepath.Join(r.Dir, "config")} {
		if err := os.RemoveAll(p); err != nil {
			t.Fatal(err)
		}
	}
	res, err := restore.Run(context.Background(), testutil.Config(r), snap.Stamp, confirmed)
	if err != nil {
		t.Fatal(err)
	}
	if res.PreRestoreSnapshot != nil || !res.DBRestored || !res.ChromaRestored || !res.RegistryRestored {
		t.Fatalf("result = %+v", res)
	}
	if testutil.Fingerprint(t, r.DBPath) != baseline {
		t.Fatal("restored content differs")
	}
}

func TestNoChromaLeavesChromaAlone(t *testing.T) {
	r := testutil.Root(t)
	snap := testutil.Create(t, r, backup.CreateOptions{IncludeChroma: true})
	if _, err := sample.ChangeChroma(context.Background(), r.ChromaPath, 0.5, 9); err != nil {
		t.Fatal(err)
	}
	extra := filepath.Join(r.ChromaPath, "note.txt")
	_ = os.WriteFile(extra, []byte("keep me"), 0o600)
	res, err := restore.Run(context.Background(), testutil.Config(r), snap.Stamp, restore.Options{ConfirmServiceStopped: true, Chroma: restore.ChromaSkip})
	if err != nil {
		t.Fatal(err)
	}
	if res.ChromaRestored {
		t.Fatal("Chroma restored despite ChromaSkip")
	}
	if _, err := os.Stat(extra); err != nil {
		t.Fatal("the live Chroma directory was touched")
	}
	// And the pre-restore snapshot did not copy Chroma it was not going to replace.
	snaps, _ := backup.List(context.Background(), testutil.Config(r))
	if snaps[len(snaps)-1].Metadata.IncludeChroma {
		t.Fatal("pre-restore snapshot included Chroma although Chroma was not restored")
	}
}

// Restored files keep the owner and mode the live files had.
func TestOwnerAndModeKept(t *testing.T) {
	r := testutil.Root(t)
	snap := testutil.Create(t, r, backup.CreateOptions{IncludeChroma: true})
	if err := os.Chmod(r.DBPath, 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(r.RegistryPath, 0o644); err != nil {
		t.Fatal(err)
	}
	uid, gid := os.Getuid(), os.Getgid()
	if os.Geteuid() == 0 {
		uid, gid = 1000, 1000 // the service user
		for _, p := range []string{r.DBPath, r.RegistryPath, r.ChromaPath} {
			if err := os.Chown(p, uid, gid); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := restore.Run(context.Background(), testutil.Config(r), snap.Stamp, restore.Options{ConfirmServiceStopped: true, NoPreSnapshot: true}); err != nil {
		t.Fatal(err)
	}
	check := func(p string, mode fs.FileMode) {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		st := fi.Sys().(*syscall.Stat_t)
		if fi.Mode().Perm() != mode || int(st.Uid) != uid || int(st.Gid) != gid {
			t.Errorf("%s: mode %v uid %d gid %d; want %v %d %d", p, fi.Mode().Perm(), st.Uid, st.Gid, mode, uid, gid)
		}
	}
	check(r.DBPath, 0o640)
	check(r.RegistryPath, 0o644)
	_ = filepath.Walk(r.ChromaPath, func(p string, info fs.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			st := info.Sys().(*syscall.Stat_t)
			if int(st.Uid) != uid {
				t.Errorf("restored Chroma file %s owned by %d, want %d", p, st.Uid, uid)
			}
		}
		return nil
	})
}

// A snapshot taken from other live paths restores, with a warning.
func TestWarnsAboutAnotherDeployment(t *testing.T) {
	a := testutil.Root(t)
	snap := testutil.Create(t, a, backup.CreateOptions{})
	b := testutil.Root(t)
	cfg := testutil.Config(b)
	cfg.BackupDir = a.BackupDir
	res, err := restore.Run(context.Background(), cfg, snap.Stamp, confirmed)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Warnings) == 0 || !strings.HasPrefix(res.Warnings[0], "source_paths_differ") || !strings.Contains(res.Warnings[0], a.DBPath) {
		t.Fatalf("warnings = %q", res.Warnings)
	}
}

func TestPythonSnapshotRestores(t *testing.T) {
	r := testutil.Root(t)
	baseline := testutil.Fingerprint(t, r.DBPath)
	testutil.PythonSnapshot(t, r, "20260407T060000Z", true)
	marker(t, r)
	res, err := restore.Run(context.Background(), testutil.Config(r), "20260407T060000Z", confirmed)
	if err != nil {
		t.Fatal(err)
	}
	if !res.ChromaRestored || !res.RestoredIntegrityOK || len(res.Warnings) == 0 || !strings.HasPrefix(res.Warnings[0], "manifest_missing") {
		t.Fatalf("result = %+v", res)
	}
	if testutil.Fingerprint(t, r.DBPath) != baseline {
		t.Fatal("python snapshot restored the wrong content")
	}
}

func TestRestoreIsBusyWhileCreateRuns(t *testing.T) {
	r := testutil.Root(t)
	snap := testutil.Create(t, r, backup.CreateOptions{})
	l, err := backup.LockDir(context.Background(), testutil.Config(r), "create", backup.Wait{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	before := snapshotState(t, r)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := restore.Run(ctx, testutil.Config(r), snap.Stamp, confirmed); !errors.Is(err, backup.ErrBusy) {
		t.Fatalf("err = %v, want ErrBusy", err)
	}
	assertUnchanged(t, r, before)
}

// A snapshot without a manifest gets every check before the restore,
// integrity_check included.
func TestDamagedPythonSnapshotIsRefused(t *testing.T) {
	r := testutil.Root(t)
	dir := testutil.PythonSnapshot(t, r, "20260407T060000Z", false)
	testutil.Corrupt(t, filepath.Join(dir, "db", "atocore.db"), 4096, 16)
	before := snapshotState(t, r)
	_, err := restore.Run(context.Background(), testutil.Config(r), "20260407T060000Z", confirmed)
	if err == nil || !strings.Contains(err.Error(), "db_integrity_check_failed") {
		t.Fatalf("err = %v", err)
	}
	assertUnchanged(t, r, before)
}

// A snapshot whose database was damaged and whose manifest was rewritten
// to match (so only integrity_check can tell) is refused while staged,
// before anything live changes, with the validation code that says why.
func TestDamagedDatabaseWithMatchingManifestIsRefused(t *testing.T) {
	r := testutil.Root(t)
	snap := testutil.Create(t, r, backup.CreateOptions{})
	dbFile := filepath.Join(snap.BackupRoot, "db", "atocore.db")
	testutil.Corrupt(t, dbFile, 4096, 16)
	d, err := durable.HashFile(context.Background(), afero.NewOsFs(), dbFile)
	if err != nil {
		t.Fatal(err)
	}
	testutil.EditManifest(t, snap.BackupRoot, func(f *snapshot.File) {
		if f.Path == snapshot.DBFile {
			f.SHA256, f.Size = d.SHA256, d.Size
		}
	})
	marker(t, r)
	before := snapshotState(t, r)
	_, err = restore.Run(context.Background(), testutil.Config(r), snap.Stamp, confirmed)
	if err == nil || !strings.Contains(err.Error(), "db_integrity_check_failed") || !strings.Contains(err.Error(), "nothing was changed") {
		t.Fatalf("err = %v", err)
	}
	assertUnchanged(t, r, before)
}

// A Chroma file of the snapshot that changed after validation (same size)
// is found while the files are staged, several at a time: the restore is
// refused, the live state is unchanged and no staged file is left.
func TestRestoreRefusesAChromaFileChangedAfterValidation(t *testing.T) {
	r := testutil.Root(t)
	snap := testutil.Create(t, r, backup.CreateOptions{IncludeChroma: true})
	var victim string
	_ = filepath.WalkDir(filepath.Join(snap.BackupRoot, "chroma"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Name() == "length.bin" && victim == "" {
			victim = p
		}
		return nil
	})
	if victim == "" {
		t.Fatal("the sample snapshot has no length.bin")
	}
	testutil.Corrupt(t, victim, 0, 4)
	before := snapshotState(t, r)
	_, err := restore.Run(context.Background(), testutil.Config(r), snap.Stamp, confirmed)
	if err == nil || !strings.Contains(err.Error(), "manifest_mismatch: chroma/") {
		t.Fatalf("restore of a snapshot whose Chroma file changed: %v", err)
	}
	assertUnchanged(t, r, before)
	if _, err := os.Stat(filepath.Join(r.ChromaPath, snapshot.ChromaRestoreStaging)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("staging directory left behind: %v", err)
	}
}
