package offsite

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/spf13/afero"

	"github.com/atocore/atocore-backup/backup"
	"github.com/atocore/atocore-backup/encrypt"
	"github.com/atocore/atocore-backup/internal/durable"
	"github.com/atocore/atocore-backup/internal/sample"
	"github.com/atocore/atocore-backup/internal/snapshot"
	"github.com/atocore/atocore-backup/internal/testutil"
	"github.com/atocore/atocore-backup/restore"
	"github.com/atocore/atocore-backup/validate"
)

// osRemote is a target directory on the local disk, with hardlinks.
func osRemote(t *testing.T) Remote {
	dir := t.TempDir()
	return Remote{FS: afero.NewOsFs(), Root: dir, URL: "file://" + dir}
}

func keys(t *testing.T) (*encrypt.Recipients, *encrypt.Identities) {
	t.Helper()
	id, rcpt, err := encrypt.GenerateX25519()
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "key.txt")
	if err := os.WriteFile(p, []byte(id+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ids, err := encrypt.IdentitiesFromFile(p)
	if err != nil {
		t.Fatal(err)
	}
	rs, err := encrypt.ParseRecipients(rcpt)
	if err != nil {
		t.Fatal(err)
	}
	return rs, ids
}

func TestPushPullPlaintextRoundTrip(t *testing.T) {
	for name, remote := range map[string]Remote{"os": osRemote(t), "mem": {FS: afero.NewMemMapFs(), Root: "/offsite", URL: "mem://"}} {
		t.Run(name, func(t *testing.T) {
			r := testutil.Root(t)
			m := testutil.Create(t, r, backup.CreateOptions{IncludeChroma: true})
			key, trust := signer(t)
			res, err := pushRemote(context.Background(), testutil.Config(r), remote, PushOptions{Signer: key})
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Pushed) != 1 || res.Pushed[0].Stamp != m.Stamp || res.BytesSent == 0 {
				t.Fatalf("push = %+v", res)
			}
			again, err := pushRemote(context.Background(), testutil.Config(r), remote, PushOptions{Signer: key})
			if err != nil || len(again.Pushed) != 0 || len(again.Present) != 1 {
				t.Fatalf("second push = %+v, %v", again, err)
			}
			v, err := validateRemote(context.Background(), remote, m.Stamp, Opening{Trust: trust})
			if err != nil || !v.Valid || len(v.Warnings) != 0 {
				t.Fatalf("remote validate = %+v, %v", v, err)
			}
			// Disaster recovery: an empty machine pulls and restores.
			fresh := t.TempDir()
			cfg := backup.Config{Paths: backup.Paths{Root: fresh}}
			if _, err := pullRemote(context.Background(), cfg, remote, m.Stamp, Opening{Trust: trust}); err != nil {
				t.Fatal(err)
			}
			if _, err := restore.Run(context.Background(), cfg, m.Stamp, restore.Options{ConfirmServiceStopped: true}); err != nil {
				t.Fatal(err)
			}
			if testutil.Fingerprint(t, filepath.Join(fresh, "data", "db", "atocore.db")) != testutil.Fingerprint(t, r.DBPath) {
				t.Fatal("restored content differs")
			}
		})
	}
}

