package sshdtest

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// StartRclone runs Debian's `rclone serve sftp` for the test: a second
// real SFTP server beside OpenSSH, built on github.com/pkg/sftp's request
// server over rclone's VFS. It listens on a free 127.0.0.1 port with the
// throwaway ed25519 host key (--key, pinned in KnownHostsFile) and accepts
// the throwaway user key (--authorized-keys). It serves the parent of Dir
// as its root: RemoteDir is "/remote". Writes go through rclone's VFS
// cache (--vfs-cache-mode writes): without it rclone refuses any write
// that is not sequential, which SFTP clients with requests in flight
// make (and a read after a seek on a read-write handle is then never
// answered, with either cache mode). --vfs-write-back 0s uploads a file
// into Dir when it is closed: a read right after the write then sees it.
//
// rclone 1.60 advertises hardlink@openssh.com, answers success to it and
// creates nothing: the server to test that links are checked.
//
// It is stopped (SIGTERM, then SIGKILL) when the test ends. When rclone is
// missing or does not come up the test is skipped, or fails when
// ATOCORE_REQUIRE_SSHD=1.
func StartRclone(t testing.TB) *Server {
	t.Helper()
	bin, err := exec.LookPath("rclone")
	if err != nil {
		unavailable(t, "rclone not found (install it: apt-get install -y rclone)")
	}
	dir := t.TempDir()
	k := newKeys(t, dir)
	hostKey := filepath.Join(dir, "rclone_host_ed25519_key")
	if err := os.WriteFile(hostKey, k.hostPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	// An empty configuration of its own: nothing of the user's is read.
	conf := filepath.Join(dir, "rclone.conf")
	if err := os.WriteFile(conf, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	var lastErr string
	for range 3 { // a free port can be taken between probe and bind: retry
		addr, err := freePort()
		if err != nil {
			t.Fatal(err)
		}
		s := k.server(t, dir, addr, false)
		s.Rclone = true
		s.RemoteDir = "/" + filepath.Base(s.Dir)
		args := []string{"serve", "sftp", filepath.Dir(s.Dir),
			"--config", conf,
			"--addr", addr,
			"--key", hostKey,
			"--authorized-keys", k.authorized,
			"--cache-dir", filepath.Join(dir, "rclone-cache"),
			"--vfs-cache-mode", "writes",
			"--vfs-write-back", "0s",
			// Tests look at Dir directly: no stale listings.
			"--dir-cache-time", "0s",
			"--log-level", "INFO",
		}
		if lastErr = runRclone(t, bin, args, addr); lastErr == "" {
			return s
		}
	}
	unavailable(t, lastErr)
	return nil
}

// runRclone starts rclone and waits until it accepts connections; "" on
// success, else why it failed.
func runRclone(t testing.TB, bin string, args []string, addr string) string {
	t.Helper()
	return startServer(t, "rclone", bin, args, addr)
}
