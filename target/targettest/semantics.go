package targettest

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path"
	"slices"
	"testing"
	"time"

	"github.com/spf13/afero"

	"github.com/atocore/atocore-backup/internal/durable"
	"github.com/atocore/atocore-backup/target"
)

// The filesystem semantics every target keeps.

func testWriteRead(t *testing.T, fsys afero.Fs, root string) {
	name := path.Join(root, "f.json")
	WriteFile(t, fsys, name, []byte(`{"a":1}`))
	if got := ReadFile(t, fsys, name); string(got) != `{"a":1}` {
		t.Fatalf("read back %q", got)
	}
	fi, err := fsys.Stat(name)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() != 7 || fi.IsDir() || fi.Name() != "f.json" || fi.Mode().Perm() != 0o600 {
		t.Errorf("stat: size %d dir %v name %q mode %v; want 7, false, f.json, 0600", fi.Size(), fi.IsDir(), fi.Name(), fi.Mode())
	}
	// Opening an existing file does not change its mode.
	f, err := fsys.OpenFile(name, os.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if ffi, err := f.Stat(); err != nil || ffi.Size() != 7 {
		t.Errorf("file stat: %v, %v", ffi, err)
	}
	f.Close()
	if fi, _ := fsys.Stat(name); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode after a read-only open: %v", fi.Mode())
	}
	// Truncating open.
	WriteFile(t, fsys, name, []byte("x"))
	if got := ReadFile(t, fsys, name); string(got) != "x" {
		t.Errorf("after O_TRUNC rewrite: %q", got)
	}
}

func testCreateExclusive(t *testing.T, fsys afero.Fs, root string) {
	name := path.Join(root, "once")
	f, err := fsys.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if fi, _ := fsys.Stat(name); fi == nil || fi.Mode().Perm() != 0o640 {
		t.Errorf("mode of a new file: %v, want 0640", fi)
	}
	_, err = fsys.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	wantErr(t, "second O_EXCL create", err, os.ErrExist)
	_, err = target.WriteFileFrom(fsys, name, bytes.NewReader([]byte("x")), 0o600)
	wantErr(t, "WriteFileFrom onto an existing file", err, os.ErrExist)
}

func testCreateInMissingDir(t *testing.T, fsys afero.Fs, root string) {
	_, err := fsys.OpenFile(path.Join(root, "missing", "f"), os.O_WRONLY|os.O_CREATE, 0o600)
	wantErr(t, "create in a missing directory", err, os.ErrNotExist)
	wantErr(t, "mkdir in a missing directory", fsys.Mkdir(path.Join(root, "missing", "d"), 0o700), os.ErrNotExist)
}

// streamReader is a deterministic pseudo-random stream of n bytes that
// hides its length, as an encryptor's output does.
func streamReader(n int64, seed uint64) io.Reader {
	return struct{ io.Reader }{io.LimitReader(rand.NewChaCha8([32]byte{byte(seed)}), n)}
}

func testStream(t *testing.T, fsys afero.Fs, root string) {
	name := path.Join(root, "stream.bin")
	want := sha256.New()
	start := time.Now()
	n, err := target.WriteFileFrom(fsys, name, io.TeeReader(streamReader(StreamBytes, 1), want), 0o600)
	if err != nil {
		t.Fatalf("WriteFileFrom: %v", err)
	}
	t.Logf("streamed %d MiB in %v", StreamBytes>>20, time.Since(start).Round(time.Millisecond))
	if n != StreamBytes {
		t.Fatalf("wrote %d bytes, want %d", n, StreamBytes)
	}
	f, err := fsys.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got := sha256.New()
	if m, err := io.Copy(got, f); err != nil || m != StreamBytes {
		t.Fatalf("read back %d bytes, %v", m, err)
	}
	if !bytes.Equal(got.Sum(nil), want.Sum(nil)) {
		t.Fatal("streamed bytes differ from the source")
	}
	if fi, err := fsys.Stat(name); err != nil || fi.Size() != StreamBytes || fi.Mode().Perm() != 0o600 {
		t.Fatalf("stat: %v %v", fi, err)
	}
}