// Every byte sent to an encrypted target is scanned for plaintext from the
// database: a backup tool once shipped an upgrade that uploaded plaintext
// while encryption was configured.
func TestEncryptedTargetNeverSeesPlaintext(t *testing.T) {
	r := testutil.Root(t)
	const marker = "PLAINTEXT-CANARY-7f3a9c"
	if _, err := sample.InsertMemory(context.Background(), r.DBPath, sample.Memory{Type: "episodic", Content: marker, Project: "canary"}); err != nil {
		t.Fatal(err)
	}
	m := testutil.Create(t, r, backup.CreateOptions{IncludeChroma: true})
	rs, ids := keys(t)
	key, trust := signer(t)
	remote := osRemote(t)
	if _, err := pushRemote(context.Background(), testutil.Config(r), remote, PushOptions{Sealing: Sealing{Recipients: rs}, Signer: key}); err != nil {
		t.Fatal(err)
	}
	plainDB, _ := os.ReadFile(filepath.Join(m.BackupRoot, "db", "atocore.db"))
	if !bytes.Contains(plainDB, []byte(marker)) {
		t.Fatal("the canary is not in the local snapshot: the scan would prove nothing")
	}
	needles := [][]byte{[]byte(marker), []byte("SQLite format 3"), []byte("p05-interferometer"), plainDB[4096 : 4096+64]}
	files := 0
	_ = filepath.Walk(remote.Root, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		files++
		data, _ := os.ReadFile(p)
		name := filepath.Base(p)
		if name != RemoteManifestFile && name != TargetIDFile && !isStatementFile(name) && !strings.HasSuffix(name, ".age") {
			t.Errorf("non-encrypted file on the target: %s", p)
		}
		for _, n := range needles {
			if bytes.Contains(data, n) {
				t.Errorf("%s holds plaintext %.20q", p, n)
			}
		}
		return nil
	})
	if files < 5 {
		t.Fatalf("only %d files on the target", files)
	}
	// Integrity without the key; full validation with it.
	v, err := validateRemote(context.Background(), remote, m.Stamp, Opening{Trust: trust})
	if err != nil || !v.Valid || len(v.Warnings) == 0 {
		t.Fatalf("validate without identity = %+v, %v", v, err)
	}
	v, err = validateRemote(context.Background(), remote, m.Stamp, Opening{Identities: ids, Trust: trust})
	if err != nil || !v.Valid || len(v.Warnings) != 0 {
		t.Fatalf("validate with identity = %+v, %v", v, err)
	}
	list, err := listRemote(context.Background(), remote, Trust{})
	if err != nil || len(list) != 1 || !list[0].Encrypted || list[0].Kind != "manual" {
		t.Fatalf("list = %+v, %v", list, err)
	}
}

func TestPullRefusesCorruptionAndWrongIdentity(t *testing.T) {
	r := testutil.Root(t)
	m := testutil.Create(t, r, backup.CreateOptions{IncludeChroma: true})
	rs, ids := keys(t)
	_, otherIDs := keys(t)
	remote := osRemote(t)
	if _, err := pushRemote(context.Background(), testutil.Config(r), remote, PushOptions{Sealing: Sealing{Recipients: rs}}); err != nil {
		t.Fatal(err)
	}
	fresh := backup.Config{Paths: backup.Paths{Root: t.TempDir()}}
	if _, err := pullRemote(context.Background(), fresh, remote, m.Stamp, Opening{Identities: otherIDs, Trust: allowUnsigned}); !errors.Is(err, encrypt.ErrWrongIdentity) {
		t.Fatalf("wrong identity: %v", err)
	}
	if _, err := pullRemote(context.Background(), fresh, remote, m.Stamp, Opening{Trust: allowUnsigned}); !errors.Is(err, ErrNeedIdentity) || strings.Contains(err.Error(), "--") {
		t.Fatalf("no identity: %v", err)
	}
	// Flip one byte of the remote database copy.
	testutil.Corrupt(t, filepath.Join(snapshot.Dir(remote.Root, m.Stamp), "db", "atocore.db.age"), 5000, 1)
	v, _ := validateRemote(context.Background(), remote, m.Stamp, Opening{})
	if v.Valid || !v.Has(validate.CodeManifestMismatch) {
		t.Fatalf("corrupted remote validates: %+v", v)
	}
	if _, err := pullRemote(context.Background(), fresh, remote, m.Stamp, Opening{Identities: ids, Trust: allowUnsigned}); err == nil {
		t.Fatal("pull accepted a corrupted remote file")
	}
	snaps, _ := backup.List(context.Background(), fresh)
	if len(snaps) != 0 {
		t.Fatal("a refused pull left a snapshot")
	}
	entries, _ := os.ReadDir(fresh.Paths.Root + "/backups")
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".staging") {
			t.Fatal("a refused pull left its staging directory")
		}
	}
}

