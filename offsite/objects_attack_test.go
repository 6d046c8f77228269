package offsite

// Review of the object-storage engine (issue 18). Each test here fails on
// the code under review and shows one defect; see the comment above each.

import (
	"context"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/afero"

	"github.com/atocore/atocore-backup/backup"
	"github.com/atocore/atocore-backup/internal/snapshot"
	"github.com/atocore/atocore-backup/internal/testutil"
)

// A locked, encrypted push cut off after placeObjects locked the files and
// before the statement arrived (a network error on the statement, a HEAD
// of storedChecksums failing, Ctrl-C) must be finished by the next push.
// It is not: the next push rewrites remote-manifest.json (and key.age with
// a passphrase) over the locked objects and fails, and because push stops
// at the first failing stamp, no newer snapshot reaches the target either,
// for as long as the lock lasts.
func TestObjectStoreAttackLockedPushCutOffBeforeStatementResumes(t *testing.T) {
	ctx := context.Background()
	ofs := newObjectFs(time.Now)
	remote := Remote{FS: ofs, Root: "/bucket/atocore", URL: "s3://bucket/atocore"}
	r := testutil.Root(t)
	now := time.Now()
	first := createAt(t, r, now.Add(-48*time.Hour))
	key, _ := signer(t)
	rs, _ := keys(t)
	opts := PushOptions{Sealing: Sealing{Recipients: rs}, Signer: key, ObjectLock: ObjectLock{Days: 30}}
	ofs.failOn = StatementFile
	if _, err := pushRemote(ctx, testutil.Config(r), remote, opts); err == nil {
		t.Fatal("the push whose statement could not be written succeeded")
	}
	second := createAt(t, r, now.Add(-24*time.Hour))
	res, err := pushRemote(ctx, testutil.Config(r), remote, opts)
	if err != nil {
		t.Fatalf("the push after one cut off before its statement: %v (the target now takes no snapshot for 30 days)", err)
	}
	var got []string
	for _, p := range res.Pushed {
		got = append(got, p.Stamp)
	}
	if !slices.Equal(got, []string{first.Stamp, second.Stamp}) {
		t.Fatalf("pushed %v, want %s resumed and %s", got, first.Stamp, second.Stamp)
	}
}

// A repair on object storage sets the damaged copy aside, then uploads the
// new one straight into snapshots/STAMP. Cut off before its statement,
// the put-back (a rename onto snapshots/STAMP, which now exists) fails
// silently; the next push's putBackAside sees snapshots/STAMP, takes it for
// a finished replacement and deletes the copy set aside; survey ignores
// the statement-less directory, and decide calls the stamp pruned on the
// target (older than the newest kept): it is never sent again, and the
// next remote prune deletes the partial upload. The target loses a
// snapshot it held, and push reports "pruned_on_target".
func TestObjectStoreAttackObjectStoreRepairCutOffLosesSnapshot(t *testing.T) {
	ctx := context.Background()
	ofs := newObjectFs(time.Now)
	remote := Remote{FS: ofs, Root: "/bucket/atocore", URL: "s3://bucket/atocore"}
	r := testutil.Root(t)
	now := time.Now()
	older := createAt(t, r, now.Add(-48*time.Hour))
	newer := createAt(t, r, now.Add(-24*time.Hour))
	key, trust := signer(t)
	opts := PushOptions{Signer: key}
	if _, err := pushRemote(ctx, testutil.Config(r), remote, opts); err != nil {
		t.Fatal(err)
	}
	// The target damages one file of the older snapshot (a size change:
	// every push sees it and repairs).
	dir := snapshot.Dir(remote.Root, older.Stamp)
	st := readSigned(ofs, dir, older.Stamp, trust.Signers).st
	victim := filepath.Join(dir, filepath.FromSlash(st.Files[0].Path))
	if err := afero.WriteFile(ofs.Fs, victim, []byte("short"), 0o600); err != nil {
		t.Fatal(err)
	}
	// The repair is cut off as it writes the statement.
	ofs.failOn = StatementFile
	if _, err := pushRemote(ctx, testutil.Config(r), remote, opts); err == nil {
		t.Fatal("the repair whose statement could not be written succeeded")
	}
	res, err := pushRemote(ctx, testutil.Config(r), remote, opts)
	if err != nil {
		t.Fatalf("the push after the cut-off repair: %v", err)
	}
	list, err := listRemote(ctx, remote, trust)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(list, func(s RemoteSnapshot) bool { return s.Stamp == older.Stamp }) {
		t.Fatalf("%s is gone from the target after a cut-off repair (pruned_on_target %v, pushed %+v); the copy set aside was deleted",
			older.Stamp, res.Pruned, res.Pushed)
	}
	_ = newer
}

