package offsite

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spf13/afero"

	"github.com/atocore/atocore-backup/backup"
	"github.com/atocore/atocore-backup/internal/snapshot"
	"github.com/atocore/atocore-backup/internal/testutil"
	"github.com/atocore/atocore-backup/restore"
	"github.com/atocore/atocore-backup/target"
)

// objectFs is object storage in memory, as the engine sees S3: files
// appear whole, a rename is a copy and a delete of each file, no hard
// links, server-side copies, and Object Lock: a locked object can be
// neither deleted nor overwritten until its date (checked against clock).
type objectFs struct {
	afero.Fs
	clock func() time.Time

	mu      sync.Mutex
	until   map[string]time.Time
	copies  []string // CopyFile destinations, in order
	created []string // names opened for writing
	failOn  string   // the base name whose next write fails (once)
	reads   []string // names opened for reading
	// partSize, when set, makes the FS report stored checksums as S3
	// does for uploads in parts of this size (target.ChecksumReporter).
	partSize int64
	// unkept names the files whose checksum the server does not keep.
	unkept map[string]bool
}

func newObjectFs(clock func() time.Time) *objectFs {
	return &objectFs{Fs: afero.NewMemMapFs(), clock: clock, until: map[string]time.Time{}}
}

func (o *objectFs) ObjectStore() bool { return true }

func (o *objectFs) locked(name string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if u, ok := o.until[filepath.Clean(name)]; ok && u.After(o.clock()) {
		return &fs.PathError{Op: "write", Path: name, Err: fmt.Errorf("%w: object locked until %s", fs.ErrPermission, u.Format(time.RFC3339))}
	}
	return nil
}

func (o *objectFs) Open(name string) (afero.File, error) {
	return o.OpenFile(name, os.O_RDONLY, 0)
}

func (o *objectFs) OpenFile(name string, flag int, perm os.FileMode) (afero.File, error) {
	if flag&(os.O_WRONLY|os.O_RDWR) == 0 {
		if fi, err := o.Fs.Stat(name); err == nil && !fi.IsDir() {
			o.mu.Lock()
			o.reads = append(o.reads, name)
			o.mu.Unlock()
		}
	}
	if flag&(os.O_WRONLY|os.O_RDWR) != 0 {
		if err := o.locked(name); err != nil {
			return nil, err
		}
		o.mu.Lock()
		o.created = append(o.created, name)
		fail := o.failOn != "" && filepath.Base(name) == o.failOn
		if fail {
			o.failOn = ""
		}
		o.mu.Unlock()
		if fail {
			return nil, &fs.PathError{Op: "open", Path: name, Err: errors.New("connection reset by peer")}
		}
	}
	return o.Fs.OpenFile(name, flag, perm)
}

func (o *objectFs) Create(name string) (afero.File, error) {
	return o.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
}

func (o *objectFs) Remove(name string) error {
	if err := o.locked(name); err != nil {
		return err
	}
	return o.Fs.Remove(name)
}

func (o *objectFs) RemoveAll(name string) error {
	var first error
	_ = afero.Walk(o.Fs, name, func(p string, info fs.FileInfo, err error) error {
		if err == nil && !info.IsDir() && first == nil {
			first = o.locked(p)
		}
		return nil
	})
	if first != nil {
		return first
	}
	return o.Fs.RemoveAll(name)
}

// Rename is a copy and a delete, file by file, as S3 has it.
func (o *objectFs) Rename(oldname, newname string) error {
	fi, err := o.Fs.Stat(oldname)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		if err := o.CopyFile(oldname, newname); err != nil && !errors.Is(err, fs.ErrExist) {
			return err
		}
		return o.Remove(oldname)
	}
	if _, err := o.Fs.Stat(newname); err == nil {
		return &os.LinkError{Op: "rename", Old: oldname, New: newname, Err: fs.ErrExist}
	}
	err = afero.Walk(o.Fs, oldname, func(p string, info fs.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(oldname, p)
		return o.CopyFile(p, filepath.Join(newname, rel))
	})
	if err != nil {
		return err
	}
	return o.RemoveAll(oldname)
}

