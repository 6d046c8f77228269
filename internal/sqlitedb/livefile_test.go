package sqlitedb

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// Copies of the same database share one kept descriptor: what stays open
// is bounded by the number of database inodes, not of copies.
func TestLiveFileOneDescriptorPerInode(t *testing.T) {
	src := makeWALDB(t, 10)
	dir := t.TempDir()
	copyOnce := func(name string) {
		if _, err := OnlineCopy(context.Background(), src, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	copyOnce("first.db")
	kept := keptCount()
	fds := openFDs(t)
	for _, name := range []string{"a.db", "b.db", "c.db", "d.db", "e.db"} {
		copyOnce(name)
	}
	if n := keptCount(); n != kept {
		t.Errorf("kept descriptors: %d after 5 more copies of one file, want %d", n, kept)
	}
	if n := openFDs(t); n > fds {
		t.Errorf("open descriptors grew from %d to %d over 5 copies of one file", fds, n)
	}
}

// A database file replaced (renamed over) between the moment SQLite opened
// it and the copy is refused with ErrReplaced, and the copy is removed: the
// path no longer names what the read transaction reads.
func TestOnlineCopyRefusesReplacedFile(t *testing.T) {
	src := makeWALDB(t, 10)
	other := makeWALDB(t, 20)
	copyHook = func(p copyPoint) {
		if p == atBegun {
			if err := os.Rename(other, src); err != nil {
				t.Error(err)
			}
		}
	}
	defer func() { copyHook = nil }()
	dst := filepath.Join(t.TempDir(), "copy.db")
	if _, err := OnlineCopy(context.Background(), src, dst); !errors.Is(err, ErrReplaced) {
		t.Fatalf("OnlineCopy of a replaced file = %v, want ErrReplaced", err)
	}
	if _, err := os.Stat(dst); !os.IsNotExist(err) {
		t.Fatalf("a refused copy left %s", dst)
	}
	copyHook = nil
	if _, err := OnlineCopy(context.Background(), src, dst); err != nil {
		t.Fatalf("the next copy: %v", err)
	}
	if n := count(t, dst); n != 20 {
		t.Fatalf("the next copy has %d rows, want the new file's 20", n)
	}
}

func keptCount() int {
	liveFiles.mu.Lock()
	defer liveFiles.mu.Unlock()
	return len(liveFiles.m) + len(leaked)
}

func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}
