package targettest

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"io/fs"
	"maps"
	"os"
	"path"
	"strings"
	"testing"
	"time"

	"github.com/spf13/afero"

	"github.com/atocore/atocore-backup/target"
)

// The optional capabilities, checked where a target advertises them.

// Capability names one optional interface of target (Linker, ...) that a
// backend declares in Options.Has.
type Capability string

// The capabilities the suite knows. A declared one must be implemented and
// work; one not declared must be absent from the FS, or answer
// errors.ErrUnsupported (an SFTP server without the extension) and leave
// nothing behind.
const (
	Link        Capability = "Link"             // target.Linker
	PosixRename Capability = "PosixRename"      // target.PosixRenamer
	DirSync     Capability = "DirSyncer"        // target.DirSyncer
	FreeSpace   Capability = "SpaceReporter"    // target.SpaceReporter
	Stream      Capability = "StreamWriter"     // target.StreamWriter
	ServerCopy  Capability = "ServerCopier"     // target.ServerCopier
	Checksum    Capability = "ChecksumReporter" // target.ChecksumReporter
	Retention   Capability = "RetentionLocker"  // target.RetentionLocker
	Tree        Capability = "TreeLister"       // target.TreeLister
	Resume      Capability = "PartResumer"      // target.PartResumer
)

// capabilities are the suite's capability subtests, by name.
var capabilities = []struct {
	name Capability
	fn   func(t *testing.T, fsys afero.Fs, root string, declared bool)
}{
	{Link, testLink},
	{PosixRename, testPosixRename},
	{DirSync, testDirSyncer},
	{FreeSpace, testSpaceReporter},
	{Stream, testStreamWriter},
	{ServerCopy, testServerCopier},
	{Checksum, testChecksumReporter},
	{Retention, testRetentionLocker},
	{Tree, testTreeLister},
	{Resume, testPartResumer},
}

// absent settles a capability test for an FS that lacks the interface:
// a failure when it was declared.
func absent(t *testing.T, c Capability, declared bool) {
	t.Helper()
	if declared {
		t.Fatalf("declared %s, but the FS has no target.%s", c, c)
	}
	t.Logf("no target.%s, as declared", c)
}

// unsupported settles a call that answered errors.ErrUnsupported: right
// for an undeclared capability (the far end lacks it), a failure for a
// declared one. It reports whether the test is over.
func unsupported(t *testing.T, c Capability, declared bool, err error) bool {
	t.Helper()
	switch {
	case errors.Is(err, errors.ErrUnsupported) && declared:
		t.Fatalf("declared %s, but the target answers: %v", c, err)
	case errors.Is(err, errors.ErrUnsupported):
		t.Logf("%s not offered by this target, as declared: %v", c, err)
		return true
	case !declared:
		t.Fatalf("%s is not declared, but the target offers it (err = %v): declare it in Options.Has", c, err)
	}
	return false
}

func testLink(t *testing.T, fsys afero.Fs, root string, declared bool) {
	l, ok := fsys.(target.Linker)
	if !ok {
		absent(t, Link, declared)
		return
	}
	a, b := path.Join(root, "a"), path.Join(root, "b")
	WriteFile(t, fsys, a, []byte("shared"))
	err := l.Link(a, b)
	if errors.Is(err, errors.ErrUnsupported) {
		// No links here (a server without hardlink@openssh.com, or one
		// whose links are not real): nothing may be left under the new
		// name.
		if _, serr := fsys.Stat(b); !errors.Is(serr, os.ErrNotExist) {
			t.Errorf("Link failed (%v) but left %s: %v", err, b, serr)
		}
	}
	if unsupported(t, Link, declared, err) {
		return
	}
	if err != nil {
		t.Fatalf("Link: %v", err)
	}
	if got := ReadFile(t, fsys, b); string(got) != "shared" {
		t.Errorf("link content = %q", got)
	}
	wantErr(t, "Link onto an existing name", l.Link(a, b), os.ErrExist)
	wantErr(t, "Link of a missing file", l.Link(path.Join(root, "missing"), path.Join(root, "c")), os.ErrNotExist)
	if err := fsys.Remove(a); err != nil {
		t.Fatal(err)
	}
	if got := ReadFile(t, fsys, b); string(got) != "shared" {
		t.Errorf("after removing the first name: %q", got)
	}
}

