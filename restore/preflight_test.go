package restore_test

import (
	"bufio"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/atocore/atocore-backup/backup"
	"github.com/atocore/atocore-backup/internal/sample"
	"github.com/atocore/atocore-backup/internal/testutil"
	"github.com/atocore/atocore-backup/restore"
)

// wholeRoot is every file under the AtoCore root, the backup directory
// included, with its content: what a refusal must leave as it was.
func wholeRoot(t *testing.T, r *sample.Root) map[string]string {
	t.Helper()
	state := map[string]string{}
	err := filepath.Walk(r.Dir, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if !info.IsDir() && filepath.Base(p) != ".lock" {
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			state[p] = info.ModTime().String() + string(data)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return state
}

func sameRoot(t *testing.T, r *sample.Root, before map[string]string) {
	t.Helper()
	after := wholeRoot(t, r)
	for p, v := range before {
		if after[p] != v {
			t.Fatalf("%s changed or vanished", p)
		}
	}
	for p := range after {
		if _, ok := before[p]; !ok {
			t.Fatalf("%s appeared", p)
		}
	}
}

func wantRefused(t *testing.T, err error, reason string, mention ...string) {
	t.Helper()
	var re *restore.RefusedError
	if !errors.As(err, &re) || !errors.Is(err, restore.ErrRefused) || re.Reason != reason {
		t.Fatalf("err = %v, want a refusal for %s", err, reason)
	}
	for _, m := range mention {
		if !strings.Contains(err.Error(), m) {
			t.Fatalf("refusal %q does not mention %q", err, m)
		}
	}
	if strings.Contains(err.Error(), "--") {
		t.Fatalf("library refusal %q names a CLI flag", err)
	}
}

// A Chroma path set one level too high (the root itself, data/, the
// backup directory) is refused before anything is touched: clearing
// "its contents" would delete the database, the registry and every snapshot.
func TestRestoreRefusesAChromaPathOverOtherLivePaths(t *testing.T) {
	r := testutil.Root(t)
	snap := testutil.Create(t, r, backup.CreateOptions{IncludeChroma: true})
	outside := t.TempDir()
	for name, chroma := range map[string]string{
		"root":              r.Dir,
		"data (holds db/)":  filepath.Dir(filepath.Dir(r.DBPath)),
		"the backup dir":    r.BackupDir,
		"inside backups":    filepath.Join(r.BackupDir, "snapshots"),
		"the database":      r.DBPath,
		"link to the root":  mkLink(t, r.Dir, filepath.Join(outside, "root-link")),
		"not a Chroma dir":  filepath.Dir(r.RegistryPath),
		"a file, not a dir": r.RegistryPath,
	} {
		t.Run(name, func(t *testing.T) {
			before := wholeRoot(t, r)
			cfg := testutil.Config(r)
			cfg.ChromaPath = chroma
			_, err := restore.Run(context.Background(), cfg, snap.Stamp, confirmed)
			wantRefused(t, err, restore.ReasonUnsafeLayout, chroma)
			sameRoot(t, r, before)
		})
	}
	// The same paths are fine when Chroma is not restored.
	cfg := testutil.Config(r)
	cfg.ChromaPath = r.Dir
	if _, err := restore.Run(context.Background(), cfg, snap.Stamp, restore.Options{ConfirmServiceStopped: true, Chroma: restore.ChromaSkip}); err != nil {
		t.Fatalf("restore without Chroma: %v", err)
	}
}

func mkLink(t *testing.T, target, link string) string {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	return link
}

// An empty or absent Chroma path is fine: a fresh machine.
func TestRestoreIntoAnEmptyChromaPath(t *testing.T) {
	r := testutil.Root(t)
	snap := testutil.Create(t, r, backup.CreateOptions{IncludeChroma: true})
	for _, chroma := range []string{filepath.Join(t.TempDir(), "absent"), t.TempDir()} {
		cfg := testutil.Config(r)
		cfg.ChromaPath = chroma
		res, err := restore.Run(context.Background(), cfg, snap.Stamp, confirmed)
		if err != nil || !res.ChromaRestored {
			t.Fatalf("restore into %s: %v %+v", chroma, err, res)
		}
	}
}

// A filesystem mounted inside the live Chroma directory is refused: the
// restore would empty it, then fail halfway on the rename across devices.
func TestRestoreRefusesAMountInsideChroma(t *testing.T) {
	r := testutil.Root(t)
	snap := testutil.Create(t, r, backup.CreateOptions{IncludeChroma: true})
	mnt := filepath.Join(r.ChromaPath, "mounted-volume")
	if err := os.Mkdir(mnt, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", mnt, "tmpfs", 0, "size=1m"); err != nil {
		if os.Geteuid() == 0 && os.Getenv("CI") != "" {
			t.Fatalf("mount a tmpfs inside the Chroma directory (CI runs as root): %v", err)
		}
		t.Skipf("cannot mount a tmpfs here (needs root or CAP_SYS_ADMIN): %v", err)
	}
	t.Cleanup(func() { _ = syscall.Unmount(mnt, syscall.MNT_DETACH) })
	if err := os.WriteFile(filepath.Join(mnt, "precious"), []byte("not Chroma's"), 0o600); err != nil {
		t.Fatal(err)
	}
	before := wholeRoot(t, r)
	_, err := restore.Run(context.Background(), testutil.Config(r), snap.Stamp, confirmed)
	wantRefused(t, err, restore.ReasonUnsafeLayout, mnt, "mounted")
	sameRoot(t, r, before)
}

// holdDB starts python3 with an idle connection to db and returns its PID;
// the connection stays open until the test ends.
func holdDB(t *testing.T, db string) int {
	t.Helper()
	script := "import sqlite3, sys\nc = sqlite3.connect(sys.argv[1])\nc.execute('SELECT count(*) FROM sqlite_schema').fetchone()\nprint('ready', flush=True)\nsys.stdin.read()\n"
	cmd := exec.Command("python3", "-c", script, db)
	stdin, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatalf("python3: %v", err)
	}
	t.Cleanup(func() { stdin.Close(); _ = cmd.Wait() })
	ready := make(chan string, 1)
	go func() { l, _ := bufio.NewReader(out).ReadString('\n'); ready <- l }()
	select {
	case l := <-ready:
		if strings.TrimSpace(l) != "ready" {
			t.Fatalf("holder: %q", l)
		}
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("holder did not start")
	}
	return cmd.Process.Pid
}

// A service that still holds an idle connection would write its later
// commits into the replaced file, where they vanish: restore refuses and
// names the process. The drill refuses the same way, before its marker.
func TestRestoreRefusesWhileTheServiceHoldsTheDatabase(t *testing.T) {
	r := testutil.Root(t)
	snap := testutil.Create(t, r, backup.CreateOptions{IncludeChroma: true})
	for _, file := range []string{r.DBPath, filepath.Join(r.ChromaPath, "chroma.sqlite3")} {
		t.Run(filepath.Base(file), func(t *testing.T) {
			pid := holdDB(t, file)
			before := wholeRoot(t, r)
			_, err := restore.Run(context.Background(), testutil.Config(r), snap.Stamp, confirmed)
			wantRefused(t, err, restore.ReasonServiceRunning, "pid "+strconv.Itoa(pid), "python3", file)
			sameRoot(t, r, before)
			_, err = restore.Drill(context.Background(), testutil.Config(r), restore.DrillOptions{ConfirmServiceStopped: true})
			wantRefused(t, err, restore.ReasonServiceRunning, "pid "+strconv.Itoa(pid))
			sameRoot(t, r, before)
		})
	}
}

// A live database or registry path naming a device or a FIFO is refused: a
// restore renames its staged file over the live path, and /dev/zero must
// not be replaced.
func TestRestoreRefusesALivePathThatIsNotAFile(t *testing.T) {
	r := testutil.Root(t)
	snap := testutil.Create(t, r, backup.CreateOptions{})
	fifo := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for name, set := range map[string]func(*backup.Config){
		"database /dev/null": func(c *backup.Config) { c.DBPath = "/dev/null" },
		"database FIFO":      func(c *backup.Config) { c.DBPath = fifo },
		"registry /dev/null": func(c *backup.Config) { c.RegistryPath = "/dev/null" },
	} {
		t.Run(name, func(t *testing.T) {
			cfg := testutil.Config(r)
			set(&cfg)
			before := wholeRoot(t, r)
			_, err := restore.Run(context.Background(), cfg, snap.Stamp, restore.Options{ConfirmServiceStopped: true, NoPreSnapshot: true})
			wantRefused(t, err, restore.ReasonUnsafeLayout, "not a regular file")
			sameRoot(t, r, before)
			if fi, err := os.Stat("/dev/null"); err != nil || fi.Mode()&os.ModeCharDevice == 0 {
				t.Fatal("/dev/null is no longer a character device")
			}
		})
	}
}

// A FIFO planted as drills.jsonl makes `drills` fail at once, not hang.
func TestReadDrillLogRefusesAFIFO(t *testing.T) {
	dir := t.TempDir()
	if err := syscall.Mkfifo(filepath.Join(dir, restore.DrillLogFile), 0o600); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := restore.ReadDrillLog(backup.Config{Paths: backup.Paths{BackupDir: dir}})
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("a FIFO was read as the drill log")
		}
	case <-time.After(20 * time.Second):
		t.Fatal("ReadDrillLog hung on a FIFO")
	}
}
