package holders

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// startHolder runs python3 with an idle sqlite3 connection to db (in the
// given journal mode) and waits until it says it is ready.
func startHolder(t *testing.T, db, journal string) *exec.Cmd {
	t.Helper()
	script := `import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
c.execute("PRAGMA journal_mode=" + sys.argv[2])
c.execute("CREATE TABLE IF NOT EXISTS t(x)")
c.commit()
print("ready", flush=True)
sys.stdin.read()
`
	cmd := exec.Command("python3", "-c", script, db, journal)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("python3: %v", err)
	}
	t.Cleanup(func() { stdin.Close(); _ = cmd.Wait() })
	ready := make(chan error, 1)
	go func() {
		line, err := bufio.NewReader(out).ReadString('\n')
		if err == nil && strings.TrimSpace(line) != "ready" {
			err = os.ErrInvalid
		}
		ready <- err
	}()
	select {
	case err := <-ready:
		if err != nil {
			t.Fatalf("holder did not start: %v", err)
		}
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("holder did not start within 30 s")
	}
	return cmd
}

func TestOfFindsAnIdleConnection(t *testing.T) {
	for _, journal := range []string{"delete", "wal"} {
		t.Run(journal, func(t *testing.T) {
			db := filepath.Join(t.TempDir(), "atocore.db")
			cmd := startHolder(t, db, journal)
			hs, err := Of([]string{db, db + "-wal", db + "-shm"})
			if err != nil {
				t.Fatal(err)
			}
			if len(hs) == 0 {
				t.Fatalf("no holder found for %s held idle by pid %d", db, cmd.Process.Pid)
			}
			h := hs[0]
			if h.PID != cmd.Process.Pid || !strings.Contains(h.Command, "python3") {
				t.Fatalf("holder %+v, want pid %d running python3", h, cmd.Process.Pid)
			}
			if !strings.Contains(h.String(), "pid ") || !strings.Contains(h.String(), db) {
				t.Fatalf("message %q names neither the pid nor the file", h)
			}
		})
	}
}

func TestOfIgnoresThisProcessAndOtherFiles(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "atocore.db")
	if err := os.WriteFile(db, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(db) // held by this process: not "another process"
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	other := filepath.Join(dir, "other.db")
	startHolder(t, other, "delete")
	hs, err := Of([]string{db, filepath.Join(dir, "missing.db")})
	if err != nil {
		t.Fatal(err)
	}
	if len(hs) != 0 {
		t.Fatalf("holders %v, want none", hs)
	}
}

func TestParseLockID(t *testing.T) {
	id, ok := parseLockID("08:01:1234")
	if !ok || id.ino != 1234 || id.dev != mkdev(8, 1) {
		t.Fatalf("got %+v %v", id, ok)
	}
	for _, bad := range []string{"", "08:01", "zz:01:1", "08:01:x"} {
		if _, ok := parseLockID(bad); ok {
			t.Errorf("%q parsed", bad)
		}
	}
}

// The lock table alone finds a WAL-mode connection (its read lock on -shm),
// as it must for processes whose descriptors this one cannot read.
func TestScanLocksFindsAWALConnection(t *testing.T) {
	db := filepath.Join(t.TempDir(), "atocore.db")
	cmd := startHolder(t, db, "wal")
	var st syscallStat
	want := map[fileID]string{}
	if err := statID(db+"-shm", &st); err != nil {
		t.Fatal(err)
	}
	want[st.id] = db + "-shm"
	var got []int
	if err := scanLocks(want, func(pid int, path, how string) { got = append(got, pid) }); err != nil {
		t.Fatal(err)
	}
	if len(got) == 0 || got[0] != cmd.Process.Pid {
		t.Fatalf("lock holders %v, want pid %d", got, cmd.Process.Pid)
	}
}

// A child of this process that runs another program is not taken for a
// copy of this one (only a child between fork and exec is).
func TestForkOfSelfIsOnlyAnUnexecedChild(t *testing.T) {
	cmd := exec.Command("sleep", "5")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	if forkOfSelf(cmd.Process.Pid, os.Getpid()) {
		t.Error("a child running sleep was taken for a fork of this process")
	}
	if forkOfSelf(os.Getppid(), os.Getpid()) {
		t.Error("the parent was taken for a fork of this process")
	}
}
