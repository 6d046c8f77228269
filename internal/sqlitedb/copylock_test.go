package sqlitedb

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// walHolderPy is the other process of the lock tests (the AtoCore service,
// say): it commits n rows to the live database, each in its own
// transaction, with automatic checkpoints off so that they stay in the
// -wal, and keeps its connection open. On "close" it closes it: when it can
// take an EXCLUSIVE lock on the database file, SQLite takes itself for the
// last connection, checkpoints and deletes the -wal. It then reports
// whether the -wal is still there.
const walHolderPy = `
import os, sqlite3, sys
path, n = sys.argv[1], int(sys.argv[2])
c = sqlite3.connect(path, isolation_level=None, timeout=10)
c.execute("PRAGMA wal_autocheckpoint=0")
if c.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
    sys.exit("not in WAL mode")
for i in range(n):
    c.execute("INSERT INTO t(v) VALUES (?)", ("held %d" % i,))
print("ready", flush=True)
if sys.stdin.readline().strip() != "close":
    sys.exit("no close")
c.close()
print("closed", "wal" if os.path.exists(path + "-wal") else "nowal", flush=True)
`

// walHolder is a running walHolderPy.
type walHolder struct {
	t     *testing.T
	cmd   *exec.Cmd
	in    io.WriteCloser
	lines chan string
}

func startWALHolder(t *testing.T, path string, n int) *walHolder {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	cmd := exec.CommandContext(ctx, "python3", "-c", walHolderPy, path, fmt.Sprint(n))
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	h := &walHolder{t: t, cmd: cmd, in: in, lines: make(chan string, 4)}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			h.lines <- sc.Text()
		}
		close(h.lines)
	}()
	t.Cleanup(func() { in.Close(); _ = cmd.Wait() })
	if l := h.line(); l != "ready" {
		t.Fatalf("helper process: %q, want ready", l)
	}
	return h
}

// line waits (at most 30 s) for the helper's next line.
func (h *walHolder) line() string {
	select {
	case l := <-h.lines:
		return l
	case <-time.After(30 * time.Second):
		h.t.Error("helper process silent for 30 s")
		return ""
	}
}

// closeConn tells the helper to close its connection.
func (h *walHolder) closeConn() {
	if _, err := io.WriteString(h.in, "close\n"); err != nil {
		h.t.Errorf("tell the helper to close: %v", err)
	}
}

// walDBWithPad makes a WAL database of base rows (about 6 MiB) whose
// connections are all closed, so its -wal is gone.
func walDBWithPad(t *testing.T, base int) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "live.db")
	db, err := sql.Open("sqlite", dsn(p, "_pragma=journal_mode(wal)"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT, pad BLOB)"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM c WHERE i < ?) "+
		"INSERT INTO t(v, pad) SELECT 'base', zeroblob(3000) FROM c", base); err != nil {
		t.Fatal(err)
	}
	return p
}

// The service (another process) closes its last connection at each moment
// of a copy, or while the database file is being copied: closing makes
// SQLite there checkpoint and delete the -wal if it finds no other
// connection's lock on the database file. The copy holds such a lock for
// its whole read transaction, so the -wal stays and every row committed
// before the copy began is in the copy.
func TestOnlineCopyKeepsWALWhenServiceCloses(t *testing.T) {
	const base, held = 2000, 100
	for _, tc := range []struct {
		name string
		at   copyPoint
		wait bool // the close has finished before the copy goes on
	}{
		{"after begin-read", atBegun, true},
		{"after the database file", atMainCopied, true},
		{"after the -wal", atWALCopied, true},
		{"during the database file", atBegun, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := walDBWithPad(t, base)
			h := startWALHolder(t, src, held)
			if fi, err := os.Stat(src + "-wal"); err != nil || fi.Size() < held*1024 {
				t.Fatalf("the %d rows must be in the -wal: %v, %v", held, fi, err)
			}
			var report string
			copyHook = func(p copyPoint) {
				if p != tc.at {
					return
				}
				h.closeConn()
				if tc.wait {
					report = h.line()
				}
			}
			defer func() { copyHook = nil }()
			dst := filepath.Join(t.TempDir(), "copy.db")
			if _, err := OnlineCopy(context.Background(), src, dst); err != nil {
				t.Fatal(err)
			}
			if !tc.wait {
				report = h.line()
			}
			if report != "closed wal" {
				t.Errorf("the other process closed with %q: it checkpointed and deleted the -wal during the copy", report)
			}
			if n := count(t, dst); n != base+held {
				t.Fatalf("copy has %d rows; want %d (%d of the %d rows committed before the copy are missing)",
					n, base+held, base+held-n, held)
			}
		})
	}
}

