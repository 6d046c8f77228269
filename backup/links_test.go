package backup_test

import (
	"bufio"
	"database/sql"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/atocore/atocore-backup/backup"
	"github.com/atocore/atocore-backup/internal/sample"
	"github.com/atocore/atocore-backup/internal/testutil"
)

// commitAndHold makes a second process (python3's sqlite3) commit rows
// 1..n into table linked of the WAL database db and keep its connection
// open with automatic checkpoints off, so the commits stay in the -wal
// beside the file db names (the link's target when db is a link). It
// returns a function that commits n more.
func commitAndHold(t *testing.T, db string, n int) (more func()) {
	t.Helper()
	script := `import sqlite3, sys
c = sqlite3.connect(sys.argv[1], isolation_level=None)
c.execute("PRAGMA wal_autocheckpoint=0")
c.execute("CREATE TABLE IF NOT EXISTS linked(x INTEGER)")
def commit(n):
    start = c.execute("SELECT coalesce(max(x), 0) FROM linked").fetchone()[0]
    c.execute("BEGIN")
    for i in range(start + 1, start + n + 1):
        c.execute("INSERT INTO linked VALUES (?)", (i,))
    c.execute("COMMIT")
    print("ok", flush=True)
commit(int(sys.argv[2]))
for line in sys.stdin:
    commit(int(line))
`
	cmd := exec.Command("python3", "-c", script, db, strconv.Itoa(n))
	stdin, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatalf("python3: %v", err)
	}
	t.Cleanup(func() { stdin.Close(); _ = cmd.Wait() })
	lines := bufio.NewReader(out)
	wait := func() {
		done := make(chan string, 1)
		go func() { l, _ := lines.ReadString('\n'); done <- l }()
		select {
		case l := <-done:
			if strings.TrimSpace(l) != "ok" {
				t.Fatalf("writer: %q", l)
			}
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			t.Fatal("writer did not answer in 30 s")
		}
	}
	wait()
	return func() {
		if _, err := stdin.Write([]byte(strconv.Itoa(n) + "\n")); err != nil {
			t.Fatal(err)
		}
		wait()
	}
}

// linkedRows counts the rows of table linked in a snapshot's database.
func linkedRows(t *testing.T, path string) int {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro&immutable=1")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow("SELECT count(*) FROM linked").Scan(&n); err != nil {
		t.Fatalf("count rows in %s: %v", path, err)
	}
	return n
}

// moveBehindLink moves the live database to another directory (a volume
// elsewhere) and leaves a symbolic link in its place.
func moveBehindLink(t *testing.T, r *sample.Root) string {
	t.Helper()
	vol := filepath.Join(t.TempDir(), "vol")
	if err := os.Mkdir(vol, 0o700); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(vol, "atocore.db")
	if err := os.Rename(r.DBPath, target); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"-wal", "-shm"} {
		_ = os.Rename(r.DBPath+s, target+s)
	}
	if err := os.Symlink(target, r.DBPath); err != nil {
		t.Fatal(err)
	}
	return target
}

// A WAL database reached through a symbolic link keeps its -wal beside the
// link's target: create must copy that one, or every snapshot silently
// lacks the commits not yet checkpointed; and the unchanged-database
// hardlink must look at that -wal, or a later snapshot reuses an old copy.
func TestCreateThroughASymlinkedDatabaseHasEveryCommit(t *testing.T) {
	r := testutil.Root(t)
	target := moveBehindLink(t, r)
	more := commitAndHold(t, r.DBPath, 100)
	if _, err := os.Stat(target + "-wal"); err != nil {
		t.Fatalf("the commits are not in the target's -wal: %v", err)
	}
	m := testutil.Create(t, r, backup.CreateOptions{})
	if n := linkedRows(t, m.DBSnapshotPath); n != 100 {
		t.Fatalf("snapshot has %d of 100 committed rows", n)
	}
	if m.Source.DBPath != r.DBPath {
		t.Fatalf("metadata records %s, want the configured path %s", m.Source.DBPath, r.DBPath)
	}
	more()
	m2 := testutil.Create(t, r, backup.CreateOptions{})
	if n := linkedRows(t, m2.DBSnapshotPath); n != 200 {
		t.Fatalf("second snapshot has %d of 200 committed rows (an unchanged-database link was taken for a changed one?)", n)
	}
	if fi, err := os.Lstat(r.DBPath); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Fatal("create replaced the link")
	}
}