// hookFs is objectFs whose listing of the root runs a hook once it has
// been read: what another host does at that moment.
type hookFs struct {
	*objectFs
	root       string
	onRootList func()
}

func (h *hookFs) Open(name string) (afero.File, error) {
	f, err := h.objectFs.Open(name)
	if err == nil && filepath.Clean(name) == h.root {
		return &hookDir{File: f, h: h}, nil
	}
	return f, err
}

type hookDir struct {
	afero.File
	h *hookFs
}

func (d *hookDir) Readdir(n int) ([]fs.FileInfo, error) {
	out, err := d.File.Readdir(n)
	if fn := d.h.onRootList; fn != nil {
		d.h.onRootList = nil
		fn()
	}
	return out, err
}

// remote prune's removeAbandoned reads the claims (the root listing)
// before it lists snapshots/ and deletes every statement-less directory
// whose stamp was not claimed in that older listing. A push that another
// host starts in between (claim, then its first files) is deleted under
// its claim.
func TestObjectStoreAttackPruneDeletesUploadClaimedAfterItsRootListing(t *testing.T) {
	ctx := context.Background()
	ofs := newObjectFs(time.Now)
	h := &hookFs{objectFs: ofs, root: "/bucket/atocore"}
	remote := Remote{FS: h, Root: "/bucket/atocore", URL: "s3://bucket/atocore"}
	r := testutil.Root(t)
	now := time.Now()
	createAt(t, r, now.Add(-48*time.Hour))
	key, _ := signer(t)
	if _, err := pushRemote(ctx, testutil.Config(r), remote, PushOptions{Signer: key}); err != nil {
		t.Fatal(err)
	}
	other := now.Add(-time.Hour).UTC().Format("2006-01-02T15-04-05Z")
	if _, err := snapshot.ParseStamp(other); err != nil {
		other = createAt(t, testutil.Root(t), now.Add(-time.Hour)).Stamp
	}
	upload := filepath.Join(snapshot.Dir(remote.Root, other), "db")
	h.onRootList = func() {
		// Host B starts pushing: its claim first, then its files.
		if _, err := claim(h, remote.Root, other, "hostB:/srv/backup"); err != nil {
			t.Errorf("host B's claim: %v", err)
			return
		}
		if err := h.MkdirAll(filepath.Dir(upload), 0o700); err != nil {
			t.Error(err)
		}
		if err := afero.WriteFile(h, upload, []byte("host B's bytes"), 0o600); err != nil {
			t.Error(err)
		}
	}
	removeAbandoned(remote) // what remote prune runs after its plan
	if _, err := h.Stat(upload); err != nil {
		t.Fatalf("prune deleted host B's upload of %s, claimed by then: %v", other, err)
	}
}