func testPosixRename(t *testing.T, fsys afero.Fs, root string, declared bool) {
	r, ok := fsys.(target.PosixRenamer)
	if !ok {
		absent(t, PosixRename, declared)
		return
	}
	a, b := path.Join(root, "a"), path.Join(root, "b")
	WriteFile(t, fsys, a, []byte("new"))
	WriteFile(t, fsys, b, []byte("old"))
	err := r.PosixRename(a, b)
	if unsupported(t, PosixRename, declared, err) {
		return
	}
	if err != nil {
		t.Fatalf("PosixRename: %v", err)
	}
	if got := ReadFile(t, fsys, b); string(got) != "new" {
		t.Errorf("replaced content = %q", got)
	}
	if _, err := fsys.Stat(a); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("old name still there: %v", err)
	}
}

func testDirSyncer(t *testing.T, fsys afero.Fs, root string, declared bool) {
	s, ok := fsys.(target.DirSyncer)
	if !ok {
		absent(t, DirSync, declared)
		return
	}
	err := s.SyncDir(root)
	if unsupported(t, DirSync, declared, err) {
		return
	}
	if err != nil {
		t.Errorf("SyncDir(root): %v", err)
	}
	wantErr(t, "SyncDir of a missing directory", s.SyncDir(path.Join(root, "missing")), os.ErrNotExist)
}

func testSpaceReporter(t *testing.T, fsys afero.Fs, root string, declared bool) {
	s, ok := fsys.(target.SpaceReporter)
	if !ok {
		absent(t, FreeSpace, declared)
		return
	}
	n, err := s.FreeSpace(root)
	if unsupported(t, FreeSpace, declared, err) {
		return
	}
	if err != nil || n == 0 {
		t.Errorf("FreeSpace(root) = %d, %v", n, err)
	}
}

// testStreamWriter checks the interface itself (Stream32MiB checks
// target.WriteFileFrom, which falls back without it): a new file is
// written whole, an existing name is refused and left alone.
func testStreamWriter(t *testing.T, fsys afero.Fs, root string, declared bool) {
	s, ok := fsys.(target.StreamWriter)
	if !ok {
		absent(t, Stream, declared)
		return
	}
	name := path.Join(root, "streamed")
	data := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	n, err := s.WriteFileFrom(name, bytes.NewReader(data), 0o600)
	if unsupported(t, Stream, declared, err) {
		return
	}
	if err != nil || n != int64(len(data)) {
		t.Fatalf("WriteFileFrom = %d, %v", n, err)
	}
	if got := ReadFile(t, fsys, name); !bytes.Equal(got, data) {
		t.Fatalf("streamed file holds %d bytes, want %d", len(got), len(data))
	}
	if _, err := s.WriteFileFrom(name, strings.NewReader("other"), 0o600); !errors.Is(err, os.ErrExist) {
		t.Errorf("WriteFileFrom onto an existing name: err = %v, want os.ErrExist", err)
	}
	if got := ReadFile(t, fsys, name); !bytes.Equal(got, data) {
		t.Errorf("a refused WriteFileFrom changed the file")
	}
}

