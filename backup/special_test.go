package backup_test

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/atocore/atocore-backup/backup"
	"github.com/atocore/atocore-backup/internal/sample"
	"github.com/atocore/atocore-backup/internal/snapshot"
	"github.com/atocore/atocore-backup/internal/testutil"
)

// makeSpecial replaces p with a file of the given kind that is not a
// regular file: a FIFO, a unix socket or a character device that reads
// as endless zeros (like /dev/zero).
func makeSpecial(t *testing.T, kind, p string) {
	t.Helper()
	if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	switch kind {
	case "fifo":
		if err := syscall.Mkfifo(p, 0o600); err != nil {
			t.Fatal(err)
		}
	case "device":
		if err := unix.Mknod(p, unix.S_IFCHR|0o600, int(unix.Mkdev(1, 5))); err != nil {
			t.Fatalf("mknod %s (the tests run as root): %v", p, err)
		}
	case "socket":
		// A socket's path is limited to about 100 bytes: bind it under a
		// short name and hardlink the socket inode into place.
		short, err := os.MkdirTemp("", "sk")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(short) })
		l, err := net.Listen("unix", filepath.Join(short, "s"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		if err := os.Link(filepath.Join(short, "s"), p); err != nil {
			t.Fatal(err)
		}
	default:
		t.Fatalf("unknown kind %q", kind)
	}
}

// createBounded runs Create and fails the test if it does not return
// within the bound: the defects this guards against read forever.
func createBounded(t *testing.T, cfg backup.Config, opts backup.CreateOptions, bound time.Duration) (*backup.Metadata, error, time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	defer cancel()
	type result struct {
		m   *backup.Metadata
		err error
	}
	done := make(chan result, 1)
	start := time.Now()
	go func() {
		m, err := backup.Create(ctx, cfg, opts)
		done <- result{m, err}
	}()
	select {
	case res := <-done:
		return res.m, res.err, time.Since(start)
	case <-time.After(bound + 5*time.Second):
		t.Fatalf("create did not return within %v (it ignores its context)", bound+5*time.Second)
		return nil, nil, 0
	}
}

// assertNothingLeft checks that the backup directory holds at most its lock.
func assertNothingLeft(t *testing.T, backupDir string) {
	t.Helper()
	entries, _ := os.ReadDir(backupDir)
	for _, e := range entries {
		if e.Name() != snapshot.LockFile {
			t.Errorf("refused create left %s in the backup directory", e.Name())
		}
	}
}

// Live files that are not regular files (devices, FIFOs, sockets) are
// refused before they are read: /dev/zero as the registry used to grow
// create's memory until the OOM killer came, /dev/zero as the database
// filled the backup disk, a FIFO blocked forever.
func TestCreateRefusesFilesThatAreNotRegular(t *testing.T) {
	segment := func(r *sample.Root) string {
		seg, _ := filepath.Glob(filepath.Join(r.ChromaPath, "*", "data_level0.bin"))
		if len(seg) == 0 {
			panic("sample Chroma directory has no segment")
		}
		return filepath.Join(filepath.Dir(seg[0]), "extra.bin")
	}
	cases := []struct {
		name   string
		chroma bool
		// setup makes the hostile file and returns its path.
		setup func(t *testing.T, r *sample.Root, cfg *backup.Config) string
	}{
		{"registry is /dev/zero", false, func(t *testing.T, r *sample.Root, cfg *backup.Config) string {
			cfg.RegistryPath = "/dev/zero"
			return "/dev/zero"
		}},
		{"registry is a FIFO", false, func(t *testing.T, r *sample.Root, cfg *backup.Config) string {
			makeSpecial(t, "fifo", r.RegistryPath)
			return r.RegistryPath
		}},
		{"registry is a socket", false, func(t *testing.T, r *sample.Root, cfg *backup.Config) string {
			makeSpecial(t, "socket", r.RegistryPath)
			return r.RegistryPath
		}},
		{"registry is a device", false, func(t *testing.T, r *sample.Root, cfg *backup.Config) string {
			makeSpecial(t, "device", r.RegistryPath)
			return r.RegistryPath
		}},
		{"database is /dev/zero", false, func(t *testing.T, r *sample.Root, cfg *backup.Config) string {
			cfg.DBPath = "/dev/zero"
			return "/dev/zero"
		}},
		{"database is a FIFO", false, func(t *testing.T, r *sample.Root, cfg *backup.Config) string {
			p := filepath.Join(r.Dir, "fifo.db")
			makeSpecial(t, "fifo", p)
			cfg.DBPath = p
			return p
		}},
		{"database is a link to a FIFO", false, func(t *testing.T, r *sample.Root, cfg *backup.Config) string {
			p := filepath.Join(r.Dir, "fifo.db")
			makeSpecial(t, "fifo", p)
			link := filepath.Join(r.Dir, "link.db")
			if err := os.Symlink(p, link); err != nil {
				t.Fatal(err)
			}
			cfg.DBPath = link
			return link
		}},
		{"Chroma holds a FIFO", true, func(t *testing.T, r *sample.Root, cfg *backup.Config) string {
			p := segment(r)
			makeSpecial(t, "fifo", p)
			return p
		}},
		{"Chroma holds a device", true, func(t *testing.T, r *sample.Root, cfg *backup.Config) string {
			p := segment(r)
			makeSpecial(t, "device", p)
			return p
		}},
		{"Chroma holds a socket", true, func(t *testing.T, r *sample.Root, cfg *backup.Config) string {
			p := segment(r)
			makeSpecial(t, "socket", p)
			return p
		}},
		{"chroma.sqlite3 is a FIFO", true, func(t *testing.T, r *sample.Root, cfg *backup.Config) string {
			p := filepath.Join(r.ChromaPath, snapshot.ChromaDBName)
			for _, s := range []string{"-wal", "-shm", "-journal"} {
				_ = os.Remove(p + s)
			}
			makeSpecial(t, "fifo", p)
			return p
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := testutil.Root(t)
			cfg := testutil.Config(r)
			want := c.setup(t, r, &cfg)
			_, err, took := createBounded(t, cfg, backup.CreateOptions{IncludeChroma: c.chroma}, 10*time.Second)
			if !errors.Is(err, backup.ErrNotRegular) {
				t.Fatalf("err = %v (after %v), want ErrNotRegular", err, took)
			}
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not name %s", err, want)
			}
			if took > 5*time.Second {
				t.Errorf("refusing took %v", took)
			}
			assertNothingLeft(t, r.BackupDir)
		})
	}
}

