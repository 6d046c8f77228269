package durable

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Files that are not regular are refused by OpenRegular and CopyRaw
// without being read: a FIFO would block, /dev/zero never ends.
func TestNotRegularFilesAreRefusedUnread(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink("/dev/zero", link); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, path, kind string }{
		{"FIFO", fifo, "FIFO"},
		{"character device", "/dev/zero", "character device"},
		{"link to a device", link, "character device"},
		{"directory", dir, "directory"},
	} {
		t.Run(c.name, func(t *testing.T) {
			done := make(chan error, 2)
			go func() {
				f, _, err := OpenRegular(c.path)
				if f != nil {
					f.Close()
				}
				done <- err
			}()
			go func() {
				done <- CopyRaw(context.Background(), c.path, filepath.Join(t.TempDir(), "copy"), 0o600)
			}()
			for range 2 {
				select {
				case err := <-done:
					var nr *NotRegularError
					if !errors.Is(err, ErrNotRegular) || !errors.As(err, &nr) || nr.Path != c.path ||
						!strings.Contains(err.Error(), c.kind) {
						t.Fatalf("err = %v, want a NotRegularError naming %s as a %s", err, c.path, c.kind)
					}
				case <-time.After(5 * time.Second):
					t.Fatalf("%s was read instead of refused", c.path)
				}
			}
		})
	}
	reg := filepath.Join(dir, "regular")
	if err := os.WriteFile(reg, []byte("data"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, fi, err := OpenRegular(reg)
	if err != nil || fi.Size() != 4 {
		t.Fatalf("regular file: %v, %v", fi, err)
	}
	f.Close()
}