// testServerCopier: a copy has the bytes and mode of its source, and
// never replaces a file.
func testServerCopier(t *testing.T, fsys afero.Fs, root string, declared bool) {
	c, ok := fsys.(target.ServerCopier)
	if !ok {
		absent(t, ServerCopy, declared)
		return
	}
	a, b := path.Join(root, "a"), path.Join(root, "b")
	WriteFile(t, fsys, a, []byte("copied"))
	if err := fsys.Chmod(a, 0o640); err != nil {
		t.Fatal(err)
	}
	err := c.CopyFile(a, b)
	if unsupported(t, ServerCopy, declared, err) {
		return
	}
	if err != nil {
		t.Fatalf("CopyFile: %v", err)
	}
	if got := ReadFile(t, fsys, b); string(got) != "copied" {
		t.Errorf("copy holds %q", got)
	}
	if fi, err := fsys.Stat(b); err != nil || fi.Mode().Perm() != 0o640 {
		t.Errorf("copy's mode: %v, %v; want 0640", fi, err)
	}
	WriteFile(t, fsys, a, []byte("changed"))
	wantErr(t, "CopyFile onto an existing name", c.CopyFile(a, b), os.ErrExist)
	if got := ReadFile(t, fsys, b); string(got) != "copied" {
		t.Errorf("a refused copy changed the file: %q", got)
	}
	wantErr(t, "CopyFile of a missing file", c.CopyFile(path.Join(root, "missing"), path.Join(root, "c")), os.ErrNotExist)
	wantErr(t, "CopyFile into a missing directory", c.CopyFile(a, path.Join(root, "missing", "c")), os.ErrNotExist)
}

// testChecksumReporter: a file written in one piece reports the SHA-256
// of its bytes, in no parts.
func testChecksumReporter(t *testing.T, fsys afero.Fs, root string, declared bool) {
	c, ok := fsys.(target.ChecksumReporter)
	if !ok {
		absent(t, Checksum, declared)
		return
	}
	name := path.Join(root, "summed")
	data := bytes.Repeat([]byte("checksum"), 1<<14)
	if _, err := target.WriteFileFrom(fsys, name, bytes.NewReader(data), 0o600); err != nil {
		t.Fatal(err)
	}
	sum, parts, err := c.StoredSHA256(name)
	if unsupported(t, Checksum, declared, err) {
		return
	}
	if err != nil {
		t.Fatalf("StoredSHA256: %v", err)
	}
	if want := sha256.Sum256(data); !bytes.Equal(sum, want[:]) || parts != 0 {
		t.Errorf("StoredSHA256 = %x in %d parts, want %x in 0", sum, parts, want)
	}
	_, _, err = c.StoredSHA256(path.Join(root, "missing"))
	wantErr(t, "StoredSHA256 of a missing file", err, os.ErrNotExist)
}

// testRetentionLocker: a file under retention says so, and cannot be
// removed, replaced or renamed until the date.
func testRetentionLocker(t *testing.T, fsys afero.Fs, root string, declared bool) {
	l, ok := fsys.(target.RetentionLocker)
	if !ok {
		absent(t, Retention, declared)
		return
	}
	name := path.Join(root, "locked")
	WriteFile(t, fsys, name, []byte("kept"))
	if mode, until, err := l.Retention(name); err != nil || mode != "" || !until.IsZero() {
		t.Errorf("Retention of a new file = %q %v %v, want none", mode, until, err)
	}
	until := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	err := l.SetRetention(name, "governance", until)
	if unsupported(t, Retention, declared, err) {
		return
	}
	if err != nil {
		t.Fatalf("SetRetention: %v", err)
	}
	if mode, got, err := l.Retention(name); err != nil || mode != "governance" || !got.Equal(until) {
		t.Errorf("Retention = %q %v %v, want governance %v", mode, got, err, until)
	}
	err = fsys.Remove(name)
	wantErr(t, "Remove of a locked file", err, os.ErrPermission)
	if err != nil && !strings.Contains(err.Error(), until.Format(time.RFC3339)) {
		t.Errorf("the refusal does not say until when: %v", err)
	}
	wantErr(t, "RemoveAll of a locked file", fsys.RemoveAll(name), os.ErrPermission)
	_, err = fsys.OpenFile(name, os.O_WRONLY|os.O_TRUNC, 0)
	wantErr(t, "overwrite of a locked file", err, os.ErrPermission)
	wantErr(t, "rename of a locked file", fsys.Rename(name, path.Join(root, "moved")), os.ErrPermission)
	if got := ReadFile(t, fsys, name); string(got) != "kept" {
		t.Errorf("locked file holds %q", got)
	}
	_, _, err = l.Retention(path.Join(root, "missing"))
	wantErr(t, "Retention of a missing file", err, os.ErrNotExist)
}