// A registry larger than the cap is refused with its size and the cap.
func TestCreateRefusesAnOversizedRegistry(t *testing.T) {
	r := testutil.Root(t)
	size := int64(backup.MaxRegistrySize + 1)
	if err := os.Truncate(r.RegistryPath, size); err != nil {
		t.Fatal(err)
	}
	_, err, _ := createBounded(t, testutil.Config(r), backup.CreateOptions{}, 10*time.Second)
	if !errors.Is(err, backup.ErrRegistryTooLarge) {
		t.Fatalf("err = %v, want ErrRegistryTooLarge", err)
	}
	for _, s := range []string{r.RegistryPath, strconv.FormatInt(size, 10), strconv.Itoa(backup.MaxRegistrySize)} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not name %s", err, s)
		}
	}
	assertNothingLeft(t, r.BackupDir)

	// At the cap it is copied (and judged by validation, not refused).
	if err := os.Truncate(r.RegistryPath, backup.MaxRegistrySize); err != nil {
		t.Fatal(err)
	}
	_, err, _ = createBounded(t, testutil.Config(r), backup.CreateOptions{}, 20*time.Second)
	if errors.Is(err, backup.ErrRegistryTooLarge) || err == nil {
		t.Fatalf("registry at the cap: err = %v, want a validation failure (it is not JSON)", err)
	}
}

// Cancelling a create stops the copy of a large Chroma file promptly.
func TestCancelStopsALargeChromaRead(t *testing.T) {
	r := testutil.Root(t)
	big := filepath.Join(r.ChromaPath, "big.bin")
	const size = 4 << 30 // sparse: costs no disk to make, seconds to copy
	f, err := os.Create(big)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	f.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := backup.Create(ctx, testutil.Config(r), backup.CreateOptions{IncludeChroma: true})
		done <- err
	}()
	// Cancel once the big file is being written into the staging directory.
	deadline := time.Now().Add(20 * time.Second)
	for {
		staged, _ := filepath.Glob(filepath.Join(r.BackupDir, snapshot.StagingPrefix+"*", snapshot.ChromaDir, "big.bin"))
		if len(staged) > 0 {
			if fi, err := os.Stat(staged[0]); err == nil && fi.Size() > 0 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("the big Chroma file was never being copied")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancelled := time.Now()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("create did not return after cancel")
	}
	if took := time.Since(cancelled); took > time.Second {
		t.Fatalf("create returned %v after cancel", took)
	}
	assertNothingLeft(t, r.BackupDir)
}
