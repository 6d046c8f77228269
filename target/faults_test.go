package target_test

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/atocore/atocore-backup/internal/durable"
	"github.com/atocore/atocore-backup/target"
	"github.com/atocore/atocore-backup/target/faultfs"
	"github.com/atocore/atocore-backup/target/sshdtest"
)

// randomStream is n pseudo-random bytes behind a reader with no length.
func randomStream(n int64) io.Reader {
	return struct{ io.Reader }{io.LimitReader(rand.NewChaCha8([32]byte{42}), n)}
}

// TestTargetNotWritable: the SFTP user is root, whom permissions do not
// stop, so "not writable" is made real in two ways that stop root too: a
// read-only SFTP subsystem (internal-sftp -R refuses every change) and a
// target path that is a regular file.
func TestTargetNotWritable(t *testing.T) {
	t.Run("read-only server", func(t *testing.T) {
		eachServer(t, sshdtest.Options{ReadOnly: true}, func(t *testing.T, srv *sshdtest.Server) {
			tgt, err := target.DialSFTP(t.Context(), sftpConfig(srv, srv.Dir)) // exists
			if err != nil {
				t.Fatal(err)
			}
			defer tgt.Close()
			name := filepath.Join(srv.Dir, "upload")
			_, err = target.WriteFileFrom(tgt.FS(), name, strings.NewReader("data"), 0o600)
			if !errors.Is(err, os.ErrPermission) {
				t.Errorf("upload to a read-only server: %v, want os.ErrPermission", err)
			}
			if _, err := os.Stat(name); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("file appeared on the server: %v", err)
			}
			if err := tgt.FS().Mkdir(filepath.Join(srv.Dir, "d"), 0o700); !errors.Is(err, os.ErrPermission) {
				t.Errorf("mkdir on a read-only server: %v", err)
			}
			// A missing target directory cannot be created there.
			_, err = target.DialSFTP(t.Context(), sftpConfig(srv, filepath.Join(srv.Dir, "new")))
			if !errors.Is(err, os.ErrPermission) || !strings.Contains(err.Error(), "create") {
				t.Errorf("DialSFTP with a path to create on a read-only server: %v", err)
			}
		})
	})
	t.Run("path is a file", func(t *testing.T) {
		eachServer(t, sshdtest.Options{}, func(t *testing.T, srv *sshdtest.Server) {
			file := filepath.Join(srv.Dir, "file")
			if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := target.DialSFTP(t.Context(), sftpConfig(srv, file))
			if err == nil || !strings.Contains(err.Error(), "is not a directory") {
				t.Errorf("Path is a file: %v", err)
			}
			_, err = target.DialSFTP(t.Context(), sftpConfig(srv, filepath.Join(file, "sub")))
			if err == nil {
				t.Error("Path under a file: DialSFTP succeeded")
			}
		})
	})
	t.Run("local path is a file", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "file")
		os.WriteFile(file, nil, 0o600)
		if _, err := target.Local(file); err == nil || !strings.Contains(err.Error(), "not a directory") {
			t.Errorf("Local(file): %v", err)
		}
	})
}

// TestDiskFull: a target that runs out of space mid-upload reports ENOSPC,
// and leaves no partial file behind.
func TestDiskFull(t *testing.T) {
	targets := map[string]func(t *testing.T) target.Target{
		"memory": func(t *testing.T) target.Target { return target.Memory() },
		"local": func(t *testing.T) target.Target {
			tgt, err := target.Local(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			return tgt
		},
		"sftp": func(t *testing.T) target.Target {
			srv := sshdtest.StartInProcess(t)
			tgt, err := target.DialSFTP(t.Context(), sftpConfig(srv, srv.Dir))
			if err != nil {
				t.Fatal(err)
			}
			return tgt
		},
	}
	for name, open := range targets {
		t.Run(name, func(t *testing.T) {
			tgt := open(t)
			defer tgt.Close()
			fsys := faultfs.New(tgt.FS(), faultfs.Options{FailWriteAfterBytes: 1 << 20, Err: syscall.ENOSPC})
			up := filepath.Join(tgt.Root(), "upload")
			n, err := target.WriteFileFrom(fsys, up, randomStream(4<<20), 0o600)
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("WriteFileFrom: %d bytes, %v; want ENOSPC", n, err)
			}
			if _, err := tgt.FS().Stat(up); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("partial upload left behind: %v", err)
			}
			_, err = durable.CopyFile(t.Context(), fsys, filepath.Join(tgt.Root(), "copy"), randomStream(1<<20), 0o600)
			if !errors.Is(err, syscall.ENOSPC) {
				t.Errorf("durable.CopyFile: %v; want ENOSPC", err)
			}
			if fsys.Written() != 1<<20 {
				t.Errorf("Written = %d, want the budget", fsys.Written())
			}
		})
	}
}