// A connection of this process (an embedding server's) holds a read
// transaction on the live database while OnlineCopy runs: its lock on the
// database file must outlive the copy, which shares the process and so
// the (process, inode) POSIX locks.
func TestOnlineCopyKeepsThisProcessLocks(t *testing.T) {
	const base, held = 200, 50
	src := walDBWithPad(t, base)
	server, err := sql.Open("sqlite", dsn(src))
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	conn, err := server.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(context.Background(), "BEGIN"); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := conn.QueryRowContext(context.Background(), "SELECT count(*) FROM t").Scan(&n); err != nil || n != base {
		t.Fatalf("server read: %d, %v", n, err)
	}
	defer conn.ExecContext(context.Background(), "ROLLBACK")
	h := startWALHolder(t, src, held)
	if !holdsLock(t, src) {
		t.Fatal("the server connection's lock is not in /proc/locks: the test cannot see it")
	}
	dst := filepath.Join(t.TempDir(), "copy.db")
	if _, err := OnlineCopy(context.Background(), src, dst); err != nil {
		t.Fatal(err)
	}
	if !holdsLock(t, src) {
		t.Error("after OnlineCopy this process holds no lock on the database file: the copy dropped the server's locks")
	}
	// What the dropped lock would let happen: the other process, closing,
	// takes itself for the last connection and deletes the -wal.
	h.closeConn()
	if r := h.line(); r != "closed wal" {
		t.Errorf("the other process closed with %q: it found no lock of this process and deleted the -wal", r)
	}
	if got := count(t, dst); got != base+held {
		t.Errorf("copy has %d rows; want %d", got, base+held)
	}
}

// holdsLock reports whether /proc/locks lists a POSIX lock of this process
// on the inode of path.
func holdsLock(t *testing.T, path string) bool {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	ino := fi.Sys().(*syscall.Stat_t).Ino
	data, err := os.ReadFile("/proc/locks")
	if err != nil {
		t.Fatal(err)
	}
	pid := fmt.Sprint(os.Getpid())
	for _, l := range strings.Split(string(data), "\n") {
		f := strings.Fields(l)
		// 1: POSIX  ADVISORY  READ 1234 fd:00:5678 1073741826 1073742335
		if len(f) >= 6 && f[1] == "POSIX" && f[4] == pid && strings.HasSuffix(f[5], fmt.Sprintf(":%d", ino)) {
			return true
		}
	}
	return false
}

// IntegrityCheck of the live database (restore checks the file it put in
// place) must not drop the locks of this process's connections either.
func TestIntegrityCheckKeepsThisProcessLocks(t *testing.T) {
	src := walDBWithPad(t, 50)
	server, err := sql.Open("sqlite", dsn(src))
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	var n int
	if err := server.QueryRow("SELECT count(*) FROM t").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if !holdsLock(t, src) {
		t.Fatal("the server connection's lock is not in /proc/locks: the test cannot see it")
	}
	if res, err := IntegrityCheck(context.Background(), src); err != nil || !res.OK {
		t.Fatalf("IntegrityCheck = %+v, %v", res, err)
	}
	if !holdsLock(t, src) {
		t.Error("after IntegrityCheck this process holds no lock on the database file: the check dropped the server's locks")
	}
}

// IntegrityCheck, reading through SQLite only, still refuses an empty file
// (which SQLite takes for an empty database), a text file and a missing
// one.
func TestIntegrityCheckRefusesNonDatabases(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tc := range []struct {
		name, path, detail string
	}{
		{"empty", write("empty.db", nil), emptyFile},
		{"text", write("text.db", []byte(strings.Repeat("not a database ", 100))), notADatabase},
		{"short", write("short.db", []byte("SQLite")), notADatabase},
		{"missing", filepath.Join(dir, "missing.db"), "no such file or directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := IntegrityCheck(context.Background(), tc.path)
			if err != nil || res.OK || !strings.Contains(res.Detail, tc.detail) {
				t.Fatalf("IntegrityCheck(%s) = %+v, %v; want not OK with %q", tc.name, res, err, tc.detail)
			}
			if _, err := os.Stat(tc.path + "-shm"); err == nil {
				t.Fatal("the check left a -shm")
			}
		})
	}
}
