package durable

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/spf13/afero"
)

// startedRanges replaces writeStarter for one test and returns the byte
// ranges handed to the disk, per file name.
func startedRanges(t *testing.T) func() map[string][][2]int64 {
	t.Helper()
	var mu sync.Mutex
	got := map[string][][2]int64{}
	old := writeStarter
	writeStarter = func(f *os.File, off, n int64) {
		mu.Lock()
		defer mu.Unlock()
		got[filepath.Base(f.Name())] = append(got[filepath.Base(f.Name())], [2]int64{off, n})
		old(f, off, n)
	}
	t.Cleanup(func() { writeStarter = old })
	return func() map[string][][2]int64 {
		mu.Lock()
		defer mu.Unlock()
		return got
	}
}

// checkCovers fails unless ranges start at 0, follow each other without a
// gap or an overlap, end at size, and are at least a window long but the last.
func checkCovers(t *testing.T, name string, ranges [][2]int64, size int64) {
	t.Helper()
	var next int64
	for i, r := range ranges {
		if r[0] != next {
			t.Fatalf("%s: range %d starts at %d, want %d (ranges %v)", name, i, r[0], next, ranges)
		}
		if i < len(ranges)-1 && r[1] < writebackWindow {
			t.Errorf("%s: range %d is %d bytes, under the %d-byte window", name, i, r[1], writebackWindow)
		}
		next = r[0] + r[1]
	}
	if next != size {
		t.Fatalf("%s: ranges end at %d, want the file's %d bytes (ranges %v)", name, next, size, ranges)
	}
}

// The copies that fill a snapshot or a restore start the disk writes of
// what they wrote, window by window, and the rest at the end: the final
// sync then finds the bytes already on their way to the disk.
func TestCopiesStartWritebackOfEveryByte(t *testing.T) {
	dir := t.TempDir()
	size := int64(2*writebackWindow + 12345)
	data := bytes.Repeat([]byte("atocore-backup writeback "), int(size/25)+1)[:size]
	src := filepath.Join(dir, "src")
	if err := os.WriteFile(src, data, 0o600); err != nil {
		t.Fatal(err)
	}
	got := startedRanges(t)
	ctx := context.Background()

	if err := CopyRaw(ctx, src, filepath.Join(dir, "raw"), 0o600); err != nil {
		t.Fatal(err)
	}
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	if _, err := CopyFileUnsynced(ctx, afero.NewOsFs(), filepath.Join(dir, "hashed"), in, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := os.Create(filepath.Join(dir, "readat"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	if err := copyReadAt(ctx, in, out, 0); err != nil {
		t.Fatal(err)
	}
	ranges := got()
	for _, name := range []string{"raw", "hashed", "readat"} {
		checkCovers(t, name, ranges[name], size)
	}
}

// A file that is not an OS file (an in-memory one) has no disk: nothing
// is started and the copy works as before.
func TestWritebackOnlyForOSFiles(t *testing.T) {
	got := startedRanges(t)
	fsys := afero.NewMemMapFs()
	if _, err := CopyFileUnsynced(context.Background(), fsys, "/f", bytes.NewReader(make([]byte, writebackWindow+1)), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := got(); len(r) != 0 {
		t.Fatalf("writeback started on an in-memory file: %v", r)
	}
}

// A restore's small files go through the page cache (their writeback
// started at once), its large ones around it: a direct write waits for
// the disk once per file. Both come out whole, with the digest of their bytes.
func TestCopyFileSizedPicksThePathBySize(t *testing.T) {
	dir := t.TempDir()
	// Where the filesystem refuses O_DIRECT, large files go through the
	// page cache too (CopyFileDirect's fallback).
	probe, direct, err := openDirect(filepath.Join(dir, "probe"), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	probe.Close()
	got := startedRanges(t)
	for _, tc := range []struct {
		name     string
		size     int64
		buffered bool
	}{
		{"small", 100 << 10, true},
		{"large", directMinSize + 4096, !direct},
	} {
		data := bytes.Repeat([]byte{0xa5, 0x17}, int(tc.size/2))
		dst := filepath.Join(dir, tc.name)
		d, err := CopyFileSized(context.Background(), dst, bytes.NewReader(data), 0o600, tc.size)
		if err != nil {
			t.Fatal(err)
		}
		back, err := os.ReadFile(dst)
		if err != nil || !bytes.Equal(back, data) || d.Size != tc.size {
			t.Fatalf("%s: copy differs (size %d, err %v)", tc.name, d.Size, err)
		}
		if _, kicked := got()[tc.name]; kicked != tc.buffered {
			t.Errorf("%s: writeback started %v, want %v (buffered only below %d bytes)", tc.name, kicked, tc.buffered, directMinSize)
		}
	}
}