func TestFaultFSFailOn(t *testing.T) {
	boom := errors.New("boom")
	fsys := faultfs.New(target.Memory().FS(), faultfs.Options{FailOn: func(op, name string) error {
		if op == "rename" {
			return boom
		}
		return nil
	}})
	if err := afWrite(fsys, "/a", "x"); err != nil {
		t.Fatal(err)
	}
	if err := fsys.Rename("/a", "/b"); !errors.Is(err, boom) {
		t.Fatalf("Rename: %v", err)
	}
}

func afWrite(fsys *faultfs.Fs, name, s string) error {
	f, err := fsys.Create(name)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(s); err != nil {
		return err
	}
	return f.Close()
}

// TestConnectionDropped: a proxy between the client and a real sshd cuts
// the connection, or stalls it, a few MiB into an upload. The upload must
// fail, within a bound, instead of hanging.
func TestConnectionDropped(t *testing.T) {
	for name, fault := range map[string]sshdtest.Fault{"cut": sshdtest.Cut, "stall": sshdtest.Stall} {
		t.Run(name, func(t *testing.T) {
			srv := sshdtest.Start(t)
			proxy := sshdtest.NewProxy(t, srv.Addr, 4<<20, fault)
			cfg := sftpConfig(srv, filepath.Join(srv.Dir, "offsite"))
			cfg.Addr = proxy.Addr
			// known_hosts names the server's address; the proxy has another port.
			cfg.KnownHostsFile = writeKnownHosts(t, strings.Replace(readFile(t, srv.KnownHostsFile), srv.Addr[len("127.0.0.1:"):], proxy.Addr[len("127.0.0.1:"):], 1))
			cfg.Timeout = 2 * time.Second
			cfg.KeepAlive = 500 * time.Millisecond
			tgt, err := target.DialSFTP(t.Context(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			start := time.Now()
			go func() {
				_, err := target.WriteFileFrom(tgt.FS(), filepath.Join(cfg.Path, "big"), randomStream(64<<20), 0o600)
				done <- err
			}()
			select {
			case err := <-done:
				if err == nil {
					t.Fatal("upload through a dropped connection succeeded")
				}
				t.Logf("failed after %v: %v", time.Since(start).Round(time.Millisecond), err)
			case <-time.After(20 * time.Second):
				t.Fatal("upload hangs on a dropped connection")
			}
			if proxy.Faults() == 0 {
				t.Error("the proxy never applied its fault")
			}
			closed := make(chan struct{})
			go func() { tgt.Close(); close(closed) }()
			select {
			case <-closed:
			case <-time.After(5 * time.Second):
				t.Fatal("Close hangs after a dropped connection")
			}
		})
	}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(bytes.TrimSpace(b))
}

// TestHandshakeTimeout: a server that accepts and never speaks.
func TestHandshakeTimeout(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	srv := sshdtest.StartInProcess(t) // for its keys and known_hosts
	cfg := sftpConfig(srv, "/x")
	cfg.Addr = l.Addr().String()
	cfg.Timeout = 300 * time.Millisecond
	start := time.Now()
	if _, err := target.DialSFTP(t.Context(), cfg); err == nil {
		t.Fatal("DialSFTP to a silent server succeeded")
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("took %v with a 300ms timeout", d)
	}
	ctx, cancel := contextWithTimeout(t, 300*time.Millisecond)
	defer cancel()
	cfg.Timeout = time.Minute
	start = time.Now()
	if _, err := target.DialSFTP(ctx, cfg); err == nil {
		t.Fatal("DialSFTP succeeded")
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("cancelled context honoured only after %v", d)
	}
}
