package durable

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
)

// CopyFileDirect writes exactly the source's bytes, whatever their length
// against the alignment and the chunk size, with O_DIRECT and without.
func TestCopyFileDirect(t *testing.T) {
	sizes := []int{0, 1, directAlign - 1, directAlign, directAlign + 1, directChunk - 1, directChunk, directChunk + 1, 3*directChunk + 123}
	for _, direct := range []bool{true, false} {
		t.Run("direct="+strconv.FormatBool(direct), func(t *testing.T) {
			setDirectWrites(t, direct)
			dir := t.TempDir()
			rng := rand.New(rand.NewPCG(1, 2))
			for _, n := range sizes {
				data := make([]byte, n)
				for i := range data {
					data[i] = byte(rng.Uint32())
				}
				dst := filepath.Join(dir, "f"+strconv.Itoa(n))
				// iotest-style reads of odd sizes: the copy must not
				// depend on how the source hands out its bytes.
				d, err := CopyFileDirect(context.Background(), dst, &oddReader{r: bytes.NewReader(data)}, 0o640)
				if err != nil {
					t.Fatalf("%d bytes: %v", n, err)
				}
				sum := sha256.Sum256(data)
				if d.Size != int64(n) || d.SHA256 != hex.EncodeToString(sum[:]) {
					t.Fatalf("%d bytes: digest %+v", n, d)
				}
				got, err := os.ReadFile(dst)
				if err != nil || !bytes.Equal(got, data) {
					t.Fatalf("%d bytes: file holds %d bytes, equal=%v, %v", n, len(got), bytes.Equal(got, data), err)
				}
				if fi, _ := os.Stat(dst); fi.Mode().Perm() != 0o640 {
					t.Fatalf("%d bytes: mode %v", n, fi.Mode())
				}
			}
		})
	}
}

// A copy that fails (cancelled, unreadable source) leaves no file; an
// existing file is never overwritten.
func TestCopyFileDirectFailures(t *testing.T) {
	for _, direct := range []bool{true, false} {
		t.Run("direct="+strconv.FormatBool(direct), func(t *testing.T) {
			setDirectWrites(t, direct)
			dir := t.TempDir()
			dst := filepath.Join(dir, "f")
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			if _, err := CopyFileDirect(ctx, dst, bytes.NewReader(make([]byte, 3*directChunk)), 0o600); !errors.Is(err, context.Canceled) {
				t.Fatalf("cancelled copy: %v", err)
			}
			if _, err := os.Stat(dst); !errors.Is(err, os.ErrNotExist) {
				t.Fatal("a cancelled copy left its file")
			}
			broken := io.MultiReader(bytes.NewReader(make([]byte, directChunk+10)), errReader{})
			if _, err := CopyFileDirect(context.Background(), dst, broken, 0o600); !errors.Is(err, errBroken) {
				t.Fatalf("copy from a failing source: %v", err)
			}
			if _, err := os.Stat(dst); !errors.Is(err, os.ErrNotExist) {
				t.Fatal("a failed copy left its file")
			}
			if err := os.WriteFile(dst, []byte("keep"), 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := CopyFileDirect(context.Background(), dst, bytes.NewReader([]byte("new")), 0o600); !errors.Is(err, os.ErrExist) {
				t.Fatalf("copy over an existing file: %v", err)
			}
			if got, _ := os.ReadFile(dst); string(got) != "keep" {
				t.Fatalf("existing file became %q", got)
			}
		})
	}
}

func setDirectWrites(t *testing.T, on bool) {
	old := directWrites
	directWrites = on
	t.Cleanup(func() { directWrites = old })
}

var errBroken = errors.New("broken source")

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errBroken }

// oddReader returns at most 7919 bytes a call.
type oddReader struct{ r io.Reader }

func (o *oddReader) Read(p []byte) (int, error) { return o.r.Read(p[:min(len(p), 7919)]) }

// A write that O_DIRECT refuses (here: a buffer off the alignment, as a
// device with larger blocks would refuse ours) goes on through the page
// cache instead of failing.
func TestDirectWriteFallsBack(t *testing.T) {
	f, direct, err := openDirect(filepath.Join(t.TempDir(), "f"), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if !direct {
		t.Skip("this filesystem refuses O_DIRECT; the buffered path is tested elsewhere")
	}
	buf, err := mapAnon(2 * directAlign)
	if err != nil {
		t.Fatal(err)
	}
	data := buf[1 : 1+directAlign] // not aligned
	for i := range data {
		data[i] = byte(i)
	}
	if n, err := writeDirectChunk(f, data); err != nil || n != len(data) {
		t.Fatalf("write = %d, %v", n, err)
	}
	got, err := os.ReadFile(f.Name())
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("file holds %d bytes, %v", len(got), err)
	}
}

// Without aligned buffers (no memory map), a file already opened with
// O_DIRECT is written through the page cache, whatever its length.
func TestCopyFileDirectWithoutAlignedBuffers(t *testing.T) {
	old := directBufs
	directBufs = &sync.Pool{New: func() any { return nil }}
	t.Cleanup(func() { directBufs = old })
	data := bytes.Repeat([]byte("atocore"), 1000) // 7000 bytes: not a multiple of the alignment
	dst := filepath.Join(t.TempDir(), "f")
	d, err := CopyFileDirect(context.Background(), dst, bytes.NewReader(data), 0o600)
	if err != nil || d.Size != int64(len(data)) {
		t.Fatalf("copy = %+v, %v", d, err)
	}
	if got, _ := os.ReadFile(dst); !bytes.Equal(got, data) {
		t.Fatal("the file does not hold the source's bytes")
	}
}
