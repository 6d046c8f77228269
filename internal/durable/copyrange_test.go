package durable

import (
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// CopyRawFrom copies the whole file whatever in's offset, leaves that
// offset alone (copies may share the descriptor), and never closes in.
func TestCopyRawFromSharesTheDescriptor(t *testing.T) {
	dir := t.TempDir()
	data := make([]byte, 3<<20+123)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	src := filepath.Join(dir, "src")
	if err := os.WriteFile(src, data, 0o600); err != nil {
		t.Fatal(err)
	}
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	if _, err := in.Seek(777, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() {
			errs[i] = CopyRawFrom(context.Background(), in, filepath.Join(dir, "dst"+string(rune('a'+i))), 0o600)
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join(dir, "dst"+string(rune('a'+i))))
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("copy %d differs (%d bytes, %v)", i, len(got), err)
		}
	}
	if off, err := in.Seek(0, io.SeekCurrent); err != nil || off != 777 {
		t.Fatalf("in's offset = %d, %v; want 777 (untouched)", off, err)
	}
	if _, err := in.Stat(); err != nil {
		t.Fatalf("in was closed: %v", err)
	}
}

// The pread fallback (for filesystems without copy_file_range) copies the
// rest of the file from where the kernel copy stopped.
func TestCopyReadAtFromOffset(t *testing.T) {
	dir := t.TempDir()
	data := bytes.Repeat([]byte("0123456789"), 300000)
	src := filepath.Join(dir, "src")
	if err := os.WriteFile(src, data, 0o600); err != nil {
		t.Fatal(err)
	}
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	dst := filepath.Join(dir, "dst")
	if err := os.WriteFile(dst, data[:5000], 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := os.OpenFile(dst, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := copyReadAt(context.Background(), in, out, 5000); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(dst); !bytes.Equal(got, data) {
		t.Fatalf("copy differs: %d bytes of %d", len(got), len(data))
	}
}

// A cancelled copy leaves no destination behind and in stays open.
func TestCopyRawFromCancelled(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	if err := os.WriteFile(src, make([]byte, 1<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	dst := filepath.Join(dir, "dst")
	if err := CopyRawFrom(ctx, in, dst, 0o600); err == nil {
		t.Fatal("a cancelled copy succeeded")
	}
	if _, err := os.Stat(dst); !os.IsNotExist(err) {
		t.Fatalf("cancelled copy left %s: %v", dst, err)
	}
	if _, err := in.Stat(); err != nil {
		t.Fatalf("in was closed: %v", err)
	}
}