func (o *objectFs) CopyFile(src, dst string) error {
	data, err := afero.ReadFile(o.Fs, src)
	if err != nil {
		return err
	}
	if _, err := o.Fs.Stat(dst); err == nil {
		return &os.LinkError{Op: "copy", Old: src, New: dst, Err: fs.ErrExist}
	}
	if err := o.Fs.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return err
	}
	o.mu.Lock()
	o.copies = append(o.copies, dst)
	o.mu.Unlock()
	return afero.WriteFile(o.Fs, dst, data, 0o600)
}

func (o *objectFs) SetRetention(name, mode string, until time.Time) error {
	if _, err := o.Fs.Stat(name); err != nil {
		return err
	}
	if mode != LockGovernance && mode != LockCompliance {
		return fmt.Errorf("mode %q", mode)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.until[filepath.Clean(name)] = until
	return nil
}

func (o *objectFs) Retention(name string) (string, time.Time, error) {
	if _, err := o.Fs.Stat(name); err != nil {
		return "", time.Time{}, err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	u, ok := o.until[filepath.Clean(name)]
	if !ok {
		return "", time.Time{}, nil
	}
	return LockGovernance, u, nil
}

// StoredSHA256 is the checksum S3 keeps: computed here from the bytes
// now stored, so that a changed object shows.
func (o *objectFs) StoredSHA256(name string) ([]byte, int, error) {
	if o.partSize == 0 || o.unkept[filepath.Clean(name)] {
		return nil, 0, errors.ErrUnsupported
	}
	data, err := afero.ReadFile(o.Fs, name)
	if err != nil {
		return nil, 0, err
	}
	c := newCompositeHash(o.partSize)
	c.Write(data)
	st := c.stored()
	if st == "" {
		sum := sha256.Sum256(data)
		return sum[:], 0, nil
	}
	hexSum, n, _ := strings.Cut(st, "-")
	sum, _ := hex.DecodeString(hexSum)
	parts, _ := strconv.Atoi(n)
	return sum, parts, nil
}

func (o *objectFs) UploadPartSize() int64 { return o.partSize }

var (
	_ target.ChecksumReporter = (*objectFs)(nil)
	_ target.ObjectStore      = (*objectFs)(nil)
	_ target.ServerCopier     = (*objectFs)(nil)
	_ target.RetentionLocker  = (*objectFs)(nil)
)

// On object storage a push uploads each file under its own name (no
// NAME.part, whose rename would copy every byte again on the server),
// puts the snapshot in place file by file with the statement last, and
// locks every object of it; the next push copies unchanged files on the
// server; remote prune keeps what is still locked and says until when;
// an empty machine pulls and restores from it.
func TestObjectStorePushLocksPlacesStatementLastAndPruneHolds(t *testing.T) {
	now := time.Date(2026, 12, 7, 6, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	ofs := newObjectFs(clock)
	remote := Remote{FS: ofs, Root: "/bucket/atocore", URL: "s3://bucket/atocore"}
	r := testutil.Root(t)
	first := createAt(t, r, now.Add(-48*time.Hour))
	key, trust := signer(t)
	rs, ids := keys(t)
	opts := PushOptions{Sealing: Sealing{Recipients: rs}, Signer: key, ObjectLock: ObjectLock{Days: 1}}
	if _, err := pushRemote(context.Background(), testutil.Config(r), remote, opts); err != nil {
		t.Fatal(err)
	}
	for _, name := range ofs.created {
		if strings.HasSuffix(name, partSuffix) {
			t.Errorf("uploaded %s: object storage needs no .part name", name)
		}
	}
	final := snapshot.Dir(remote.Root, first.Stamp)
	var inFinal []string
	for _, name := range ofs.created {
		if strings.HasPrefix(name, final+"/") {
			inFinal = append(inFinal, strings.TrimPrefix(name, final+"/"))
		}
	}
	if n := len(inFinal); n < 2 || inFinal[n-1] != StatementFile || inFinal[n-2] != SignatureFile {
		t.Errorf("written in the snapshot's place, in order: %v; want the signature, then the statement, last", inFinal)
	}
	if len(ofs.copies) != 0 {
		t.Errorf("the first push copied %v on the server: its files go straight to their place", ofs.copies)
	}
	objects := 0
	_ = afero.Walk(ofs, final, func(p string, info fs.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		objects++
		if _, until, _ := ofs.Retention(p); time.Until(until) < 23*time.Hour || time.Until(until) > 25*time.Hour {
			t.Errorf("%s is locked until %v, want about a day from now", p, until)
		}
		return nil
	})
	if objects < 5 {
		t.Fatalf("the pushed snapshot has %d objects", objects)
	}
	entries, _ := afero.ReadDir(ofs, remote.Root)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), IncomingPrefix) {
			t.Errorf("%s is left on the target", e.Name())
		}
	}
	if err := ofs.Remove(filepath.Join(final, StatementFile)); !errors.Is(err, fs.ErrPermission) {
		t.Fatalf("deleting a locked statement: err = %v, want fs.ErrPermission", err)
	}

	// The second snapshot: its unchanged Chroma files are copied on the
	// server, not sent.
	now = now.Add(time.Hour)
	second := createAt(t, r, now.Add(-24*time.Hour))
	ofs.copies = nil
	res, err := pushRemote(context.Background(), testutil.Config(r), remote, opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Pushed) != 1 || res.Pushed[0].Linked == 0 {
		t.Fatalf("second push = %+v: want unchanged files copied on the server", res.Pushed)
	}
	fromFirst := 0
	for _, c := range ofs.copies {
		if strings.HasPrefix(c, snapshot.Dir(remote.Root, second.Stamp)+"/") {
			fromFirst++
		}
	}
	if fromFirst != res.Pushed[0].Linked {
		t.Errorf("%d server-side copies into the upload, %d files reported linked", fromFirst, res.Pushed[0].Linked)
	}

	// Retention keeps only the newest: the first is still locked.
	policy := backup.Policy{KeepDaily: 1}
	pr, err := pruneRemote(context.Background(), remote, backup.PruneOptions{Policy: policy, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	if len(pr.Removed) != 0 || !strings.Contains(pr.Held[first.Stamp], "object lock") || !slices.Contains(pr.Kept, first.Stamp) {
		t.Fatalf("prune under lock: removed %v, held %v, kept %v", pr.Removed, pr.Held, pr.Kept)
	}
	if _, err := ofs.Stat(final); err != nil {
		t.Fatalf("the held snapshot is gone: %v", err)
	}
	// Two days on, the lock has passed: prune removes it.
	later := now.Add(48 * time.Hour)
	ofs.clock = func() time.Time { return later }
	pr, err = pruneRemote(context.Background(), remote, backup.PruneOptions{Policy: policy, Now: func() time.Time { return later }})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(pr.Removed, []string{first.Stamp}) || len(pr.Held) != 0 {
		t.Fatalf("prune after the lock: removed %v, held %v", pr.Removed, pr.Held)
	}

	// Disaster recovery from it.
	fresh := freshConfig(t)
	if _, err := pullRemote(context.Background(), fresh, remote, second.Stamp, Opening{Identities: ids, Trust: trust}); err != nil {
		t.Fatal(err)
	}
	if _, err := restore.Run(context.Background(), fresh, second.Stamp, restore.Options{ConfirmServiceStopped: true}); err != nil {
		t.Fatal(err)
	}
}

// A lock the target cannot keep is refused before anything is sent.
func TestObjectLockNeedsALockingTarget(t *testing.T) {
	r := testutil.Root(t)
	testutil.Create(t, r, backup.CreateOptions{})
	remote := Remote{FS: afero.NewMemMapFs(), Root: "/offsite", URL: "mem://"}
	for _, lock := range []ObjectLock{{Days: 7}, {Days: -1}, {Days: 7, Mode: "legal-hold"}} {
		_, err := pushRemote(context.Background(), testutil.Config(r), remote, PushOptions{ObjectLock: lock})
		if err == nil {
			t.Fatalf("push with %+v to a memory target succeeded", lock)
		}
		t.Logf("%+v: %v", lock, err)
	}
	if entries, _ := afero.ReadDir(remote.FS, "/offsite"); len(entries) != 0 {
		t.Fatalf("the refused pushes left %d entries on the target", len(entries))
	}
}

// On object storage a snapshot directory without its statement is an
// upload in progress: remote list, pull and prune ignore it, the push
// that was cut off resumes it without sending its finished files again,
// and one that nobody claims is cleared by prune.
func TestObjectStoreUploadInProgressIsIgnoredThenResumed(t *testing.T) {
	now := time.Now()
	ofs := newObjectFs(func() time.Time { return now })
	remote := Remote{FS: ofs, Root: "/bucket/atocore", URL: "s3://bucket/atocore"}
	r := testutil.Root(t)
	m := testutil.Create(t, r, backup.CreateOptions{IncludeChroma: true})
	key, trust := signer(t)
	opts := PushOptions{Signer: key}
	// Cut off as it writes its statement.
	ofs.failOn = StatementFile
	if _, err := pushRemote(context.Background(), testutil.Config(r), remote, opts); err == nil {
		t.Fatal("the push whose statement could not be written succeeded")
	}
	final := snapshot.Dir(remote.Root, m.Stamp)
	if _, err := ofs.Stat(filepath.Join(final, "db")); err != nil {
		t.Fatalf("the cut-off push left no files: %v", err)
	}
	list, err := listRemote(context.Background(), remote, trust)
	if err != nil || len(list) != 0 {
		t.Fatalf("remote list of an upload in progress = %+v, %v; want nothing", list, err)
	}
	var nf *backup.NotFoundError
	if _, err := pullRemote(context.Background(), freshConfig(t), remote, m.Stamp, Opening{Trust: trust}); !errors.As(err, &nf) {
		t.Fatalf("pull of an upload in progress: err = %v, want not found", err)
	}
	// Its claim is still there (the push was killed): prune leaves it.
	claimName := filepath.Join(remote.Root, IncomingPrefix+m.Stamp+claimSuffix)
	if err := afero.WriteFile(ofs, claimName, []byte(`{"holder":"elsewhere"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	pr, err := pruneRemote(context.Background(), remote, backup.PruneOptions{Policy: backup.Policy{KeepDaily: 7}, PruneInvalid: true})
	if err != nil || len(pr.Removed)+len(pr.Kept)+len(pr.Invalid) != 0 {
		t.Fatalf("prune of an upload in progress = %+v, %v; want it left out of the plan", pr, err)
	}
	if _, err := ofs.Stat(filepath.Join(final, "db")); err != nil {
		t.Fatalf("prune removed a claimed upload: %v", err)
	}
	if err := ofs.Remove(claimName); err != nil {
		t.Fatal(err)
	}
	// The push resumes: nothing of it is sent again.
	res, err := pushRemote(context.Background(), testutil.Config(r), remote, opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Pushed) != 1 || res.Pushed[0].Sent != 0 || res.Pushed[0].Resumed == 0 {
		t.Fatalf("resumed push = %+v: want every file resumed", res.Pushed)
	}
	if v, err := validateRemote(context.Background(), remote, m.Stamp, Opening{Trust: trust}); err != nil || !v.Valid {
		t.Fatalf("remote validate after the resume = %+v, %v", v, err)
	}
	// An upload nobody claims (a delete cut off) is cleared by prune.
	if err := ofs.Remove(filepath.Join(final, StatementFile)); err != nil {
		t.Fatal(err)
	}
	if _, err := pruneRemote(context.Background(), remote, backup.PruneOptions{Policy: backup.Policy{KeepDaily: 7}}); err != nil {
		t.Fatal(err)
	}
	if _, err := ofs.Stat(final); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("an abandoned upload is still there: %v", err)
	}
}

// remote validate --quick reads no file: it compares the checksums the
// target stores (the composite ones of files sent in parts among them,
// recorded in the signed statement at push) with the statement, and so
// finds an object changed on the target; a target that keeps no
// checksums is refused.
func TestQuickValidateComparesStoredChecksumsWithoutReading(t *testing.T) {
	ofs := newObjectFs(time.Now)
	ofs.partSize = 64 << 10
	remote := Remote{FS: ofs, Root: "/bucket/atocore", URL: "s3://bucket/atocore"}
	r := testutil.Root(t)
	m := testutil.Create(t, r, backup.CreateOptions{IncludeChroma: true})
	key, trust := signer(t)
	rs, _ := keys(t)
	if _, err := pushRemote(context.Background(), testutil.Config(r), remote, PushOptions{Sealing: Sealing{Recipients: rs}, Signer: key}); err != nil {
		t.Fatal(err)
	}
	dir := snapshot.Dir(remote.Root, m.Stamp)
	st := readSigned(ofs, dir, m.Stamp, trust.Signers).st
	var inParts []StoredFile
	for _, f := range st.Files {
		if f.Size > ofs.partSize {
			if !strings.HasSuffix(f.Stored, "-"+strconv.Itoa(int((f.Size+ofs.partSize-1)/ofs.partSize))) {
				t.Errorf("%s (%d bytes) is recorded with stored_sha256 %q, want the composite of its parts", f.Path, f.Size, f.Stored)
			}
			inParts = append(inParts, f)
		} else if f.Stored != "" {
			t.Errorf("%s fits one part and records stored_sha256 %q", f.Path, f.Stored)
		}
	}
	if len(inParts) == 0 {
		t.Fatal("no file was sent in parts: the test proves nothing")
	}
	ofs.reads = nil
	res, err := validateRemoteWith(context.Background(), remote, m.Stamp, Opening{Trust: trust}, true)
	if err != nil || !res.Valid {
		t.Fatalf("quick validate = %+v, %v", res, err)
	}
	for _, name := range ofs.reads {
		if b := filepath.Base(name); b != StatementFile && b != SignatureFile && b != TargetIDFile {
			t.Errorf("quick validate read %s", name)
		}
	}
	// One byte changed on the target, its size kept.
	victim := filepath.Join(dir, filepath.FromSlash(inParts[0].Path))
	data, err := afero.ReadFile(ofs.Fs, victim)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 1
	if err := afero.WriteFile(ofs.Fs, victim, data, 0o600); err != nil {
		t.Fatal(err)
	}
	res, err = validateRemoteWith(context.Background(), remote, m.Stamp, Opening{Trust: trust}, true)
	if err != nil || res.Valid || len(res.Errors) != 1 || !strings.Contains(res.Errors[0], inParts[0].Path) {
		t.Fatalf("quick validate of a changed object = %+v, %v", res, err)
	}
	// A file whose checksum the server does not keep (versitygw, for a
	// server-side copy above 5 GiB) is named: quick cannot vouch for it.
	data[len(data)/2] ^= 1
	if err := afero.WriteFile(ofs.Fs, victim, data, 0o600); err != nil {
		t.Fatal(err)
	}
	ofs.unkept = map[string]bool{filepath.Clean(victim): true}
	res, err = validateRemoteWith(context.Background(), remote, m.Stamp, Opening{Trust: trust}, true)
	if err != nil || res.Valid || len(res.Errors) != 1 || !strings.HasPrefix(res.Errors[0], CodeChecksumNotKept+": "+inParts[0].Path) {
		t.Fatalf("quick validate with a checksum not kept = %+v, %v", res, err)
	}
	// Without stored checksums there is nothing to compare.
	plain := Remote{FS: afero.NewMemMapFs(), Root: "/offsite", URL: "mem://"}
	if _, err := pushRemote(context.Background(), testutil.Config(r), plain, PushOptions{Signer: key}); err != nil {
		t.Fatal(err)
	}
	if _, err := validateRemoteWith(context.Background(), plain, m.Stamp, Opening{Trust: trust}, true); !errors.Is(err, ErrNoStoredChecksums) {
		t.Fatalf("quick validate of a target without checksums: err = %v", err)
	}
}