// The composite checksum of a file copied on the server (an unchanged file
// above one part) is recorded in the signed statement at the server's word
// (storedChecksums: own is empty for it), never compared with anything
// this host computed. A source damaged on the target without a change of
// size is copied, its damaged composite signed, and remote validate
// --quick then passes on the new snapshot while its bytes differ from the
// statement's SHA-256.
func TestObjectStoreAttackQuickValidatePassesOnDamagedServerCopy(t *testing.T) {
	ctx := context.Background()
	ofs := newObjectFs(time.Now)
	ofs.partSize = 1 << 10
	remote := Remote{FS: ofs, Root: "/bucket/atocore", URL: "s3://bucket/atocore"}
	r := testutil.Root(t)
	now := time.Now()
	first := createAt(t, r, now.Add(-48*time.Hour))
	key, trust := signer(t)
	opts := PushOptions{Signer: key}
	if _, err := pushRemote(ctx, testutil.Config(r), remote, opts); err != nil {
		t.Fatal(err)
	}
	dir := snapshot.Dir(remote.Root, first.Stamp)
	st := readSigned(ofs, dir, first.Stamp, trust.Signers).st
	damaged := 0
	for _, f := range st.Files {
		if f.Size <= ofs.partSize || f.Path == snapshot.ManifestFile {
			continue
		}
		p := filepath.Join(dir, filepath.FromSlash(f.Path))
		data, err := afero.ReadFile(ofs.Fs, p)
		if err != nil {
			t.Fatal(err)
		}
		data[len(data)/2] ^= 1
		if err := afero.WriteFile(ofs.Fs, p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		damaged++
	}
	if damaged == 0 {
		t.Fatal("no file above one part: the test proves nothing")
	}
	second := createAt(t, r, now.Add(-24*time.Hour))
	res, err := pushRemote(ctx, testutil.Config(r), remote, opts)
	if err != nil {
		t.Logf("the push refused the damaged copies: %v", err)
		return
	}
	if len(res.Pushed) != 1 || res.Pushed[0].Linked == 0 {
		t.Fatalf("second push = %+v: want server-side copies", res.Pushed)
	}
	quick, err := validateRemoteWith(ctx, remote, second.Stamp, Opening{Trust: trust}, true)
	if err != nil {
		t.Fatal(err)
	}
	full, err := validateRemote(ctx, remote, second.Stamp, Opening{Trust: trust})
	if err != nil {
		t.Fatal(err)
	}
	if quick.Valid && !full.Valid {
		t.Fatalf("remote validate --quick says %s is valid; the full validation finds %v", second.Stamp, full.Errors)
	}
}

// Library code names a CLI flag: quickCheck's findings tell the reader to
// run "remote validate without --quick" (the rest of offsite says
// "validate without quick"; the flag belongs to examples/atocore-backup).
func TestObjectStoreAttackQuickFindingsNameNoCLIFlag(t *testing.T) {
	ofs := newObjectFs(time.Now)
	ofs.partSize = 16
	dir := "/bucket/atocore/snapshots/x"
	if err := afero.WriteFile(ofs, filepath.Join(dir, "a"), []byte("0123456789abcdef0123456789"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := afero.WriteFile(ofs, filepath.Join(dir, "b"), []byte("0123456789abcdef0123456789"), 0o600); err != nil {
		t.Fatal(err)
	}
	ofs.unkept = map[string]bool{filepath.Join(dir, "b"): true}
	st := &Statement{Files: []StoredFile{{Path: "a", Size: 26}, {Path: "b", Size: 26}}}
	errs, err := quickCheck(context.Background(), ofs, dir, st)
	if err != nil {
		t.Fatal(err)
	}
	if len(errs) != 2 {
		t.Fatalf("findings %q, want two", errs)
	}
	for _, e := range errs {
		if strings.Contains(e, "--") {
			t.Errorf("library finding names a CLI flag: %s", e)
		}
	}
}

// A locked snapshot that push finds damaged (here with Verify; a size
// change needs no Verify) is "repaired": setAside renames it, which on
// object storage copies every object to .replaced-STAMP and then fails on
// the locked deletes. The push returns at that stamp, so no newer snapshot
// is pushed, on this run and on every run until the lock passes (and each
// run copies the whole snapshot on the server again). A snapshot that the
// lock makes irreparable should be reported and skipped, not stop the
// push of the others.
func TestObjectStoreAttackLockedDamagedSnapshotBlocksNewerPushes(t *testing.T) {
	ctx := context.Background()
	ofs := newObjectFs(time.Now)
	remote := Remote{FS: ofs, Root: "/bucket/atocore", URL: "s3://bucket/atocore"}
	r := testutil.Root(t)
	now := time.Now()
	first := createAt(t, r, now.Add(-48*time.Hour))
	key, trust := signer(t)
	opts := PushOptions{Signer: key, ObjectLock: ObjectLock{Days: 30}}
	if _, err := pushRemote(ctx, testutil.Config(r), remote, opts); err != nil {
		t.Fatal(err)
	}
	dir := snapshot.Dir(remote.Root, first.Stamp)
	st := readSigned(ofs, dir, first.Stamp, trust.Signers).st
	p := filepath.Join(dir, filepath.FromSlash(st.Files[0].Path))
	data, err := afero.ReadFile(ofs.Fs, p)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 1 // bit rot on the server, under the lock
	if err := afero.WriteFile(ofs.Fs, p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	second := createAt(t, r, now.Add(-24*time.Hour))
	opts.Verify = true
	res, err := pushRemote(ctx, testutil.Config(r), remote, opts)
	if res == nil || !slices.ContainsFunc(res.Pushed, func(p PushedInfo) bool { return p.Stamp == second.Stamp }) {
		t.Fatalf("%s was not pushed because the locked %s could not be repaired: %v", second.Stamp, first.Stamp, err)
	}
}

// lstatHookFs runs fn at the at-th lstat of name (for the statement of
// the snapshot below: the plan's hasStatement, the plan's check, heldByLock,
// then the recheck of stillInvalid, the 4th).
type lstatHookFs struct {
	*objectFs
	name string
	n    int
	at   int
	fn   func()
}

func (h *lstatHookFs) LstatIfPossible(name string) (fs.FileInfo, bool, error) {
	if filepath.Clean(name) == h.name {
		h.n++
		if h.n == h.at && h.fn != nil {
			fn := h.fn
			h.fn = nil
			fn()
		}
	}
	fi, err := h.objectFs.Stat(name)
	return fi, false, err
}

// remote prune --prune-invalid checks an invalid snapshot again before it
// deletes it (stillInvalid), and takes an upload in progress (no
// statement: Verdict.InProgress, not Valid) for still invalid: a repair
// that another host (or this one) started on the damaged stamp in
// between, its claim held, is deleted by removeObjects, which looks at no
// claim.
func TestObjectStoreAttackPruneInvalidRecheckDeletesClaimedRepair(t *testing.T) {
	ctx := context.Background()
	ofs := newObjectFs(time.Now)
	root := "/bucket/atocore"
	r := testutil.Root(t)
	now := time.Now()
	older := createAt(t, r, now.Add(-48*time.Hour))
	createAt(t, r, now.Add(-24*time.Hour))
	key, trust := signer(t)
	plain := Remote{FS: ofs, Root: root, URL: "s3://bucket/atocore"}
	if _, err := pushRemote(ctx, testutil.Config(r), plain, PushOptions{Signer: key}); err != nil {
		t.Fatal(err)
	}
	dir := snapshot.Dir(root, older.Stamp)
	st := readSigned(ofs, dir, older.Stamp, trust.Signers).st
	if err := ofs.Fs.Remove(filepath.Join(dir, filepath.FromSlash(st.Files[0].Path))); err != nil {
		t.Fatal(err)
	}
	upload := filepath.Join(dir, "db", "new-upload")
	h := &lstatHookFs{objectFs: ofs, name: filepath.Join(dir, StatementFile), at: 4, fn: func() {
		// The repair begins: the damaged copy set aside, the claim taken,
		// the first file of the new copy uploaded.
		if err := ofs.Rename(dir, filepath.Join(root, replacedPrefix+older.Stamp)); err != nil {
			t.Error(err)
		}
		if _, err := claim(ofs, root, older.Stamp, "hostA:/srv/backup"); err != nil {
			t.Error(err)
		}
		if err := ofs.MkdirAll(filepath.Dir(upload), 0o700); err != nil {
			t.Error(err)
		}
		if err := afero.WriteFile(ofs, upload, []byte("new bytes"), 0o600); err != nil {
			t.Error(err)
		}
	}}
	remote := Remote{FS: h, Root: root, URL: plain.URL}
	pr, err := pruneRemote(ctx, remote, backupPruneInvalid())
	if h.fn != nil {
		t.Fatalf("the hook never ran (prune %+v, %v)", pr, err)
	}
	if _, serr := ofs.Stat(upload); serr != nil {
		t.Fatalf("prune deleted the claimed repair upload of %s (removed %v, err %v): %v", older.Stamp, pr.Removed, err, serr)
	}
}

func backupPruneInvalid() backup.PruneOptions {
	return backup.PruneOptions{Policy: backup.Policy{KeepDaily: 7}, PruneInvalid: true}
}