// failingFs fails writes after a byte budget, like a dropped connection or
// a full disk; with ready set, only once ready also returns true.
type failingFs struct {
	afero.Fs
	budget *atomic.Int64 // uploads run two at a time
	err    error
	ready  func() bool
}

func (f failingFs) OpenFile(name string, flag int, perm os.FileMode) (afero.File, error) {
	file, err := f.Fs.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return failingFile{File: file, fs: f}, nil
}
func (f failingFs) Create(name string) (afero.File, error) {
	return f.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o666)
}

type failingFile struct {
	afero.File
	fs failingFs
}

func (f failingFile) Write(p []byte) (int, error) {
	if f.fs.budget.Add(-int64(len(p))) < 0 && (f.fs.ready == nil || f.fs.ready()) {
		return 0, f.fs.err
	}
	return f.File.Write(p)
}

// An interrupted push resumes without re-sending finished files and never
// leaves a partial snapshot under a valid stamp. An incoming directory of
// the name earlier versions used (.incoming-STAMP, no holder id) is
// resumed as well.
func TestInterruptedPushResumes(t *testing.T) {
	for _, legacy := range []bool{false, true} {
		t.Run(map[bool]string{false: "own", true: "legacy"}[legacy], func(t *testing.T) { interruptedPushResumes(t, legacy) })
	}
}

// ownIncomingOf is the incoming directory of stamp that a push from cfg's
// backup directory uploads into.
func ownIncomingOf(t *testing.T, remote Remote, cfg backup.Config, stamp string) string {
	t.Helper()
	cfg, err := cfg.Resolved()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(remote.Root, incomingName(stamp, claimHolder(cfg.BackupDir)))
}

func interruptedPushResumes(t *testing.T, legacy bool) {
	r, err := sample.Generate(context.Background(), t.TempDir(), sample.Options{Seed: 5, ChromaBytes: 6 << 20, Segments: 3})
	if err != nil {
		t.Fatal(err)
	}
	m := testutil.Create(t, r, backup.CreateOptions{IncludeChroma: true})
	base := osRemote(t)
	own := ownIncomingOf(t, base, testutil.Config(r), m.Stamp)
	var budget atomic.Int64
	// Fill the disk three quarters in, once the journal lists a finished
	// file (files are synced and journaled beside the uploads, a little
	// behind them).
	budget.Store((m.DBSizeBytes + m.ChromaBytes) * 3 / 4)
	journalPath := filepath.Join(own, journalFile)
	ready := func() bool {
		var jr journal
		data, err := os.ReadFile(journalPath)
		return err == nil && json.Unmarshal(data, &jr) == nil && len(jr.Files) > 0
	}
	broken := Remote{FS: failingFs{Fs: base.FS, budget: &budget, err: syscall.ENOSPC, ready: ready}, Root: base.Root, URL: base.URL}
	_, err = pushRemote(context.Background(), testutil.Config(r), broken, PushOptions{})
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("push onto a full disk: %v", err)
	}
	if list, _ := listRemote(context.Background(), base, Trust{}); len(list) != 0 {
		t.Fatal("a failed push left a snapshot under a valid stamp")
	}
	if legacy {
		if err := os.Rename(own, filepath.Join(base.Root, IncomingPrefix+m.Stamp)); err != nil {
			t.Fatal(err)
		}
	}
	res, err := pushRemote(context.Background(), testutil.Config(r), base, PushOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Pushed[0].Resumed == 0 || res.Pushed[0].Resumed+res.Pushed[0].Sent != res.Pushed[0].Files {
		t.Fatalf("resumed push = %+v", res.Pushed[0])
	}
	v, _ := validateRemote(context.Background(), base, m.Stamp, Opening{})
	if !v.Valid {
		t.Fatal(v.Errors)
	}
	if left, _ := filepath.Glob(filepath.Join(base.Root, IncomingPrefix+m.Stamp+"*")); len(left) != 0 {
		t.Fatalf("a complete push left %v", left)
	}
}

