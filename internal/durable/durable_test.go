package durable

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/spf13/afero"
)

func TestWriteFileReplacesAtomically(t *testing.T) {
	for name, fsys := range map[string]afero.Fs{"mem": afero.NewMemMapFs(), "os": afero.NewOsFs()} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			if name == "mem" {
				dir = "/d"
				_ = fsys.MkdirAll(dir, 0o700)
			}
			target := filepath.Join(dir, "f.json")
			for _, content := range []string{"one", "two"} {
				if err := WriteFile(fsys, target, []byte(content), 0o600); err != nil {
					t.Fatal(err)
				}
				got, _ := afero.ReadFile(fsys, target)
				if string(got) != content {
					t.Fatalf("content = %q, want %q", got, content)
				}
			}
			entries, _ := afero.ReadDir(fsys, dir)
			if len(entries) != 1 {
				t.Fatalf("leftover temporary files: %d entries", len(entries))
			}
			if fi, _ := fsys.Stat(target); fi.Mode().Perm() != 0o600 {
				t.Fatalf("mode = %v", fi.Mode())
			}
		})
	}
}

func TestWriteFileFailureLeavesTargetAlone(t *testing.T) {
	fsys := afero.NewMemMapFs()
	_ = afero.WriteFile(fsys, "/d/f", []byte("old"), 0o600)
	ro := afero.NewReadOnlyFs(fsys)
	if err := WriteFile(ro, "/d/f", []byte("new"), 0o600); err == nil {
		t.Fatal("write on a read-only filesystem succeeded")
	}
	got, _ := afero.ReadFile(fsys, "/d/f")
	if string(got) != "old" {
		t.Fatalf("target changed to %q", got)
	}
}

func TestCopyFileHashesAndRefusesOverwrite(t *testing.T) {
	fsys := afero.NewMemMapFs()
	_ = fsys.MkdirAll("/d", 0o700)
	data := bytes.Repeat([]byte("atocore"), 400_000) // spans several buffers
	d, err := CopyFile(context.Background(), fsys, "/d/x", bytes.NewReader(data), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	if d.Size != int64(len(data)) || d.SHA256 != hex.EncodeToString(sum[:]) {
		t.Fatalf("digest = %+v", d)
	}
	h, err := HashFile(context.Background(), fsys, "/d/x")
	if err != nil || h != d {
		t.Fatalf("HashFile = %+v, %v; want %+v", h, err, d)
	}
	if _, err := CopyFile(context.Background(), fsys, "/d/x", bytes.NewReader(nil), 0o600); !errors.Is(err, os.ErrExist) {
		t.Fatalf("second copy onto the same name: err = %v, want ErrExist", err)
	}
}

func TestCopyFileCancelled(t *testing.T) {
	fsys := afero.NewMemMapFs()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := CopyFile(ctx, fsys, "/x", bytes.NewReader([]byte("data")), 0o600); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if _, err := fsys.Stat("/x"); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("cancelled copy left its file behind")
	}
}

func TestOSPath(t *testing.T) {
	if p, ok := OSPath(afero.NewOsFs(), "/a/b"); !ok || p != "/a/b" {
		t.Fatalf("OsFs: %q %v", p, ok)
	}
	if _, ok := OSPath(afero.NewMemMapFs(), "/a"); ok {
		t.Fatal("MemMapFs reported an OS path")
	}
}

// shortWriter takes half of every buffer and claims no error, as some
// network filesystems do.
type shortWriter struct{}

func (shortWriter) Write(p []byte) (int, error) { return len(p) / 2, nil }

func TestSilentShortWriteIsAnError(t *testing.T) {
	_, err := copyHashed(context.Background(), shortWriter{}, bytes.NewReader(make([]byte, 4096)))
	if !errors.Is(err, io.ErrShortWrite) {
		t.Fatalf("err = %v, want io.ErrShortWrite", err)
	}
}
