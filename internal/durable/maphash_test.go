package durable

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

func randomFile(t *testing.T, dir, name string, n int) ([]byte, string) {
	t.Helper()
	data := make([]byte, n)
	r := rand.New(rand.NewPCG(uint64(n), 7))
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return data, p
}

func sumOf(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// CopyFileKernel writes a byte-exact copy and returns the digest of the
// copy, for empty files, files of less than a page, and files whose size
// is not a multiple of the hashing window or of a page.
func TestCopyFileKernel(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []int{0, 1, 4095, 4097, hashWindow, hashWindow + 1, 2*hashWindow + 5000} {
		data, src := randomFile(t, dir, "src", n)
		in, err := os.Open(src)
		if err != nil {
			t.Fatal(err)
		}
		dst := filepath.Join(dir, "dst")
		d, err := CopyFileKernel(context.Background(), in, dst, 0o600)
		in.Close()
		if err != nil {
			t.Fatalf("%d bytes: %v", n, err)
		}
		got, err := os.ReadFile(dst)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, data) || d.Size != int64(n) || d.SHA256 != sumOf(data) {
			t.Fatalf("%d bytes: copy of %d bytes, digest %+v, want %s", n, len(got), d, sumOf(data))
		}
		if fi, _ := os.Stat(dst); fi.Mode().Perm() != 0o600 {
			t.Fatalf("mode %v", fi.Mode())
		}
		h, err := HashOSFile(context.Background(), dst)
		if err != nil || h != d {
			t.Fatalf("HashOSFile = %+v, %v; want %+v", h, err, d)
		}
		os.Remove(dst)
	}
}

// CopyFileKernel never overwrites: an existing destination is an error
// and is left as it was.
func TestCopyFileKernelRefusesAnExistingFile(t *testing.T) {
	dir := t.TempDir()
	_, src := randomFile(t, dir, "src", 1000)
	_, dst := randomFile(t, dir, "dst", 10)
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	if _, err := CopyFileKernel(context.Background(), in, dst, 0o600); err == nil {
		t.Fatal("copy over an existing file succeeded")
	}
	if fi, err := os.Stat(dst); err != nil || fi.Size() != 10 {
		t.Fatalf("existing file changed: %v %v", fi, err)
	}
}

// A file that is shorter than the range being hashed (truncated while it
// was mapped) is an error, not a crash of the process.
func TestHashRangeOfATruncatedFile(t *testing.T) {
	dir := t.TempDir()
	_, p := randomFile(t, dir, "f", 5000)
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	err = hashRange(context.Background(), f, 0, 5*int64(os.Getpagesize()), sha256.New())
	if !errors.Is(err, errShrunk) {
		t.Fatalf("hashRange past the end = %v, want errShrunk", err)
	}
}

// The fallback of a filesystem without copy_file_range copies and hashes
// the rest of the file from where the kernel copy stopped.
func TestCopyReadAtHashedFromAnOffset(t *testing.T) {
	dir := t.TempDir()
	data, src := randomFile(t, dir, "src", 3<<20+17)
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(filepath.Join(dir, "dst"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	const off = 1<<20 + 3
	if _, err := out.Write(data[:off]); err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	h.Write(data[:off])
	n, err := copyReadAtHashed(context.Background(), in, out, off, h)
	if err != nil || n != int64(len(data)) {
		t.Fatalf("copyReadAtHashed = %d, %v", n, err)
	}
	got, _ := os.ReadFile(filepath.Join(dir, "dst"))
	if !bytes.Equal(got, data) || hex.EncodeToString(h.Sum(nil)) != sumOf(data) {
		t.Fatal("copy or digest differs from the source")
	}
}