// Files unchanged since the previous pushed snapshot are linked on the
// target, not sent again; with encryption too.
func TestSecondPushSendsOnlyChanges(t *testing.T) {
	for _, encrypted := range []bool{false, true} {
		t.Run(map[bool]string{false: "plaintext", true: "encrypted"}[encrypted], func(t *testing.T) {
			r, err := sample.Generate(context.Background(), t.TempDir(), sample.Options{Seed: 9, ChromaBytes: 8 << 20, Segments: 4})
			if err != nil {
				t.Fatal(err)
			}
			var seal Sealing
			var open Opening
			if encrypted {
				rs, ids := keys(t)
				seal, open = Sealing{Recipients: rs}, Opening{Identities: ids}
			}
			remote := osRemote(t)
			testutil.Create(t, r, backup.CreateOptions{IncludeChroma: true})
			first, err := pushRemote(context.Background(), testutil.Config(r), remote, PushOptions{Sealing: seal})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := sample.ChangeChroma(context.Background(), r.ChromaPath, 0.25, 4); err != nil {
				t.Fatal(err)
			}
			time.Sleep(1100 * time.Millisecond)
			m2 := testutil.Create(t, r, backup.CreateOptions{IncludeChroma: true})
			second, err := pushRemote(context.Background(), testutil.Config(r), remote, PushOptions{Sealing: seal})
			if err != nil {
				t.Fatal(err)
			}
			p := second.Pushed[0]
			if p.Linked == 0 || float64(second.BytesSent) > 0.5*float64(first.BytesSent) {
				t.Fatalf("second push linked %d, sent %d bytes (first sent %d)", p.Linked, second.BytesSent, first.BytesSent)
			}
			v, err := validateRemote(context.Background(), remote, m2.Stamp, open)
			if err != nil || !v.Valid {
				t.Fatalf("second remote snapshot: %+v, %v", v, err)
			}
		})
	}
}