// testTreeLister: a tree listing finds what a walk finds: every file below
// the directory (nested ones included) at its size, no directory, nothing
// beside it; a missing directory lists nothing; fs.SkipAll stops it.
func testTreeLister(t *testing.T, fsys afero.Fs, root string, declared bool) {
	l, ok := fsys.(target.TreeLister)
	if !ok {
		absent(t, Tree, declared)
		return
	}
	dir := path.Join(root, "tree")
	mkdir(t, fsys, dir)
	mkdir(t, fsys, path.Join(dir, "empty"))
	if err := fsys.MkdirAll(path.Join(dir, "a", "b"), 0o700); err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{"top": 3, "a/one": 1, "a/b/two": 22}
	for name, size := range want {
		WriteFile(t, fsys, path.Join(dir, name), bytes.Repeat([]byte("x"), int(size)))
	}
	WriteFile(t, fsys, path.Join(root, "treeside"), []byte("beside")) // shares the prefix "tree"
	got := map[string]int64{}
	err := l.ListTree(dir, func(rel string, info fs.FileInfo) error {
		if info.IsDir() {
			t.Errorf("ListTree passed the directory %s", rel)
		}
		got[rel] = info.Size()
		return nil
	})
	if unsupported(t, Tree, declared, err) {
		return
	}
	if err != nil {
		t.Fatalf("ListTree: %v", err)
	}
	if !maps.Equal(got, want) {
		t.Errorf("ListTree = %v, want %v", got, want)
	}
	walked := map[string]int64{}
	_ = afero.Walk(fsys, dir, func(p string, info fs.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			walked[strings.TrimPrefix(p, dir+"/")] = info.Size()
		}
		return err
	})
	if !maps.Equal(walked, got) {
		t.Errorf("a walk finds %v, ListTree %v", walked, got)
	}
	n := 0
	if err := l.ListTree(dir, func(string, fs.FileInfo) error { n++; return fs.SkipAll }); err != nil || n != 1 {
		t.Errorf("ListTree stopped by fs.SkipAll: %d calls, %v; want 1, nil", n, err)
	}
	n = 0
	if err := l.ListTree(path.Join(root, "missing"), func(string, fs.FileInfo) error { n++; return nil }); err != nil || n != 0 {
		t.Errorf("ListTree of a missing directory: %d files, %v; want none", n, err)
	}
}

// cutReader gives r's bytes up to n, then fails.
type cutReader struct {
	r io.Reader
	n int64
}

var errCut = errors.New("cut off")

func (c *cutReader) Read(p []byte) (int, error) {
	if c.n <= 0 {
		return 0, errCut
	}
	if int64(len(p)) > c.n {
		p = p[:c.n]
	}
	m, err := c.r.Read(p)
	c.n -= int64(m)
	return m, err
}