func testDurableCopy(t *testing.T, fsys afero.Fs, root string) {
	data, _ := io.ReadAll(streamReader(3<<20+17, 2))
	name := path.Join(root, "copy.bin")
	d, err := durable.CopyFile(t.Context(), fsys, name, bytes.NewReader(data), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	h, err := durable.HashFile(t.Context(), fsys, name)
	if err != nil || h != d || h.Size != int64(len(data)) {
		t.Fatalf("HashFile = %+v, %v; copy said %+v", h, err, d)
	}
	// durable.WriteFile replaces through a rename.
	meta := path.Join(root, "meta.json")
	for _, s := range []string{"one", "two"} {
		if err := durable.WriteFile(fsys, meta, []byte(s), 0o600); err != nil {
			t.Fatalf("durable.WriteFile: %v", err)
		}
		if got := ReadFile(t, fsys, meta); string(got) != s {
			t.Fatalf("after WriteFile(%q): %q", s, got)
		}
	}
}

func testSeekReadAtWriteAt(t *testing.T, fsys afero.Fs, root string) {
	name := path.Join(root, "digits")
	WriteFile(t, fsys, name, []byte("0123456789"))
	f, err := fsys.OpenFile(name, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 3)
	if n, err := f.ReadAt(buf, 4); n != 3 || err != nil || string(buf) != "456" {
		t.Errorf("ReadAt(4) = %d %v %q", n, err, buf)
	}
	if _, err := f.Seek(2, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	if n, err := io.ReadFull(f, buf[:2]); n != 2 || err != nil || string(buf[:2]) != "23" {
		t.Errorf("Read after Seek = %d %v %q", n, err, buf[:2])
	}
	if _, err := f.WriteString("XY"); err != nil { // at offset 4, after the read
		t.Errorf("WriteString: %v", err)
	}
	if n, err := f.WriteAt([]byte("ab"), 8); n != 2 || err != nil {
		t.Errorf("WriteAt = %d %v", n, err)
	}
	if err := f.Truncate(9); err != nil {
		t.Errorf("Truncate: %v", err)
	}
	f.Close()
	if got := ReadFile(t, fsys, name); string(got) != "0123XY67a" {
		t.Errorf("content = %q, want 0123XY67a", got)
	}
	// Reading past the end is io.EOF, unwrapped, as callers compare it.
	g, err := fsys.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if _, err := g.ReadAt(buf, 100); err != io.EOF {
		t.Errorf("ReadAt past the end: %v, want io.EOF", err)
	}
}

func testMkdir(t *testing.T, fsys afero.Fs, root string) {
	d := path.Join(root, "d")
	if err := fsys.Mkdir(d, 0o700); err != nil {
		t.Fatal(err)
	}
	if fi, err := fsys.Stat(d); err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o700 {
		t.Errorf("stat of a new directory: %v %v", fi, err)
	}
	wantErr(t, "mkdir of an existing directory", fsys.Mkdir(d, 0o700), os.ErrExist)
	deep := path.Join(root, "a", "b", "c")
	for range 2 { // idempotent
		if err := fsys.MkdirAll(deep, 0o750); err != nil {
			t.Fatalf("MkdirAll: %v", err)
		}
	}
	if fi, err := fsys.Stat(path.Join(root, "a", "b")); err != nil || !fi.IsDir() {
		t.Errorf("MkdirAll parents: %v %v", fi, err)
	}
	file := path.Join(root, "file")
	WriteFile(t, fsys, file, nil)
	if err := fsys.MkdirAll(path.Join(file, "sub"), 0o700); err == nil {
		t.Error("MkdirAll through a regular file succeeded")
	}
}

func testRenameFile(t *testing.T, fsys afero.Fs, root string) {
	a, b := path.Join(root, "a"), path.Join(root, "b")
	WriteFile(t, fsys, a, []byte("new"))
	if err := fsys.Rename(a, path.Join(root, "c")); err != nil {
		t.Fatalf("rename to a new name: %v", err)
	}
	WriteFile(t, fsys, b, []byte("old"))
	// A file replaces a file, as rename(2) does: durable.WriteFile relies on it.
	if err := fsys.Rename(path.Join(root, "c"), b); err != nil {
		t.Fatalf("rename onto an existing file: %v", err)
	}
	if got := ReadFile(t, fsys, b); string(got) != "new" {
		t.Errorf("after replacing rename: %q", got)
	}
	if _, err := fsys.Stat(path.Join(root, "c")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("old name still there: %v", err)
	}
	wantErr(t, "rename of a missing file", fsys.Rename(a, path.Join(root, "z")), os.ErrNotExist)
	wantErr(t, "rename into a missing directory", fsys.Rename(b, path.Join(root, "missing", "b")), os.ErrNotExist)
	mkdir(t, fsys, path.Join(root, "dir"))
	if err := fsys.Rename(b, path.Join(root, "dir")); err == nil {
		t.Error("a file replaced a directory")
	}
}

func testRenameDir(t *testing.T, fsys afero.Fs, root string) {
	src, full, empty := path.Join(root, "src"), path.Join(root, "full"), path.Join(root, "empty")
	for _, d := range []string{src, full, empty} {
		mkdir(t, fsys, d)
	}
	WriteFile(t, fsys, path.Join(src, "f"), []byte("src"))
	WriteFile(t, fsys, path.Join(full, "g"), []byte("full"))
	// A snapshot moved into place never replaces another, not even an
	// empty directory (rename(2) would replace an empty one).
	wantErr(t, "rename a directory onto a non-empty one", fsys.Rename(src, full), os.ErrExist)
	wantErr(t, "rename a directory onto an empty one", fsys.Rename(src, empty), os.ErrExist)
	if got := ReadFile(t, fsys, path.Join(full, "g")); string(got) != "full" {
		t.Errorf("target directory changed: %q", got)
	}
	if _, err := fsys.Stat(path.Join(full, "f")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("directories merged: %v", err)
	}
	if got := ReadFile(t, fsys, path.Join(src, "f")); string(got) != "src" {
		t.Errorf("source changed: %q", got)
	}
	dst := path.Join(root, "moved")
	if err := fsys.Rename(src, dst); err != nil {
		t.Fatalf("rename a directory to a new name: %v", err)
	}
	if got := ReadFile(t, fsys, path.Join(dst, "f")); string(got) != "src" {
		t.Errorf("children did not move: %q", got)
	}
	if _, err := fsys.Stat(src); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("source still there: %v", err)
	}
}

func testRemove(t *testing.T, fsys afero.Fs, root string) {
	d := path.Join(root, "d")
	mkdir(t, fsys, d)
	WriteFile(t, fsys, path.Join(d, "f"), []byte("x"))
	if err := fsys.Remove(d); err == nil {
		t.Error("Remove of a non-empty directory succeeded")
	}
	if err := fsys.Remove(path.Join(d, "f")); err != nil {
		t.Errorf("Remove of a file: %v", err)
	}
	if err := fsys.Remove(d); err != nil {
		t.Errorf("Remove of an empty directory: %v", err)
	}
	wantErr(t, "Remove of a missing name", fsys.Remove(d), os.ErrNotExist)
}

func testRemoveAll(t *testing.T, fsys afero.Fs, root string) {
	tree := path.Join(root, "tree")
	for _, d := range []string{"", "a", "a/b", "a/b/c", "e"} {
		mkdir(t, fsys, path.Join(tree, d))
	}
	for i := range 40 {
		dirs := []string{"", "a", "a/b", "a/b/c"}
		WriteFile(t, fsys, path.Join(tree, dirs[i%len(dirs)], string(rune('A'+i))+".bin"), []byte{byte(i)})
	}
	if err := fsys.RemoveAll(tree); err != nil {
		t.Fatalf("RemoveAll: %v", err)
	}
	if _, err := fsys.Stat(tree); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("tree still there after RemoveAll: %v", err)
	}
	if err := fsys.RemoveAll(tree); err != nil {
		t.Errorf("RemoveAll of a missing name: %v, want nil", err)
	}
	f := path.Join(root, "single")
	WriteFile(t, fsys, f, []byte("x"))
	if err := fsys.RemoveAll(f); err != nil {
		t.Errorf("RemoveAll of a file: %v", err)
	}
	if _, err := fsys.Stat(f); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("file still there: %v", err)
	}
	if entries, _ := afero.ReadDir(fsys, root); len(entries) != 0 {
		t.Errorf("root not empty: %d entries", len(entries))
	}
}