func TestRemotePrune(t *testing.T) {
	r := testutil.Root(t)
	cfg := testutil.Config(r)
	rs, _ := keys(t)
	remote := osRemote(t)
	for i := range 3 {
		at := time.Date(2026, 4, 1+i, 6, 0, 0, 0, time.UTC)
		c := cfg
		c.Now = func() time.Time { return at }
		if _, err := backup.Create(context.Background(), c, backup.CreateOptions{Kind: backup.KindScheduled}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := pushRemote(context.Background(), cfg, remote, PushOptions{Sealing: Sealing{Recipients: rs}}); err != nil {
		t.Fatal(err)
	}
	res, err := pruneRemote(context.Background(), remote, backup.PruneOptions{Policy: backup.Policy{KeepDaily: 2}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Kept) != 2 || len(res.Removed) != 1 || len(res.Invalid) != 0 {
		t.Fatalf("remote prune = %+v", res)
	}
	list, _ := listRemote(context.Background(), remote, Trust{})
	if len(list) != 2 {
		t.Fatalf("left %d remote snapshots", len(list))
	}
}

// A local snapshot whose bytes no longer match its manifest is never pushed.
func TestDamagedLocalSnapshotIsNotPushed(t *testing.T) {
	r := testutil.Root(t)
	m := testutil.Create(t, r, backup.CreateOptions{IncludeChroma: true})
	testutil.Corrupt(t, filepath.Join(m.BackupRoot, "db", "atocore.db"), 4096, 16)
	remote := osRemote(t)
	_, err := pushRemote(context.Background(), testutil.Config(r), remote, PushOptions{})
	if err == nil || !strings.Contains(err.Error(), "does not match its manifest") {
		t.Fatalf("push of a damaged snapshot: %v", err)
	}
	if list, _ := listRemote(context.Background(), remote, Trust{}); len(list) != 0 {
		t.Fatal("a damaged snapshot appeared on the target")
	}
}

// A snapshot the target's retention removed is not pushed again.
func TestPrunedOnTargetIsNotPushedAgain(t *testing.T) {
	r := testutil.Root(t)
	cfg := testutil.Config(r)
	for i := range 2 {
		at := time.Date(2026, 4, 1+i, 6, 0, 0, 0, time.UTC)
		c := cfg
		c.Now = func() time.Time { return at }
		if _, err := backup.Create(context.Background(), c, backup.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	remote := osRemote(t)
	if _, err := pushRemote(context.Background(), cfg, remote, PushOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := pruneRemote(context.Background(), remote, backup.PruneOptions{Policy: backup.Policy{}}); err != nil {
		t.Fatal(err)
	}
	res, err := pushRemote(context.Background(), cfg, remote, PushOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Pushed) != 0 || len(res.Pruned) != 1 || res.Pruned[0] != "20260401T060000Z" {
		t.Fatalf("push after a remote prune = %+v", res)
	}
}

// recordingFs notes the order in which upload files (".part", not the
// journal) are created, and fails Sync on names ending in failSync.
type recordingFs struct {
	afero.Fs
	failSync string

	mu       sync.Mutex
	created  []string
	journals int // journal writes
}

func (f *recordingFs) OpenFile(name string, flag int, perm os.FileMode) (afero.File, error) {
	file, err := f.Fs.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	if flag&os.O_CREATE != 0 && strings.HasSuffix(name, partSuffix) {
		f.mu.Lock()
		if strings.Contains(name, journalFile) {
			f.journals++
		} else {
			f.created = append(f.created, filepath.Base(strings.TrimSuffix(name, partSuffix)))
		}
		f.mu.Unlock()
	}
	return syncFailFile{File: file, fail: f.failSync != "" && strings.HasSuffix(name, f.failSync)}, nil
}

func (f *recordingFs) Open(name string) (afero.File, error) { return f.OpenFile(name, os.O_RDONLY, 0) }

// Link passes hardlinks through to the wrapped filesystem.
func (f *recordingFs) Link(oldname, newname string) error {
	return durable.Link(f.Fs, oldname, newname)
}

type syncFailFile struct {
	afero.File
	fail bool
}

func (f syncFailFile) Sync() error {
	if f.fail {
		return syscall.EIO
	}
	return f.File.Sync()
}

// Uploads start with the largest files: the two streams then end at about
// the same time instead of one sending the database alone at the end.
func TestPushSendsLargestFirst(t *testing.T) {
	r := testutil.Root(t)
	m := testutil.Create(t, r, backup.CreateOptions{IncludeChroma: true})
	base := osRemote(t)
	rec := &recordingFs{Fs: base.FS}
	if err := os.WriteFile(filepath.Join(base.Root, TargetIDFile), []byte(newTargetID()+"\n"), 0o600); err != nil {
		t.Fatal(err) // the first push's id, written before any snapshot
	}
	if _, err := pushRemote(context.Background(), testutil.Config(r), Remote{FS: rec, Root: base.Root, URL: base.URL}, PushOptions{}); err != nil {
		t.Fatal(err)
	}
	var sizes []int64
	data, err := os.ReadFile(filepath.Join(m.BackupRoot, snapshot.ManifestFile))
	if err != nil {
		t.Fatal(err)
	}
	man, err := snapshot.DecodeManifest(data)
	if err != nil {
		t.Fatal(err)
	}
	size := map[string]int64{}
	for _, f := range man.Files {
		size[path.Base(f.Path)] = max(size[path.Base(f.Path)], f.Size)
		sizes = append(sizes, f.Size)
	}
	slices.Sort(sizes)
	slices.Reverse(sizes)
	if len(rec.created) < 3 {
		t.Fatalf("uploads = %v", rec.created)
	}
	// Two streams: the third file is handed out only once a stream is done
	// with one of the first two, so the first file created is one of the
	// two largest whatever the scheduling.
	if name := rec.created[0]; size[name] < sizes[1] {
		t.Fatalf("upload order %v: %s (%d bytes) started before larger files %v", rec.created, name, size[name], sizes[:2])
	}
}

func TestLargestFirstOrder(t *testing.T) {
	files := []snapshot.File{{Path: "a", Size: 5}, {Path: "b", Size: 900}, {Path: "c", Size: 5}, {Path: "d", Size: 70}, {Path: "e", Size: 0}}
	idx := []int{0, 1, 2, 3, 4}
	largestFirst(files, idx)
	if want := []int{1, 3, 0, 2, 4}; !slices.Equal(idx, want) {
		t.Fatalf("order %v, want %v (largest first, ties in manifest order)", idx, want)
	}
}

// A file the target cannot sync fails the push before anything appears
// under a valid stamp, and is never put in place unsynced; the next push
// completes.
func TestPushSyncFailure(t *testing.T) {
	r := testutil.Root(t)
	m := testutil.Create(t, r, backup.CreateOptions{IncludeChroma: true})
	base := osRemote(t)
	bad := Remote{FS: &recordingFs{Fs: base.FS, failSync: "atocore.db" + partSuffix}, Root: base.Root, URL: base.URL}
	_, err := pushRemote(context.Background(), testutil.Config(r), bad, PushOptions{})
	if !errors.Is(err, syscall.EIO) || !strings.Contains(err.Error(), "atocore.db") {
		t.Fatalf("push onto a target that cannot sync: %v", err)
	}
	if list, _ := listRemote(context.Background(), base, Trust{}); len(list) != 0 {
		t.Fatal("a failed push left a snapshot under a valid stamp")
	}
	if _, err := os.Stat(filepath.Join(ownIncomingOf(t, base, testutil.Config(r), m.Stamp), "db", "atocore.db")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the unsynced database was put in place: %v", err)
	}
	if _, err := pushRemote(context.Background(), testutil.Config(r), base, PushOptions{}); err != nil {
		t.Fatal(err)
	}
	if v, _ := validateRemote(context.Background(), base, m.Stamp, Opening{}); !v.Valid {
		t.Fatal(v.Errors)
	}
}

// The journal is written once for all the files linked to the previous
// snapshot, not once per file: each write is a synced file on the target.
func TestLinkedFilesShareOneJournalWrite(t *testing.T) {
	r, err := sample.Generate(context.Background(), t.TempDir(), sample.Options{Seed: 4, ChromaBytes: 4 << 20, Segments: 6})
	if err != nil {
		t.Fatal(err)
	}
	base := osRemote(t)
	testutil.Create(t, r, backup.CreateOptions{IncludeChroma: true})
	if _, err := pushRemote(context.Background(), testutil.Config(r), base, PushOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := sample.ChangeChroma(context.Background(), r.ChromaPath, 0.1, 4); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond)
	testutil.Create(t, r, backup.CreateOptions{IncludeChroma: true})
	rec := &recordingFs{Fs: base.FS}
	res, err := pushRemote(context.Background(), testutil.Config(r), Remote{FS: rec, Root: base.Root, URL: base.URL}, PushOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p := res.Pushed[0]
	if p.Linked < 10 || p.Sent == 0 {
		t.Fatalf("second push = %+v", p)
	}
	// One write after the links, then one per batch of finished uploads
	// (at most one per upload).
	if rec.journals < 2 || rec.journals > 1+p.Sent {
		t.Fatalf("%d journal writes for %d linked and %d sent files", rec.journals, p.Linked, p.Sent)
	}
}
