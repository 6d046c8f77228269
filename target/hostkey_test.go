package target_test

import (
	"crypto/ed25519"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/atocore/atocore-backup/target"
	"github.com/atocore/atocore-backup/target/sshdtest"
)

// eachServer runs fn against the in-process server and a real sshd.
func eachServer(t *testing.T, o sshdtest.Options, fn func(t *testing.T, srv *sshdtest.Server)) {
	t.Run("inprocess", func(t *testing.T) { fn(t, sshdtest.StartInProcessWith(t, o)) })
	t.Run("openssh", func(t *testing.T) { fn(t, sshdtest.StartWith(t, o)) })
}

func otherKey(t *testing.T) ssh.PublicKey {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	k, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func writeKnownHosts(t *testing.T, lines ...string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(p, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// refused checks a host key refusal: the sentinel, a one-line message
// naming the host, the file and the fix, no authentication attempted and
// nothing created on the server.
func refused(t *testing.T, srv *sshdtest.Server, cfg target.SFTPConfig, sentinel error, words ...string) {
	t.Helper()
	tgt, err := target.DialSFTP(t.Context(), cfg)
	if err == nil {
		tgt.Close()
		t.Fatal("DialSFTP succeeded")
	}
	var he *target.HostKeyError
	if !errors.Is(err, sentinel) || !errors.As(err, &he) {
		t.Fatalf("err = %v, want %v", err, sentinel)
	}
	msg := err.Error()
	for _, w := range append(words, srv.Addr, cfg.KnownHostsFile, fmt.Sprintf("ssh-keyscan -p %d %s >> %s", srv.Port, srv.Host, cfg.KnownHostsFile)) {
		if !strings.Contains(msg, w) {
			t.Errorf("message lacks %q: %s", w, msg)
		}
	}
	if strings.Contains(msg, "\n") {
		t.Errorf("message is not one line: %q", msg)
	}
	if n, ok := srv.AuthAttempts(); ok && n != 0 {
		t.Errorf("client offered %d keys to an unverified server", n)
	}
	if _, err := os.Stat(cfg.Path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("target directory created on an unverified server: %v", err)
	}
}

func TestHostKeyMismatch(t *testing.T) {
	eachServer(t, sshdtest.Options{}, func(t *testing.T, srv *sshdtest.Server) {
		cfg := sftpConfig(srv, filepath.Join(srv.Dir, "offsite"))
		cfg.KnownHostsFile = writeKnownHosts(t, knownhosts.Line([]string{knownhosts.Normalize(srv.Addr)}, otherKey(t)))
		refused(t, srv, cfg, target.ErrHostKeyMismatch, "host key mismatch", ssh.FingerprintSHA256(srv.HostKey), "ssh-keygen -R")
	})
}

func TestUnknownHost(t *testing.T) {
	eachServer(t, sshdtest.Options{}, func(t *testing.T, srv *sshdtest.Server) {
		cfg := sftpConfig(srv, filepath.Join(srv.Dir, "offsite"))
		// Same key, other port: a different host for known_hosts.
		cfg.KnownHostsFile = writeKnownHosts(t, knownhosts.Line([]string{knownhosts.Normalize("127.0.0.1:1")}, srv.HostKey))
		refused(t, srv, cfg, target.ErrUnknownHost, "not in known_hosts", ssh.FingerprintSHA256(srv.HostKey))
	})
}

func TestRevokedHostKey(t *testing.T) {
	srv := sshdtest.StartInProcess(t)
	cfg := sftpConfig(srv, filepath.Join(srv.Dir, "offsite"))
	cfg.KnownHostsFile = writeKnownHosts(t,
		"@revoked * "+strings.TrimSpace(string(ssh.MarshalAuthorizedKey(srv.HostKey))),
		knownhosts.Line([]string{knownhosts.Normalize(srv.Addr)}, srv.HostKey))
	_, err := target.DialSFTP(t.Context(), cfg)
	if !errors.Is(err, target.ErrHostKeyMismatch) || !strings.Contains(err.Error(), "@revoked") {
		t.Fatalf("err = %v", err)
	}
}

// TestHashedKnownHosts: entries written by `ssh-keyscan -H` / HashKnownHosts.
func TestHashedKnownHosts(t *testing.T) {
	srv := sshdtest.StartInProcess(t)
	cfg := sftpConfig(srv, filepath.Join(srv.Dir, "offsite"))
	cfg.KnownHostsFile = writeKnownHosts(t, knownhosts.Line([]string{knownhosts.HashHostname(knownhosts.Normalize(srv.Addr))}, srv.HostKey))
	tgt, err := target.DialSFTP(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	tgt.Close()
}

// TestOnlyKnownKeyTypes: a server with ed25519 and ECDSA host keys, and a
// known_hosts listing only ed25519. Left to its defaults, the client would
// negotiate ECDSA and report a spurious mismatch.
func TestOnlyKnownKeyTypes(t *testing.T) {
	eachServer(t, sshdtest.Options{ECDSAHostKey: true}, func(t *testing.T, srv *sshdtest.Server) {
		tgt, err := target.DialSFTP(t.Context(), sftpConfig(srv, filepath.Join(srv.Dir, "offsite")))
		if err != nil {
			t.Fatal(err)
		}
		tgt.Close()
	})
}

func TestKnownHostsRequired(t *testing.T) {
	srv := sshdtest.StartInProcess(t)
	for name, file := range map[string]string{
		"unset":   "",
		"missing": filepath.Join(t.TempDir(), "no_such_known_hosts"),
	} {
		t.Run(name, func(t *testing.T) {
			cfg := sftpConfig(srv, filepath.Join(srv.Dir, "offsite"))
			cfg.KnownHostsFile = file
			want := file
			if file == "" { // the default, in a home that has none
				want = filepath.Join(cfg.Home, ".ssh", "known_hosts")
			}
			_, err := target.DialSFTP(t.Context(), cfg)
			if err == nil || !strings.Contains(err.Error(), "--known-hosts") || !strings.Contains(err.Error(), want) {
				t.Fatalf("err = %v; want a message naming --known-hosts and %q", err, want)
			}
			if n, _ := srv.AuthAttempts(); n != 0 {
				t.Errorf("%d keys offered", n)
			}
			_, err = target.Open(t.Context(), srv.URL(cfg.Path), target.Options{KnownHostsFile: file, KeyFile: srv.KeyFile, SSHConfigFile: target.NoSSHConfig, Home: cfg.Home})
			if err == nil || !strings.Contains(err.Error(), "--known-hosts") {
				t.Fatalf("Open: err = %v", err)
			}
		})
	}
}

func TestOpenSFTP(t *testing.T) {
	srv := sshdtest.StartInProcess(t)
	dir := filepath.Join(srv.Dir, "offsite")
	tgt, err := target.Open(t.Context(), srv.URL(dir), target.Options{KnownHostsFile: srv.KnownHostsFile, KeyFile: srv.KeyFile, SSHConfigFile: target.NoSSHConfig, Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer tgt.Close()
	if want := fmt.Sprintf("sftp://%s@127.0.0.1:%d%s", srv.User, srv.Port, dir); tgt.URL() != want || tgt.Root() != dir {
		t.Errorf("URL %q root %q; want %q", tgt.URL(), tgt.Root(), want)
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("target directory: %v %v; want created 0700", fi, err)
	}
}

func TestAuthFailures(t *testing.T) {
	srv := sshdtest.StartInProcess(t)
	dir := t.TempDir()
	_, priv, _ := ed25519.GenerateKey(nil)
	block, _ := ssh.MarshalPrivateKey(priv, "")
	stranger := filepath.Join(dir, "stranger")
	os.WriteFile(stranger, pem.EncodeToMemory(block), 0o600)
	block, _ = ssh.MarshalPrivateKeyWithPassphrase(priv, "", []byte("pw"))
	encrypted := filepath.Join(dir, "encrypted")
	os.WriteFile(encrypted, pem.EncodeToMemory(block), 0o600)

	for _, tc := range []struct {
		name string
		edit func(*target.SFTPConfig)
		want string
	}{
		{"unauthorized key", func(c *target.SFTPConfig) { c.KeyFile = stranger }, "authentication failed with key file " + stranger},
		{"encrypted key", func(c *target.SFTPConfig) { c.KeyFile = encrypted }, "is encrypted"},
		{"missing key", func(c *target.SFTPConfig) { c.KeyFile = filepath.Join(dir, "nope") }, "read key file"},
		{"no identity", func(c *target.SFTPConfig) { c.KeyFile = "" }, "no identity"},
		{"agent without socket", func(c *target.SFTPConfig) { c.KeyFile = ""; c.UseAgent = true; t.Setenv("SSH_AUTH_SOCK", "") }, "SSH_AUTH_SOCK"},
		{"relative path", func(c *target.SFTPConfig) { c.Path = "offsite" }, "must be absolute"},
		{"no address", func(c *target.SFTPConfig) { c.Addr = "" }, "no server address"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := sftpConfig(srv, filepath.Join(srv.Dir, "offsite"))
			tc.edit(&cfg)
			_, err := target.DialSFTP(t.Context(), cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}
