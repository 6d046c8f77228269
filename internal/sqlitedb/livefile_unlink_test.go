package sqlitedb

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// keeps reports whether the registry holds a descriptor of the inode fi.
func keeps(fi os.FileInfo) bool {
	id, _ := idOf(fi)
	liveFiles.mu.Lock()
	defer liveFiles.mu.Unlock()
	_, ok := liveFiles.m[id]
	return ok
}

// A kept descriptor of a database file that was replaced (a restore renamed
// a new file over it) is closed at the next use of the registry: a long
// running process does not pin one old copy per restore on disk.
func TestLiveFileOfAReplacedDatabaseIsClosed(t *testing.T) {
	db := makeWALDB(t, 10)
	dir := filepath.Dir(db)
	copyOnce := func(name string) {
		t.Helper()
		if _, err := OnlineCopy(context.Background(), db, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	copyOnce("c1.db")
	old, err := os.Stat(db)
	if err != nil {
		t.Fatal(err)
	}
	if !keeps(old) {
		t.Fatal("the copy kept no descriptor of the live file")
	}
	// Replace the live file, as a restore does.
	if err := os.Rename(filepath.Join(dir, "c1.db"), db); err != nil {
		t.Fatal(err)
	}
	copyOnce("c2.db")
	if keeps(old) {
		t.Fatal("the descriptor of the replaced file is still kept")
	}
	now, _ := os.Stat(db)
	if !keeps(now) {
		t.Fatal("no descriptor of the new live file")
	}
	CloseLiveFile(db)
	if keeps(now) {
		t.Fatal("CloseLiveFile left the descriptor")
	}
}