func testReadDir(t *testing.T, fsys afero.Fs, root string) {
	d := path.Join(root, "list")
	mkdir(t, fsys, d)
	want := []string{"20260101T000000Z", "20260407T060000Z", "A", "b", "c.json", "z"}
	for _, i := range []int{3, 0, 5, 1, 4, 2} {
		if want[i] == "b" {
			mkdir(t, fsys, path.Join(d, want[i]))
			continue
		}
		WriteFile(t, fsys, path.Join(d, want[i]), []byte(want[i]))
	}
	entries, err := afero.ReadDir(fsys, d)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
		if e.IsDir() != (e.Name() == "b") {
			t.Errorf("%s: IsDir = %v", e.Name(), e.IsDir())
		}
	}
	if !slices.Equal(names, want) {
		t.Errorf("ReadDir = %v, want %v", names, want)
	}
	f, err := fsys.Open(d)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var paged []string
	for {
		fis, err := f.Readdir(4)
		for _, fi := range fis {
			paged = append(paged, fi.Name())
		}
		if err == io.EOF {
			break
		}
		if err != nil || len(fis) == 0 {
			t.Fatalf("Readdir(4): %d entries, %v", len(fis), err)
		}
	}
	slices.Sort(paged)
	if !slices.Equal(paged, want) {
		t.Errorf("Readdir(4) pages = %v", paged)
	}
	g, err := fsys.Open(d)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	all, err := g.Readdirnames(-1)
	slices.Sort(all)
	if err != nil || !slices.Equal(all, want) {
		t.Errorf("Readdirnames(-1) = %v, %v", all, err)
	}
}

