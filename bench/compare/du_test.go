package main

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// blocks is st_blocks × 512 of one path, the unit diskUsage adds up.
func blocks(t *testing.T, p string) int64 {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Lstat(p, &st); err != nil {
		t.Fatal(err)
	}
	return st.Blocks * 512
}

func TestDiskUsageCountsHardlinksOnce(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	if err := os.MkdirAll(a, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(b, 0o700); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(a, "segment.bin")
	if err := os.WriteFile(file, make([]byte, 256<<10), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(file, filepath.Join(a, "same-dir-link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(file, filepath.Join(b, "other-dir-link")); err != nil {
		t.Fatal(err)
	}
	fileBlocks := blocks(t, file)
	if fileBlocks == 0 {
		t.Skip("the file system allocated no blocks for a 256 KiB file")
	}

	got, err := diskUsage(a)
	if err != nil {
		t.Fatal(err)
	}
	if want := blocks(t, a) + fileBlocks; got != want {
		t.Errorf("diskUsage(a) = %d; want %d (the directory plus one file, however many names)", got, want)
	}
	got, err = diskUsage(a, b)
	if err != nil {
		t.Fatal(err)
	}
	if want := blocks(t, a) + blocks(t, b) + fileBlocks; got != want {
		t.Errorf("diskUsage(a, b) = %d; want %d (a link in another tree counts no more)", got, want)
	}
	got, err = diskUsage(b)
	if err != nil {
		t.Fatal(err)
	}
	if want := blocks(t, b) + fileBlocks; got != want {
		t.Errorf("diskUsage(b) = %d; want %d (the link alone counts its inode)", got, want)
	}
}

func TestDiskUsageMissingPathIsZero(t *testing.T) {
	got, err := diskUsage(filepath.Join(t.TempDir(), "absent"))
	if err != nil || got != 0 {
		t.Errorf("diskUsage(absent) = %d, %v; want 0, nil", got, err)
	}
}

func TestDiskUsageGrowthOfACopy(t *testing.T) {
	dir := t.TempDir()
	before, err := diskUsage(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "new"), make([]byte, 1<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	after, err := diskUsage(dir)
	if err != nil {
		t.Fatal(err)
	}
	if growth := after - before; growth < 1<<20 || growth > 1<<20+64<<10 {
		t.Errorf("growth after writing 1 MiB = %d bytes; want about 1 MiB", growth)
	}
}