// testPartResumer: an upload cut off after its first part is continued
// by a later call that keeps that part (not sent again) and sends the
// rest; the file then holds every byte. Continued with other bytes, the
// upload fails with target.ErrPartsDiffer and makes nothing. An aborted
// upload, or one that never was, is started anew.
func testPartResumer(t *testing.T, fsys afero.Fs, root string, declared bool) {
	pr, ok := fsys.(target.PartResumer)
	if !ok {
		absent(t, Resume, declared)
		return
	}
	part := int64(16 << 20)
	if ps, ok := fsys.(interface{ UploadPartSize() int64 }); ok && ps.UploadPartSize() > 0 {
		part = ps.UploadPartSize()
	}
	data := make([]byte, 2*part+part/2)
	for i := range data {
		data[i] = byte(i*31 + i>>12)
	}
	name := path.Join(root, "resumed")
	var ids []string
	record := func(id string) error { ids = append(ids, id); return nil }
	_, _, err := pr.WriteFileResumable(name, &cutReader{r: bytes.NewReader(data), n: part + part/2}, 0o600, "", record)
	if unsupported(t, Resume, declared, err) {
		return
	}
	if !errors.Is(err, errCut) || len(ids) != 1 {
		t.Fatalf("cut-off upload: err = %v, %d upload(s) recorded; want the cut, 1", err, len(ids))
	}
	if _, err := fsys.Stat(name); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a cut-off upload is visible: %v", err)
	}
	n, kept, err := pr.WriteFileResumable(name, bytes.NewReader(data), 0o600, ids[0], record)
	if err != nil || n != int64(len(data)) || kept != part || len(ids) != 1 {
		t.Fatalf("continued upload = %d bytes, %d kept, %v, %d upload(s) recorded; want %d, %d, nil, 1", n, kept, err, len(ids), len(data), part)
	}
	if got := ReadFile(t, fsys, name); !bytes.Equal(got, data) {
		t.Fatalf("the continued upload holds %d bytes, not the %d written", len(got), len(data))
	}

	other := path.Join(root, "changed")
	ids = nil
	_, _, _ = pr.WriteFileResumable(other, &cutReader{r: bytes.NewReader(data), n: part + 1}, 0o600, "", record)
	changed := bytes.Clone(data)
	changed[10] ^= 0xff
	if len(ids) != 1 {
		t.Fatalf("%d upload(s) recorded, want 1", len(ids))
	}
	_, kept, err = pr.WriteFileResumable(other, bytes.NewReader(changed), 0o600, ids[0], record)
	if !errors.Is(err, target.ErrPartsDiffer) || kept != 0 {
		t.Fatalf("continued with other bytes: %d kept, %v; want target.ErrPartsDiffer, nothing kept", kept, err)
	}
	if _, err := fsys.Stat(other); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("an upload refused for other bytes made the file: %v", err)
	}
	if err := pr.AbortUpload(other, ids[0]); err != nil {
		t.Fatalf("AbortUpload: %v", err)
	}
	n, kept, err = pr.WriteFileResumable(other, bytes.NewReader(changed), 0o600, "", record)
	if err != nil || n != int64(len(changed)) || kept != 0 {
		t.Fatalf("the other bytes in a new upload = %d, %d kept, %v", n, kept, err)
	}
	if got := ReadFile(t, fsys, other); !bytes.Equal(got, changed) {
		t.Fatal("the new upload does not hold the other bytes")
	}

	third := path.Join(root, "aborted")
	ids = nil
	_, _, _ = pr.WriteFileResumable(third, &cutReader{r: bytes.NewReader(data), n: part + 1}, 0o600, "", record)
	if len(ids) != 1 {
		t.Fatalf("%d upload(s) recorded, want 1", len(ids))
	}
	if err := pr.AbortUpload(third, ids[0]); err != nil {
		t.Fatalf("AbortUpload: %v", err)
	}
	if err := pr.AbortUpload(third, ids[0]); err != nil {
		t.Errorf("AbortUpload of an upload already aborted: %v", err)
	}
	n, kept, err = pr.WriteFileResumable(third, bytes.NewReader(data), 0o600, ids[0], record)
	if err != nil || n != int64(len(data)) || kept != 0 || len(ids) != 2 {
		t.Fatalf("continuing an aborted upload = %d, %d kept, %v, %d upload(s); want a new one", n, kept, err, len(ids))
	}
	if got := ReadFile(t, fsys, third); !bytes.Equal(got, data) {
		t.Fatal("the upload started anew does not hold the bytes")
	}
}