func testNotExist(t *testing.T, fsys afero.Fs, root string) {
	m := path.Join(root, "missing")
	_, err := fsys.Open(m)
	wantErr(t, "Open", err, os.ErrNotExist)
	_, err = fsys.OpenFile(m, os.O_WRONLY, 0)
	wantErr(t, "OpenFile(O_WRONLY)", err, os.ErrNotExist)
	_, err = fsys.Stat(m)
	wantErr(t, "Stat", err, os.ErrNotExist)
	if l, ok := fsys.(afero.Lstater); ok {
		_, _, err = l.LstatIfPossible(m)
		wantErr(t, "LstatIfPossible", err, os.ErrNotExist)
	}
	wantErr(t, "Remove", fsys.Remove(m), os.ErrNotExist)
	wantErr(t, "Rename", fsys.Rename(m, m+"2"), os.ErrNotExist)
	wantErr(t, "Chmod", fsys.Chmod(m, 0o600), os.ErrNotExist)
	wantErr(t, "Chtimes", fsys.Chtimes(m, time.Now(), time.Now()), os.ErrNotExist)
	_, err = afero.ReadDir(fsys, m)
	wantErr(t, "ReadDir", err, os.ErrNotExist)
	_, err = afero.ReadFile(fsys, path.Join(m, "x"))
	wantErr(t, "ReadFile under a missing directory", err, os.ErrNotExist)
}

func testChmodChtimes(t *testing.T, fsys afero.Fs, root string) {
	name := path.Join(root, "f")
	WriteFile(t, fsys, name, []byte("x"))
	if err := fsys.Chmod(name, 0o640); err != nil {
		t.Fatal(err)
	}
	mtime := time.Date(2026, 4, 7, 6, 0, 0, 0, time.UTC)
	if err := fsys.Chtimes(name, mtime, mtime); err != nil {
		t.Fatal(err)
	}
	fi, err := fsys.Stat(name)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o640 {
		t.Errorf("mode = %v, want 0640", fi.Mode())
	}
	if !fi.ModTime().Equal(mtime) {
		t.Errorf("mtime = %v, want %v", fi.ModTime(), mtime)
	}
}

func testSync(t *testing.T, fsys afero.Fs, root string) {
	f, err := fsys.OpenFile(path.Join(root, "s"), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte("durable")); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Errorf("File.Sync: %v", err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := durable.SyncDir(fsys, root); err != nil {
		t.Errorf("durable.SyncDir(root): %v", err)
	}
}
